"""tuwen nightly: two nights over a growing crawl, changed inputs, the lock, and refreshes killed (SIGKILL) at several
points and rerun; tuwen run killed and rerun with --overwrite. Real runs on the FnApiRunner."""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tuwen.pipeline import nightly
from tuwen.pipeline.nightly import main

TUWEN = os.path.join(os.path.dirname(sys.executable), "tuwen")
FAST = ["--runner=FnApiRunner", "--progress-seconds=0", "--image-safety=", "--min-side=64"]
SUBJECTS = "小猫 小狗 帆船 高山 花朵 汽车 火车 桥梁 城市 海滩 森林 雪地 蛋糕 书本 风筝 灯塔".split()


def write_pairs(folder, name, numbers, seed_base=0):
    """A JSONL manifest of pairs numbered ``numbers``: pair i has its own noise picture and its own caption, so the
    same number written twice is the same pair (same text, same picture)."""
    os.makedirs(os.path.join(folder, "img"), exist_ok=True)
    lines = []
    for i in numbers:
        rng = np.random.default_rng(seed_base + i)
        img = os.path.join(folder, "img", f"{i}.png")
        if not os.path.exists(img):
            Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).resize((128, 128)).save(img)
        lines.append(json.dumps({"text": f"第{i}张照片：{SUBJECTS[i % len(SUBJECTS)]}和它的影子在一起",
                                 "image": f"img/{i}.png", "url": f"https://example.com/img/{i}.png"},
                                ensure_ascii=False))
    with open(os.path.join(folder, name), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def stats_of(run_dir):
    with open(os.path.join(run_dir, "stats.json")) as fh:
        return json.load(fh)


def ledger_of(root):
    with open(os.path.join(root, nightly.LEDGER_NAME)) as fh:
        return json.load(fh)


def published(root):
    """The bytes of everything a published corpus is: each run's shards, index and rejects (by path under its run
    folder, runs in order), plus stats.json."""
    files = {}
    for i, run in enumerate(ledger_of(root)["runs"]):
        base = os.path.join(root, "runs", run)
        for path in sorted(glob.glob(f"{base}/*/*")):
            files[f"night{i}/{os.path.relpath(path, base)}"] = open(path, "rb").read()
        stats = stats_of(base)
        # the one path stats.json names (twice)
        assert stats.pop("dedup_index") == stats["provenance"]["options"].pop("dedup_index") == \
            f"{root}/{nightly.INDEX_DIR}"
        files[f"night{i}/stats.json"] = stats
    return files


def nightly_cmd(crawl, out, *extra):
    return [TUWEN, "nightly", "--crawl-root", str(crawl), "--output-root", str(out), *FAST, *extra]


def test_two_nights_over_a_growing_crawl_process_only_new_files_and_add_no_pair_twice(tmp_path, capsys):
    crawl, out = tmp_path / "crawl", tmp_path / "out"
    write_pairs(crawl / "day1", "a.jsonl", range(0, 6))
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), *FAST]) == 0
    first = ledger_of(out)["runs"]
    assert len(first) == 1 and stats_of(out / "runs" / first[0])["kept"] == 6
    # Night 2: a new file with 4 new pairs and 2 pairs night 1 kept (another folder, same text and picture).
    write_pairs(crawl / "day2", "b.jsonl", [0, 1, 10, 11, 12, 13])
    capsys.readouterr()
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), *FAST]) == 0
    runs = ledger_of(out)["runs"]
    assert runs[0] == first[0] and len(runs) == 2
    s2 = stats_of(out / "runs" / runs[1])
    assert (s2["read"], s2["kept"], s2["rejected_by_reason"]) == (6, 4, {"seen_in_earlier_run": 2})
    assert s2["nightly"] == {"new_inputs": 1, "reprocessed_changed": 0, "changed_inputs": []}
    inputs = ledger_of(out)["inputs"]
    assert sorted(inputs) == ["day1/a.jsonl", "day2/b.jsonl"] and inputs["day2/b.jsonl"]["run"] == runs[1]
    # ids are relative to the crawl root, so the same file name in two day folders never clashes
    ids = pq.read_table(glob.glob(f"{out}/runs/{runs[1]}/index/*.parquet")).column("id").to_pylist()
    assert sorted(ids) == [f"day2/b.jsonl#{r}" for r in range(2, 6)]
    assert (out / "latest").read_text() == f"{out}/runs/{runs[1]}\n"
    page = (out / "runs" / runs[1] / "report.html").read_text(encoding="utf-8")  # the nights, in the report
    assert "<h2>Nights</h2>" in page and f"<td>{runs[0]}</td><td>6</td><td>6</td>" in page \
        and f"<td>{runs[1]}</td><td>6</td><td>4</td>" in page
    manifest = (out / "manifest.txt").read_text().splitlines()
    assert manifest == sorted(glob.glob(f"{out}/runs/{runs[0]}/shards/*.tar")) + sorted(
        glob.glob(f"{out}/runs/{runs[1]}/shards/*.tar"))
    # tuwen train / eval --data read the manifest as a shard list: every kept pair of both nights, once
    from tuwen.trainer.data import expand_shards, iter_tar_samples

    texts = [s["txt"] for url in expand_shards(str(out / "manifest.txt")) for s in iter_tar_samples(url)]
    assert len(texts) == 10 == len(set(texts))
    # Night 3: nothing new.
    capsys.readouterr()
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), *FAST]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tuwen nightly: nothing new under {crawl}: 2 input files, none new"]
    assert sorted(os.listdir(out / "runs")) == sorted(runs) and not (out / nightly.LOCK_NAME).exists()


