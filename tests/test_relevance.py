"""The relevance stage and dedup in the pipeline (FnApiRunner): scores, the threshold, dedup rules, the cross-run
index, reproducible scores and byte-identical reruns with a scorer, bad scorer specs."""
import glob
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from PIL import Image

from tuwen.pipeline.run import main, run
from tuwen.pipeline.sample import jpeg, picture

pytestmark = pytest.mark.slow

CAPTIONS = ["一只小狗在草地上奔跑。", "两只猫坐在公园的长椅上。", "一艘小船停在湖面上。", "一匹棕色的马在雪地里散步。",
            "一辆红色的汽车停在街道旁边。", "一群孩子在海边玩耍。", "一只熊猫在竹林里吃竹子。", "一位老人站在山顶上看日出。"]


@pytest.fixture(scope="module")
def scorer_dir(tmp_path_factory):
    """A randomly initialised tiny tuwen model, saved as `tuwen train` saves one."""
    import torch

    from tuwen.trainer.checkpoint import save_model_folder
    from tuwen.trainer.model import build_model
    from tuwen.trainer.tokenizer import load_tokenizer

    torch.manual_seed(0)
    run_dir = tmp_path_factory.mktemp("scorer") / "run"
    save_model_folder(run_dir / "final", build_model("tiny"), load_tokenizer())
    return run_dir


