"""The pipeline end to end on the FnApiRunner, over the bundled sample corpus (every filter, every bad input)."""
import glob
import hashlib
import io
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from tuwen.pipeline.run import main, run
from tuwen.pipeline.sample import generate

SHARD_SIZE = 20


def inputs(sample_dir):
    return [f"--input={sample_dir}/*.jsonl", f"--input={sample_dir}/*.parquet", f"--input={sample_dir}/*.tar"]


def run_on(sample_dir, out, *extra):
    return run(inputs(sample_dir) + [f"--output={out}", "--runner=FnApiRunner", "--progress-seconds=0", *extra])


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("sample")
    expected = generate(str(d))
    return d, expected


@pytest.fixture(scope="module")
def result(sample, tmp_path_factory):
    d, _ = sample
    out = tmp_path_factory.mktemp("run") / "out"
    stats = run_on(d, out, f"--shard-size={SHARD_SIZE}", "--keep-columns=url")
    return out, stats


def read_index(out):
    return pq.read_table(sorted(glob.glob(f"{out}/index/*.parquet"))).to_pylist()


def read_rejects(out):
    files = glob.glob(f"{out}/rejects/*.parquet")
    return pq.read_table(files).to_pylist() if files else []


def shard_bytes(out):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(f"{out}/shards/*"))}


def test_every_pair_is_kept_or_rejected_and_the_counts_add_up(result, sample):
    out, stats = result
    index, rejects = read_index(out), read_rejects(out)
    assert stats["read"] == stats["kept"] + stats["rejected"]
    assert stats["kept"] == len(index) and stats["rejected"] == len(rejects)
    # every non-blank manifest row, every parquet row and every tar sample was read
    d, _ = sample
    lines = [l for l in open(d / "pairs.jsonl", "rb").read().split(b"\n") if l.strip()]
    assert stats["read"] == len(lines) + pq.read_metadata(d / "inline.parquet").num_rows + 17
    assert sum(stats["rejected_by_reason"].values()) == stats["rejected"]
    assert sum(stats["rejected_by_stage"].values()) == stats["rejected"]
    assert os.path.exists(out / "_SUCCESS") and not os.path.exists(out / "_staging")


def test_each_special_pair_ends_where_it_should(result, sample):
    out, _ = result
    _, expected = sample
    kept_ids = {r["id"] for r in read_index(out)}
    rejects = read_rejects(out)
    reason_by_id = {r["id"]: r["reason"] for r in rejects}
    reason_by_row = {f"{r['source']}#{r['row']}": r["reason"] for r in rejects}
    for pair_id, want in expected["by_id"].items():
        got = "kept" if pair_id in kept_ids else reason_by_id.get(pair_id)
        assert got == want, pair_id
    for where, want in expected["by_row"].items():
        assert reason_by_row.get(where) == want, where
    assert all(r["stage"] in ("read", "text", "image", "dedup") and r["reason"] for r in rejects)


def test_shards_are_numbered_without_gaps_and_readable_with_webdataset(result):
    out, stats = result
    tars = sorted(glob.glob(f"{out}/shards/*.tar"))
    assert [os.path.basename(t) for t in tars] == [f"{i:06d}.tar" for i in range(len(tars))]
    sizes = json.load(open(out / "shards" / "sizes.json"))
    assert sizes == {os.path.basename(t): sizes[os.path.basename(t)] for t in tars}
    assert all(n == SHARD_SIZE for n in list(sizes.values())[:-1]) and 0 < list(sizes.values())[-1] <= SHARD_SIZE
    samples = list(wds.WebDataset(tars, shardshuffle=False))
    assert len(samples) == stats["kept"] == sum(sizes.values())
    keys = [s["__key__"] for s in samples]
    assert keys == sorted(keys)  # key order across shards: shard n holds ranks n*N .. (n+1)*N-1
    for s in samples:
        meta = json.loads(s["json"])
        assert {"id", "source", "width", "height", "orig_width", "orig_height", "sha256"} <= set(meta)
        assert hashlib.sha256(s["jpg"]).hexdigest() == meta["sha256"]
        im = Image.open(io.BytesIO(s["jpg"]))
        assert im.format == "JPEG" and im.mode == "RGB" and im.size == (meta["width"], meta["height"])
        assert s["__key__"] == hashlib.sha256(meta["id"].encode()).hexdigest()[:16]
        assert s["txt"].decode().strip()