def test_a_changed_input_is_listed_and_reprocessed_only_on_request(tmp_path, capsys):
    crawl, out = tmp_path / "crawl", tmp_path / "out"
    write_pairs(crawl, "a.jsonl", range(0, 4))
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), *FAST]) == 0
    os.utime(crawl / "a.jsonl", ns=(1, 1))  # touched, same bytes: not a change (the sha256 says so)
    capsys.readouterr()
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), *FAST]) == 0
    assert "tuwen nightly: changed_input" not in capsys.readouterr().err
    write_pairs(crawl, "a.jsonl", range(0, 6))  # the crawler appended two pairs
    write_pairs(crawl, "b.jsonl", [20])
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert "tuwen nightly: changed_input a.jsonl: size " in err and "not reprocessed" in err
    runs = ledger_of(out)["runs"]
    s = stats_of(out / "runs" / runs[-1])
    assert s["read"] == 1 and s["nightly"]["changed_inputs"][0]["path"] == "a.jsonl"
    assert "changed_input a.jsonl" in (out / "runs" / runs[-1] / "report.txt").read_text()
    assert "<td>a.jsonl</td><td>size " in (out / "runs" / runs[-1] / "report.html").read_text(encoding="utf-8")
    assert ledger_of(out)["inputs"]["a.jsonl"]["run"] == runs[0]
    # --reprocess-changed: the file again; the 4 pairs kept before are dropped by the dedup index, 2 new kept
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), "--reprocess-changed", *FAST]) == 0
    runs = ledger_of(out)["runs"]
    s = stats_of(out / "runs" / runs[-1])
    assert (s["read"], s["kept"], s["rejected_by_reason"]) == (6, 2, {"seen_in_earlier_run": 4})
    assert ledger_of(out)["inputs"]["a.jsonl"]["run"] == runs[-1]
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), *FAST]) == 0
    assert "none new" in capsys.readouterr().err


def test_removal_on_request_rewrites_every_published_run_and_later_nights_reject_the_pairs(tmp_path, capsys):
    from tuwen.pipeline.remove import main as remove_main

    crawl, out = tmp_path / "crawl", tmp_path / "out"
    opts = ["--crawl-root", str(crawl), "--output-root", str(out), *FAST, "--shard-size=3", "--keep-columns=url"]
    write_pairs(crawl / "day1", "a.jsonl", range(0, 8))
    assert main(opts) == 0
    write_pairs(crawl / "day2", "b.jsonl", range(8, 12))
    assert main(opts) == 0
    runs = ledger_of(out)["runs"]
    index = {r["id"]: r for run in runs for r in pq.read_table(glob.glob(f"{out}/runs/{run}/index/*.parquet"))
             .to_pylist()}
    gone_ids = ["day1/a.jsonl#2", "day2/b.jsonl#1"]
    gone_url = "https://example.com/img/5.png"  # a kept url column: day1's pair 5
    request = tmp_path / "request.txt"
    request.write_text("# from the person's email\n" + "\n".join(gone_ids + [gone_url, "never-published"]) + "\n")
    capsys.readouterr()
    assert remove_main(["--output-root", str(out), "--ids", str(request)]) == 0
    err = capsys.readouterr().err
    assert "removed 3 pairs" in err and "1 of the 4 requested not found" in err
    removed = {*gone_ids, "day1/a.jsonl#5"}
    texts = []
    for run in runs:
        base = out / "runs" / run
        stats = stats_of(base)
        assert stats["read"] == stats["kept"] + stats["rejected"]
        ids = pq.read_table(glob.glob(f"{base}/index/*.parquet")).column("id").to_pylist()
        assert not removed & set(ids) and len(ids) == stats["kept"]
        rejects = pq.read_table(glob.glob(f"{base}/rejects/*.parquet")).to_pylist()
        assert {r["id"] for r in rejects if r["reason"] == "removed_on_request"} == {
            i for i in removed if i.startswith("day1" if run == runs[0] else "day2")}
        sizes = json.loads((base / "shards" / "sizes.json").read_text())
        assert sum(sizes.values()) == stats["kept"]
    from tuwen.trainer.data import expand_shards, iter_tar_samples

    for url in expand_shards(str(out / "manifest.txt")):
        texts += [s["txt"] for s in iter_tar_samples(url)]
    assert len(texts) == 12 - 3 and not {index[i]["text"] for i in removed} & set(texts)
    assert (out / "removed.txt").read_text().splitlines() == sorted(gone_ids + [gone_url, "never-published"])
    before = published(out)
    assert remove_main(["--output-root", str(out), "--ids", str(request)]) == 0  # again: nothing more changes
    assert published(out) == before
    # the same pairs crawled again are rejected as removed_on_request, never published again
    write_pairs(crawl / "day3", "c.jsonl", [2, 5, 20])
    assert main(opts) == 0
    s3 = stats_of(out / "runs" / ledger_of(out)["runs"][-1])
    assert (s3["kept"], s3["rejected_by_reason"]) == (1, {"removed_on_request": 1, "seen_in_earlier_run": 1})