def write_corpus(folder, rows):
    """rows: (id, text, image bytes) → pairs.jsonl with one image file per row."""
    os.makedirs(folder / "images", exist_ok=True)
    with open(folder / "pairs.jsonl", "w", encoding="utf-8") as fh:
        for pair_id, text, data in rows:
            (folder / "images" / f"{pair_id}.jpg").write_bytes(data)
            fh.write(json.dumps({"id": pair_id, "text": text, "image": f"images/{pair_id}.jpg"},
                                ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """20 ordinary pairs, plus: an exact duplicate of p03 under a smaller id (a-dup, kept: same area, smaller id),
    p05's text with another image (not a duplicate), and p07's picture twice as large under the same text
    (z-big: the larger image wins under text-image dedup)."""
    import random

    rng = random.Random(7)
    rows = []
    for i in range(20):
        im = picture(rng, rng.choice([256, 320, 400]), rng.choice([256, 300, 360]))
        rows.append((f"p{i:02d}", CAPTIONS[i % len(CAPTIONS)] + f"第{i}张。", jpeg(im)))
    by_id = {r[0]: r for r in rows}
    rows.append(("a-dup", by_id["p03"][1], by_id["p03"][2]))
    rows.append(("p05-other-image", by_id["p05"][1], jpeg(picture(rng, 300, 300))))
    small = Image.open(__import__("io").BytesIO(by_id["p07"][2]))
    rows.append(("z-big", by_id["p07"][1], jpeg(small.resize((small.width * 2, small.height * 2)))))
    d = tmp_path_factory.mktemp("corpus")
    write_corpus(d, rows)
    return d


def run_pipeline(corpus_dir, out, *extra):
    return run([f"--input={corpus_dir}/*.jsonl", f"--output={out}", "--runner=FnApiRunner", "--progress-seconds=0",
                "--shard-size=8", "--text-steps=", *extra])


def index_rows(out):
    return pq.read_table(sorted(glob.glob(f"{out}/index/*.parquet"))).to_pylist()


def rejects(out):
    files = sorted(glob.glob(f"{out}/rejects/*.parquet"))
    return pq.read_table(files).to_pylist() if files else []


def outcome(out):
    kept = {r["id"]: r for r in index_rows(out)}
    rej = {r["id"]: r for r in rejects(out)}
    return kept, rej


def assert_counts_add_up(stats, out):
    assert stats["read"] == stats["kept"] + stats["rejected"]
    assert stats["kept"] == len(index_rows(out)) and stats["rejected"] == len(rejects(out))


def folder_bytes(out):
    return {os.path.relpath(p, out): open(p, "rb").read()
            for p in sorted(glob.glob(f"{out}/**/*", recursive=True)) if os.path.isfile(p)}


@pytest.fixture(scope="module")
def scored(corpus, scorer_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored") / "out"
    stats = run_pipeline(corpus, out, f"--scorer={scorer_dir}", "--similarity-threshold=-1")
    return out, stats


def test_a_scored_run_stores_the_rounded_score_in_the_index_and_key_json(scored, scorer_dir):
    import webdataset as wds

    out, stats = scored
    assert_counts_add_up(stats, out)
    kept, _ = outcome(out)
    assert kept and all(isinstance(r["score"], float) and round(r["score"], 4) == r["score"] for r in kept.values())
    for sample in wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False):
        meta = json.loads(sample["json"])
        assert meta["score"] == kept[meta["id"]]["score"]
    assert stats["similarity"]["scorer"] == str(scorer_dir)
    assert len(stats["similarity"]["scorer_sha256"]) == 64
    assert stats["dedup"] == "text-score"


def test_the_threshold_keeps_a_score_exactly_at_it_and_drops_one_just_below(scored, corpus, scorer_dir, tmp_path):
    out, _ = scored
    kept, _ = outcome(out)
    scores = sorted(r["score"] for r in kept.values())
    t = scores[len(scores) // 2]
    stats = run_pipeline(corpus, tmp_path / "at", f"--scorer={scorer_dir}", f"--similarity-threshold={t}")
    assert_counts_add_up(stats, tmp_path / "at")
    at_kept, at_rej = outcome(tmp_path / "at")
    for pair_id, r in kept.items():
        if r["score"] >= t:
            assert pair_id in at_kept, (pair_id, r["score"], t)
        else:
            assert at_rej[pair_id]["reason"] == "low_similarity"
            assert at_rej[pair_id]["stage"] == "relevance"
            assert f"{r['score']:.4f}" in at_rej[pair_id]["detail"]
    assert any(r["score"] == t for r in at_kept.values())


def test_exact_duplicates_keep_one_and_same_text_with_another_image_is_no_duplicate(scored):
    out, stats = scored
    kept, rej = outcome(out)
    # a-dup has p03's bytes and text: the same score; same area, so the smaller id (a-dup) is kept
    assert "a-dup" in kept and rej["p03"]["reason"] == "duplicate_pair" and rej["p03"]["detail"] == "a-dup"
    assert rej["p03"]["stage"] == "dedup"
    assert "p05" in kept and "p05-other-image" in kept
    # z-big is p07 scaled up: at the tiny model's 96 px input it may score the same 4 decimals; then the larger wins
    dups = {i for i, r in rej.items() if r["reason"] == "duplicate_pair"}
    assert dups <= {"p03", "p07"}
    if "p07" in dups:
        assert rej["p07"]["detail"] == "z-big" and "z-big" in kept


def test_text_image_dedup_keeps_the_larger_image_and_off_keeps_all(corpus, tmp_path):
    stats = run_pipeline(corpus, tmp_path / "ti")
    assert stats["similarity"] == "skipped: no --scorer"
    assert stats["dedup"] == "text-image"
    kept, rej = outcome(tmp_path / "ti")
    assert "z-big" in kept and rej["p07"]["reason"] == "duplicate_pair" and rej["p07"]["detail"] == "z-big"
    assert "a-dup" in kept and rej["p03"]["detail"] == "a-dup"
    assert "p05" in kept and "p05-other-image" in kept
    assert all(len(r["phash"]) == 16 for r in kept.values())
    stats = run_pipeline(corpus, tmp_path / "off", "--dedup=off")
    assert stats["rejected"] == 0 and stats["kept"] == stats["read"]


def test_reruns_with_a_scorer_are_byte_identical(scored, corpus, scorer_dir, tmp_path):
    out, _ = scored
    run_pipeline(corpus, tmp_path / "again", f"--scorer={scorer_dir}", "--similarity-threshold=-1")
    first, second = folder_bytes(out), folder_bytes(tmp_path / "again")
    first.pop("report.txt"), second.pop("report.txt")  # it names the output folder
    assert any(k.startswith("shards/") for k in first) and first == second


def test_a_pair_scores_the_same_bits_in_other_batches_bundles_and_with_two_workers(scored, corpus, scorer_dir,
                                                                                   tmp_path):
    out, _ = scored
    base = {r["id"]: r["score"] for r in index_rows(out)}
    # other neighbours and batch boundaries: half the corpus, so every pair meets other pairs in its batch. The
    # batch size stays the same and the last batch is padded to it: every model call has the same shape, which is
    # what makes bit equality hold here (never compare bits across calls of different shapes).
    half = tmp_path / "half"
    os.makedirs(half)
    lines = open(corpus / "pairs.jsonl", encoding="utf-8").read().splitlines()[1::2]
    (half / "pairs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copytree(corpus / "images", half / "images")
    run_pipeline(half, tmp_path / "h", f"--scorer={scorer_dir}", "--similarity-threshold=-1", "--dedup=off",
                 "--write-embeddings")
    for r in index_rows(tmp_path / "h"):
        if r["id"] in base:
            assert r["score"] == base[r["id"]], r["id"]
    run_pipeline(corpus, tmp_path / "w2", f"--scorer={scorer_dir}", "--similarity-threshold=-1",
                 "--direct_num_workers=2", "--direct_running_mode=multi_threading", "--runner=DirectRunner")
    assert {r["id"]: r["score"] for r in index_rows(tmp_path / "w2")} == base


def test_write_embeddings_stores_float16_vectors_that_give_the_score(scorer_dir, corpus, tmp_path):
    import numpy as np

    run_pipeline(corpus, tmp_path / "e", f"--scorer={scorer_dir}", "--similarity-threshold=-1",
                 "--write-embeddings")
    table = pq.read_table(sorted(glob.glob(f"{tmp_path}/e/index/*.parquet")))
    import pyarrow as pa

    kind = table.schema.field("image_embedding").type
    assert pa.types.is_list(kind) and kind.value_type == pa.float16()
    for r in table.to_pylist():
        img, txt = np.array(r["image_embedding"], np.float32), np.array(r["text_embedding"], np.float32)
        assert img.shape == (128,) and abs(float(img @ txt) - r["score"]) < 0.01


def test_the_dedup_index_rejects_pairs_an_earlier_run_kept_and_never_a_runs_own(corpus, tmp_path):
    index = tmp_path / "dedup-index"
    first = run_pipeline(corpus, tmp_path / "night1", f"--dedup-index={index}")
    assert first["rejected_by_reason"] == {"duplicate_pair": 2}
    parts = sorted(os.listdir(index))
    assert len(parts) == 1 and parts[0].startswith("part-") and parts[0].endswith(".parquet")
    part = pq.read_table(index / parts[0]).to_pylist()
    assert len(part) == first["kept"] and {r["run"] for r in part} == {str(tmp_path / "night1")}
    # a rerun into the same output ignores (and replaces) its own part: nothing is "seen"
    again = run_pipeline(corpus, tmp_path / "night1", f"--dedup-index={index}", "--overwrite")
    assert again["rejected_by_reason"] == {"duplicate_pair": 2}
    assert sorted(os.listdir(index)) == parts
    # another run over the same crawl plus one new pair: only the new pair is kept
    grown = tmp_path / "grown"
    shutil.copytree(corpus, grown)
    (grown / "images" / "new.jpg").write_bytes(jpeg(picture(__import__("random").Random(99), 300, 300)))
    with open(grown / "pairs.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "new", "text": "一只白色的鸟在雨中。", "image": "images/new.jpg"},
                            ensure_ascii=False) + "\n")
    second = run_pipeline(grown, tmp_path / "night2", f"--dedup-index={index}")
    assert_counts_add_up(second, tmp_path / "night2")
    kept, rej = outcome(tmp_path / "night2")
    assert set(kept) == {"new"}
    assert second["rejected_by_reason"]["seen_in_earlier_run"] == first["kept"]
    assert all(r["stage"] == "dedup" for r in rej.values())
    assert str(tmp_path / "night1") in rej["p00"]["detail"]
    assert len(os.listdir(index)) == 2


def test_compaction_keeps_one_row_per_key_and_the_index_still_rejects(corpus, tmp_path):
    from tuwen.pipeline.dedup import main as dedup_index_main

    index = tmp_path / "dedup-index"
    run_pipeline(corpus, tmp_path / "a", f"--dedup-index={index}")
    run_pipeline(corpus, tmp_path / "b", f"--dedup-index={index}", "--dedup=off")  # all seen: adds nothing new
    rows = sum(pq.read_table(p).num_rows for p in glob.glob(f"{index}/part-*.parquet"))
    assert dedup_index_main(["compact", str(index)]) == 0
    parts = glob.glob(f"{index}/part-*.parquet")
    assert len(parts) == 1 and "compacted" in parts[0]
    table = pq.read_table(parts[0]).to_pylist()
    assert len(table) == len({r["key"] for r in table}) <= rows
    stats = run_pipeline(corpus, tmp_path / "c", f"--dedup-index={index}")
    assert stats["kept"] == 0 and stats["rejected_by_reason"]["seen_in_earlier_run"] == len(table)


def test_a_killed_run_adds_nothing_to_the_index(corpus, tmp_path):
    index = tmp_path / "dedup-index"
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tuwen.cli", "run", f"--input={corpus}/*.jsonl",
                             f"--output={out}", "--progress-seconds=0", "--text-steps=", f"--dedup-index={index}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not glob.glob(f"{out}/_staging/*"):
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(out / "_SUCCESS")
    assert not glob.glob(f"{index}/part-*.parquet")
    stats = run_pipeline(corpus, out, f"--dedup-index={index}", "--overwrite")
    assert "seen_in_earlier_run" not in stats["rejected_by_reason"]
    assert len(glob.glob(f"{index}/part-*.parquet")) == 1


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('TUWEN_EVIL_MARKER', '/tmp/tuwen-evil-marker')}",))


def test_a_checkpoint_that_would_run_code_is_refused_before_anything_is_written(corpus, tmp_path, capsys,
                                                                                 monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("TUWEN_EVIL_MARKER", str(marker))
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"state_dict": _Evil()}, fh)
    out = tmp_path / "out"
    code = main([f"--input={corpus}/*.jsonl", f"--output={out}", f"--scorer=cn_clip:ViT-B-16:{evil}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not marker.exists() and not out.exists()
    assert len(err) >= 1 and err[-1].startswith("tuwen run: --scorer") and "refused" in err[-1]


@pytest.mark.parametrize("spec", ["/no/such/run", "open_clip:no-such-arch:/tmp/x.pt", "nonsense:ViT:/tmp/x"])
def test_a_bad_scorer_spec_exits_2_with_one_line_and_writes_nothing(corpus, tmp_path, capsys, spec):
    out = tmp_path / "out"
    code = main([f"--input={corpus}/*.jsonl", f"--output={out}", f"--scorer={spec}"])
    err = [l for l in capsys.readouterr().err.strip().splitlines() if l.startswith("tuwen run:")]
    assert code == 2 and not out.exists() and len(err) == 1


def test_text_score_dedup_without_a_scorer_is_a_usage_error(corpus, tmp_path, capsys):
    assert main([f"--input={corpus}/*.jsonl", f"--output={tmp_path / 'o'}", "--dedup=text-score"]) == 2
    assert "needs --scorer" in capsys.readouterr().err


def test_calibrate_scores_exactly_what_the_run_scored(scored, corpus, scorer_dir, tmp_path, capsys):
    from tuwen.pipeline import calibrate

    out, _ = scored
    plot = tmp_path / "hist.png"
    code = calibrate.main([f"--scorer={scorer_dir}", f"--input={corpus}/*.jsonl", f"--plot={plot}",
                           "--text-steps="])
    captured = capsys.readouterr()
    assert code == 0
    last = captured.out.strip().splitlines()[-1]
    assert len(last.split(".")[1]) == 4 and float(last) == round(float(last), 4)
    assert "ROC AUC" in captured.err and plot.stat().st_size > 1000
    assert Image.open(plot).format == "PNG"
    # the scores calibrate computes for matched pairs are the run's
    from tuwen.pipeline.relevance import load_checked_scorer
    from tuwen.transforms.relevance import embed_in_batches, pair_scores
    from tuwen.pipeline.calibrate import _checked_pairs
    from collections import Counter
    from apache_beam.options.pipeline_options import PipelineOptions
    from tuwen.pipeline.options import TuwenOptions
    from tuwen.pipeline.inputs import expand_inputs

    opts = PipelineOptions([f"--scorer={scorer_dir}", f"--input={corpus}/*.jsonl", "--text-steps="]) \
        .view_as(TuwenOptions)
    scorer = load_checked_scorer(opts.scorer_config())
    # decoded no larger than the model's input, as the run decodes them
    rows = list(_checked_pairs(opts, expand_inputs(opts.input), 0, Counter(), scorer.image_size))
    img, txt = embed_in_batches(scorer, [r[2] for r in rows], [r[1] for r in rows], opts.scorer_batch_size)
    mine = dict(zip([r[0] for r in rows], pair_scores(img, txt)))
    for r in index_rows(out):
        assert mine[r["id"]] == r["score"]


def test_the_launching_machine_tells_the_workers_the_model_input_size(scorer_dir):
    # Workers decode a kept JPEG no larger than the scorer's input (transforms.image.process_image's decoded_side).
    from apache_beam.options.pipeline_options import PipelineOptions

    from tuwen.pipeline.options import TuwenOptions
    from tuwen.pipeline.run import check_scorer

    cfg = check_scorer(PipelineOptions([f"--scorer={scorer_dir}"]).view_as(TuwenOptions))
    assert cfg.image_size == 96 and len(cfg.weights_sha256) == 64


def test_calibrate_helpers():
    from tuwen.pipeline.calibrate import derangement, propose_threshold, roc_auc

    for n in (2, 3, 10, 101):
        perm = derangement(n)
        assert sorted(perm) == list(range(n)) and all(p != i for i, p in enumerate(perm))
        assert perm == derangement(n)
    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0 and roc_auc([0.5], [0.5]) == 0.5
    shuffled = [i / 100 for i in range(100)]
    t = propose_threshold(shuffled, 0.05)
    assert sum(s >= t for s in shuffled) <= 5 and sum(s >= round(t - 0.0001, 4) for s in shuffled) > 5


def test_scoring_sits_inside_the_fused_stage_no_shuffle_between_decode_and_staging(corpus, scorer_dir, tmp_path):
    """The only shuffle inside CheckAndStage is the spread of referenced pairs, before any image is read."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from tuwen.pipeline import run as run_module
    from tuwen.pipeline.options import TuwenOptions
    from tuwen.pipeline.inputs import expand_inputs

    argv = [f"--input={corpus}/*.jsonl", f"--output={tmp_path / 'o'}", f"--scorer={scorer_dir}",
            "--direct_num_workers=2"]
    options = PipelineOptions(argv)
    opts = options.view_as(TuwenOptions)
    p = beam.Pipeline(options=options)
    run_module.build(p, opts, expand_inputs(opts.input), str(tmp_path / "o"), opts.scorer_config())
    proto = p.to_runner_api()
    shuffles = [t.unique_name for t in proto.components.transforms.values()
                if t.spec.urn == "beam:transform:group_by_key:v1" and t.unique_name.startswith("CheckAndStage/")]
    assert shuffles and all(name.startswith("CheckAndStage/SpreadReferencedPairs/") for name in shuffles), shuffles
    names = [t.unique_name for t in proto.components.transforms.values()]
    assert any("ScoreReferencedPairs/Score" in n for n in names) and any("BatchElements" in n for n in names)
    from apache_beam.portability.api import beam_runner_api_pb2

    stateful = [t.unique_name for t in proto.components.transforms.values()
                if t.spec.urn == "beam:transform:pardo:v1" and t.unique_name.startswith("CheckAndStage/")
                and beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload).state_specs]
    assert not stateful, stateful  # no max_batch_duration_secs: batching is not a keyed, stateful step


def test_fetch_once_copies_a_model_folder_or_file_once(scorer_dir, tmp_path, monkeypatch):
    import tempfile

    from tuwen.pipeline.relevance import fetch_once

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    local = fetch_once(str(scorer_dir))
    assert os.path.isfile(os.path.join(local, "final", "model.safetensors"))
    assert fetch_once(str(scorer_dir) + "/") == local
    one = fetch_once(str(scorer_dir / "final" / "config.json"))
    assert open(one, "rb").read() == (scorer_dir / "final" / "config.json").read_bytes()


def test_a_run_without_a_scorer_never_imports_torch(corpus, tmp_path):
    code = ("import sys; from tuwen.pipeline.run import run; "
            f"run(['--input={corpus}/*.jsonl', '--output={tmp_path / 'o'}', '--progress-seconds=0']); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