def test_index_matches_the_shards(result):
    out, _ = result
    by_key = {}
    for t in sorted(glob.glob(f"{out}/shards/*.tar")):
        for s in wds.WebDataset(t, shardshuffle=False):
            by_key[s["__key__"]] = (os.path.basename(t), s)
    index = read_index(out)
    assert len(index) == len(by_key)
    for row in index:
        shard, s = by_key[row["key"]]
        meta = json.loads(s["json"])
        assert row["shard"] == shard and row["id"] == meta["id"] and row["sha256"] == meta["sha256"]
        assert row["text"] == s["txt"].decode()
        assert (row["width"], row["height"]) == (meta["width"], meta["height"])


def test_generated_captions_and_kept_columns_reach_the_shards(result):
    out, _ = result
    index = {r["id"]: r for r in read_index(out)}
    assert index["good-000"]["gen_text"] and index["good-001"]["gen_text"] is None
    assert index["good-005"]["url"] == "https://example.com/photo/5"
    samples = {json.loads(s["json"])["id"]: s for s in wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")),
                                                                         shardshuffle=False)}
    assert samples["good-000"]["gen.txt"].decode() == index["good-000"]["gen_text"]
    assert "gen.txt" not in samples["good-001"]
    assert json.loads(samples["good-005"]["json"])["url"] == "https://example.com/photo/5"


def test_cleaned_text_is_written(result):
    out, _ = result
    index = {r["id"]: r for r in read_index(out)}
    assert index["fullwidth"]["text"] == "ABC相机拍的照片，很清楚！"
    assert index["name_and_boilerplate"]["text"] == "<人名>在公园里散步。"
    # the one name of the sample is its only <人名> (not 在竹林里吃竹子, a scene of the generated captions)
    assert [i for i, r in index.items() if "<人名>" in r["text"]] == ["name_and_boilerplate"]
    assert index["sensitive_word"]["text"] == "街角有人在***。"
    assert index["personal_data"]["text"] == "车位出租，联系电话<电话>，加微信 <账号>。"
    assert not any("风景图片频道" in r["text"] for r in index.values())
    assert (index["exif_rotated"]["width"], index["exif_rotated"]["height"]) == (300, 500)