def test_remove_usage_errors_and_a_live_refresh_stop_it_with_one_line(tmp_path, capsys):
    from tuwen.pipeline.remove import main as remove_main

    (tmp_path / "out" / "runs").mkdir(parents=True)
    empty, request = tmp_path / "empty.txt", tmp_path / "ids.txt"
    empty.write_text("# nothing\n")
    request.write_text("a#1\n")
    for argv, code in ((["--ids", str(request)], 2), (["--output-root", str(tmp_path / "nope"), "--ids", str(request)], 2),
                       (["--output-root", str(tmp_path / "out"), "--ids", str(empty)], 2),
                       (["--output-root", str(tmp_path / "out"), "--ids", str(tmp_path / "missing.txt")], 2)):
        assert remove_main(argv) == code
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    (tmp_path / "out" / nightly.LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                                  "started": "now"}))
    assert remove_main(["--output-root", str(tmp_path / "out"), "--ids", str(request)]) == 3
    assert "another refresh holds" in capsys.readouterr().err
    assert not (tmp_path / "out" / "removed.txt").exists()


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    crawl = tmp_path / "crawl"
    write_pairs(crawl, "a.jsonl", [1])
    base = ["--crawl-root", str(crawl), "--output-root", str(tmp_path / "out")]
    for extra in (["--input", "x.jsonl"], [f"--output={tmp_path}/o"], ["--overwrite"], ["--dedup-index", "d"]):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "chosen by tuwen nightly" in err[0] and extra[0].split("=")[0] in err[0]
    for argv in ([], ["--crawl-root", str(crawl)], ["--crawl-root", str(tmp_path / "nope"), "--output-root", "o"],
                 ["--crawl-root", str(crawl), "--output-root", "gs://bucket/x"]):
        assert main(argv) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "runs").exists() or not os.listdir(tmp_path / "out" / "runs")


def test_a_live_lock_exits_3_and_a_dead_one_is_taken_over(tmp_path, capsys):
    crawl, out = tmp_path / "crawl", tmp_path / "out"
    write_pairs(crawl, "a.jsonl", [1, 2])
    os.makedirs(out)
    lock = out / nightly.LOCK_NAME
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-12-02T03:00:00Z"}))
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), *FAST]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pid {os.getpid()}" in err[0] and socket.gethostname() in err[0] \
        and "2026-12-02T03:00:00Z" in err[0]
    assert lock.exists() and not (out / nightly.LEDGER_NAME).exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    assert main(["--crawl-root", str(crawl), "--output-root", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert f"took over the lock of a refresh that died (pid {dead.pid}" in err
    assert len(ledger_of(out)["runs"]) == 1 and not lock.exists()


# ------------------------------------------------------------------------------------------- killed and rerun

def _run_killed_when(cmd, condition, env=None, timeout=120):
    """Start cmd, SIGKILL its process group as soon as condition() holds; returns its exit status (None when it
    ended by itself first)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return proc.returncode
        time.sleep(0.005)
    proc.wait()
    return None


def _growing_crawl(crawl):
    write_pairs(crawl / "day1", "a.jsonl", range(0, 24))
    write_pairs(crawl / "day1", "b.jsonl", range(24, 40))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted refresh of the crawl, and its published bytes."""
    base = tmp_path_factory.mktemp("reference")
    crawl, out = base / "crawl", base / "out"
    _growing_crawl(crawl)
    subprocess.run(nightly_cmd(crawl, out, "--shard-size=3"), check=True, capture_output=True)
    return published(out)


def _any(pattern):
    return lambda: bool(glob.glob(pattern))


@pytest.mark.slow
@pytest.mark.parametrize("point", ["reading", "shard_writing", *nightly.KILL_POINTS])
def test_a_refresh_killed_at_any_point_and_rerun_publishes_what_an_uninterrupted_one_does(point, reference,
                                                                                              tmp_path):
    crawl, out = tmp_path / "crawl", tmp_path / "out"
    _growing_crawl(crawl)
    cmd = nightly_cmd(crawl, out, "--shard-size=3")
    if point in nightly.KILL_POINTS:
        proc = subprocess.run(cmd, capture_output=True, env={**os.environ, "TUWEN_KILL_AT": point})
        rc = proc.returncode
    else:
        # reading: the fused stage has staged its first sample; shard_writing: the first shard is under its name
        when = _any(f"{out}/runs/*/_staging/*") if point == "reading" else _any(f"{out}/runs/*/shards/*.tar")
        rc = _run_killed_when(cmd, when)
    assert rc == -signal.SIGKILL, f"not killed at {point} (the run ended first)"
    runs = os.listdir(out / "runs")
    assert len(runs) == 1
    if point in ("reading", "shard_writing", "dedup_index_written"):
        # nothing published: no _SUCCESS, no ledger; a shard under its final name is one the rerun writes again
        assert not (out / "runs" / runs[0] / "_SUCCESS").exists() and not (out / nightly.LEDGER_NAME).exists()
        for path in glob.glob(f"{out}/runs/*/shards/*.tar"):
            name = f"night0/shards/{os.path.basename(path)}"
            assert open(path, "rb").read() == reference[name]
    rerun = subprocess.run(cmd, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    said = {"reading": "deleted run folder", "shard_writing": "deleted run folder",
            "dedup_index_written": "deleted run folder", "run_finished": "finished publishing run", "ledger_committed": "latest was behind the ledger",
            "latest_written": "manifest.txt was behind the ledger"}[point]
    assert said in rerun.stderr
    assert published(out) == reference
    ledger = ledger_of(out)
    assert len(ledger["runs"]) == 1 and sorted(os.listdir(out / "runs")) == ledger["runs"]
    assert len(os.listdir(out / nightly.INDEX_DIR)) == 1  # no dedup-index part of the killed run is left
    assert (out / "latest").read_text() == f"{out}/runs/{ledger['runs'][0]}\n"
    assert len((out / "manifest.txt").read_text().splitlines()) == len(glob.glob(f"{out}/runs/*/shards/*.tar"))
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0 and "none new" in again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("point", ["reading", "shard_writing"])
def test_tuwen_run_killed_and_rerun_with_overwrite_writes_the_same_bytes(point, tmp_path):
    crawl, out = tmp_path / "crawl", tmp_path / "out"
    _growing_crawl(crawl)
    cmd = [TUWEN, "run", "--input", f"{crawl}/day1/*.jsonl", "--output", str(out), "--shard-size=3", *FAST]
    subprocess.run(cmd, check=True, capture_output=True)
    files = lambda: {os.path.relpath(p, out): open(p, "rb").read()  # noqa: E731
                     for p in sorted(glob.glob(f"{out}/**", recursive=True)) if os.path.isfile(p)}
    want = files()
    when = _any(f"{out}/_staging/*") if point == "reading" else lambda: (
        not os.path.exists(f"{out}/_SUCCESS") and bool(glob.glob(f"{out}/shards/*.tar"))
        and any(os.path.getmtime(p) > started for p in glob.glob(f"{out}/shards/*.tar")))
    started = time.time()
    rc = _run_killed_when(cmd + ["--overwrite"], when)
    assert rc == -signal.SIGKILL, f"not killed at {point} (the run ended first)"
    assert not (out / "_SUCCESS").exists()
    for rel, data in files().items():  # whatever is under a final name is what the finished run holds
        if rel.startswith(("shards/", "index/")) and ".tmp-" not in rel and rel != "shards/sizes.json":
            assert data == want[rel], rel
    subprocess.run(cmd + ["--overwrite"], check=True, capture_output=True)
    assert files() == want