def test_mined_boilerplate_is_written_and_no_removed_original_reaches_the_output(result):
    out, _ = result
    lines = (out / "boilerplate_mined.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "fragment\tposition\tdoc_count"
    fragments = [l.split("\t") for l in lines[1:]]
    assert any("风景图片频道" in f[0] and f[1] == "suffix" and int(f[2]) >= 10 for f in fragments)
    blob = b"".join(open(p, "rb").read() for p in glob.glob(f"{out}/**/*", recursive=True) if os.path.isfile(p))
    for original in ("张伟", "毒品", "查看原网页", "13812345678", "room_2024"):
        assert original.encode() not in blob, original


def test_a_reviewed_boilerplate_list_is_reused_instead_of_mining(result, sample, tmp_path):
    out, _ = result
    d, _ = sample
    again = tmp_path / "reviewed"
    stats = run_on(d, again, f"--shard-size={SHARD_SIZE}", "--keep-columns=url",
                   f"--boilerplate-list={out / 'boilerplate_mined.tsv'}")
    assert "boilerplate_mined" not in stats
    assert shard_bytes(out) == shard_bytes(again)  # the same list strips the same captions the same way


def test_a_rerun_writes_byte_identical_shards_and_index(result, sample, tmp_path):
    out, _ = result
    d, _ = sample
    again = tmp_path / "again"
    run_on(d, again, f"--shard-size={SHARD_SIZE}", "--keep-columns=url")
    assert shard_bytes(out) == shard_bytes(again)
    for name in os.listdir(out / "index"):
        assert (out / "index" / name).read_bytes() == (again / "index" / name).read_bytes()


@pytest.mark.slow
def test_overwrite_over_a_larger_run_leaves_no_stale_shard(sample, tmp_path):
    d, _ = sample
    out = tmp_path / "out"
    run_on(d, out, "--shard-size=10", "--image-safety=")  # what the images show does not matter here
    many = set(os.listdir(out / "shards"))
    stats = run_on(d, out, "--shard-size=50", "--overwrite", "--image-safety=")
    few = set(os.listdir(out / "shards"))
    assert len(few) < len(many)
    assert few == {f"{i:06d}.tar" for i in range(stats["shards"])} | {"sizes.json"}
    assert len(os.listdir(out / "index")) == stats["shards"]
    assert sum(json.load(open(out / "shards" / "sizes.json")).values()) == stats["kept"]
    assert len(read_index(out)) == stats["kept"]


@pytest.mark.slow
def test_a_listing_that_fails_fails_the_run_rather_than_keeping_stale_shards(sample, tmp_path, monkeypatch, capsys):
    from apache_beam.io.filesystems import FileSystems

    d, _ = sample
    out = tmp_path / "out"
    run_on(d, out, "--shard-size=10", "--image-safety=")
    real = FileSystems.match

    def match(patterns, *args, **kwargs):  # the storage refuses to list the shards folder once, during Finalize
        if patterns[0].endswith("/shards/*"):
            raise OSError("listing refused")
        return real(patterns, *args, **kwargs)

    monkeypatch.setattr(FileSystems, "match", match)
    assert main(inputs(d) + [f"--output={out}", "--overwrite", "--shard-size=50", "--image-safety=",
                             "--runner=FnApiRunner", "--progress-seconds=0"]) == 1
    assert "listing refused" in capsys.readouterr().err
    assert not (out / "_SUCCESS").exists()


def test_non_empty_output_is_refused_without_overwrite(sample, tmp_path, capsys):
    d, _ = sample
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("x")
    assert main(inputs(d) + [f"--output={out}"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "precious.txt").exists()


def test_no_input_matched_exits_2_with_one_line(tmp_path, capsys):
    assert main([f"--input={tmp_path}/nothing/*.jsonl", f"--output={tmp_path}/out"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no input matched" in err[0]


def test_cloud_paths_without_their_filesystem_name_the_extra_to_install(sample, tmp_path, capsys):
    d, _ = sample
    for argv, extra in (([f"--input=gs://bucket/crawl/*.jsonl", f"--output={tmp_path}/o"], "tuwen[gcp]"),
                        ([f"--input={d}/*.jsonl", "--output=s3://bucket/out"], "tuwen[aws]"),
                        ([f"--input={d}/*.jsonl", f"--output={tmp_path}/o", "--dedup-index=gs://b/i"], "tuwen[gcp]")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and extra in err[0], err
    assert main([f"--input={d}/*.jsonl", f"--output={tmp_path}/o", "--dry_run=True"]) == 2
    assert "--runner=DataflowRunner" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_unknown_option_is_refused(sample, tmp_path, capsys):
    d, _ = sample
    assert main(inputs(d) + [f"--output={tmp_path}/o", "--min-sid=3"]) == 2
    assert "--min-sid" in capsys.readouterr().err


def test_a_run_that_rejects_everything_still_succeeds(sample, tmp_path):
    d, _ = sample
    out = tmp_path / "out"
    stats = run_on(d, out, "--min-side=5000")
    assert stats["kept"] == 0 and stats["rejected"] == stats["read"] > 0
    assert json.load(open(out / "shards" / "sizes.json")) == {}
    assert os.path.exists(out / "_SUCCESS")


def test_bad_inputs_in_a_fresh_manifest(tmp_path):
    """Each kind of bad input named by the issue, in one manifest: a clear reason each, no crash."""
    from tuwen.pipeline.sample import bomb_png, jpeg, picture
    import random

    rng = random.Random(3)
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "ok.jpg").write_bytes(jpeg(picture(rng, 300, 300)))
    (tmp_path / "img" / "bomb.png").write_bytes(bomb_png(30000, 30000))
    lines = [
        json.dumps({"id": "ok", "text": "正常的图片。", "image": "img/ok.jpg"}).encode(),
        json.dumps({"id": "big_text", "text": "字" * 1_000_000, "image": "img/ok.jpg"}).encode(),
        json.dumps({"id": "bomb", "text": "炸弹图片。", "image": "img/bomb.png"}).encode(),
        json.dumps({"id": "gone", "text": "不存在的图片。", "image": "img/gone.jpg"}).encode(),
        json.dumps({"id": "ok", "text": "同一个编号。", "image": "img/ok.jpg"}).encode(),
        b'{"id": "gbk", "text": "\xb9\xfa", "image": "img/ok.jpg"}',
        b"this is not json",
    ]
    (tmp_path / "m.jsonl").write_bytes(b"\n".join(lines))
    stats = run([f"--input={tmp_path}/m.jsonl", f"--output={tmp_path}/out", "--progress-seconds=0"])
    rejects = {(r["id"], r["reason"]) for r in read_rejects(tmp_path / "out")}
    assert rejects == {("big_text", "text_too_long"), ("bomb", "image_too_large"), ("gone", "image_missing"),
                       ("ok", "duplicate_id"), ("m.jsonl#5", "invalid_utf8"), ("m.jsonl#6", "malformed_line")}
    assert stats["read"] == 7 and stats["kept"] == 1


@pytest.mark.slow
def test_the_tuwen_command_prints_the_report(sample, tmp_path):
    d, _ = sample
    exe = os.path.join(os.path.dirname(sys.executable), "tuwen")
    proc = subprocess.run([exe, "run", *inputs(d), f"--output={tmp_path}/o"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "pairs read" in proc.stdout and "reject log:" in proc.stdout
    assert "apitools" not in proc.stderr
    assert "pairs checked" not in proc.stderr  # stderr is not a terminal: no progress unless asked
    asked = subprocess.run([exe, "run", f"--input={d}/*.jsonl", f"--output={tmp_path}/p", "--progress-seconds=0.01"],
                           capture_output=True, text=True, timeout=300)
    lines = [line for line in asked.stderr.splitlines() if "pairs checked" in line]
    expected = sum(1 for line in open(glob.glob(f"{d}/*.jsonl")[0], "rb") if line.strip())
    assert lines and f"pairs checked of {expected:,} (" in lines[0] and "pairs/s, about" in lines[0]
    assert lines[-1].startswith("tuwen: worker ") and " done: " in lines[-1]
    help_ = subprocess.run([exe, "run", "--help"], capture_output=True, text=True, timeout=60).stdout
    for option in ("--input", "--output", "--overwrite", "--min-side", "--max-aspect-ratio", "--jpeg-quality",
                   "--shard-size", "--max-text-chars", "--keep-columns", "FnApiRunner"):
        assert option in help_


def test_the_sample_pictures_pass_the_nsfw_check_which_ran_by_default(result):
    from tuwen.transforms.safety import DEFAULT_NSFW_THRESHOLD

    out, stats = result
    assert stats["image_safety"]["checks"] == ["nsfw"]
    assert "unsafe_image_nsfw" not in stats["rejected_by_reason"]
    scores = [r["nsfw"] for r in read_index(out)]
    assert len(scores) == stats["kept"] > 300 and max(scores) < DEFAULT_NSFW_THRESHOLD
