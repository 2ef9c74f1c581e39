"""The safety head: `tuwen safety-head` trains a classifier on a scorer's image embeddings from images labelled
safe/unsafe, and `tuwen run --safety-head` rejects the unsafe ones as unsafe_image_head."""
import glob
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tuwen.pipeline.run import main, run
from tuwen.pipeline.safety_head import main as head_main
from tuwen.transforms.reasons import stage_of
from tuwen.transforms.safety_head import (HEAD_FORMAT, HeadError, SafetyHead, head_probabilities, load_head,
                                          save_head, stratified_split, train_head)

UNSAFE = "红色"  # the synthetic colour that plays the unsafe class


def labelled(folder, name, n, seed, extra_rows=()):
    """A manifest of synthetic coloured shapes: red ones labelled unsafe, the rest safe; returns (path, red ids)."""
    from tuwen.trainer.synthetic import synthetic_pairs

    (folder / name).mkdir()
    lines, red = [], set()
    for s in synthetic_pairs(n, size=64, seed=seed, with_gen=False):
        (folder / name / f"{s['id']}.jpg").write_bytes(s["jpg"])
        unsafe = s["label"].startswith(UNSAFE)
        red |= {s["id"]} if unsafe else set()
        lines.append(json.dumps({"id": s["id"], "text": s["text"], "image": f"{name}/{s['id']}.jpg",
                                 "label": "unsafe" if unsafe else "safe"}, ensure_ascii=False))
    lines += [json.dumps(r, ensure_ascii=False) for r in extra_rows]
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path), red


def read_rejects(out):
    return pq.read_table(glob.glob(f"{out}/rejects/*.parquet")).to_pylist()


def read_index(out):
    return pq.read_table(sorted(glob.glob(f"{out}/index/*.parquet"))).to_pylist()


def run_args(path, out, model, *extra):
    return [f"--input={path}", f"--output={out}", "--runner=FnApiRunner", "--progress-seconds=0", "--min-side=32",
            "--dedup=off", "--text-steps=", f"--scorer={model}", "--similarity-threshold=-1", "--image-safety=",
            *extra]


# ---- Beam-free: the head's arithmetic, file and split ------------------------------------------------------------

def test_a_linear_head_is_the_logistic_of_its_affine_map_and_an_mlp_puts_relu_between():
    x = np.array([[0.6, 0.8], [-1.0, 0.0]])
    w, b = np.array([[2.0, -1.0]], np.float32), np.array([0.5], np.float32)
    linear = SafetyHead((w,), (b,), 0.5, "", "", "t")
    expected = 1 / (1 + np.exp(-(x @ w[0] + 0.5)))
    assert head_probabilities(linear, x) == [round(float(p), 4) for p in expected]
    w0, b0 = np.array([[1.0, 0.0], [0.0, -1.0]], np.float32), np.zeros(2, np.float32)
    mlp = SafetyHead((w0, np.array([[1.0, 1.0]], np.float32)), (b0, np.zeros(1, np.float32)), 0.5, "", "", "t")
    hidden = np.maximum(x @ w0.T, 0).sum(axis=1)  # [0.6, 0.0]: the negative units are cut by the ReLU
    assert head_probabilities(mlp, x) == [round(float(p), 4) for p in 1 / (1 + np.exp(-hidden))]


def test_a_head_file_round_trips_and_damaged_or_foreign_files_are_refused(tmp_path):
    from safetensors.numpy import save_file

    w, b = np.ones((1, 4), np.float32), np.zeros(1, np.float32)
    save_head(str(tmp_path / "h.safetensors"), [w], [b], {"scorer": "m", "scorer_sha256": "ab" * 32,
                                                          "threshold": "0.7000", "validation": {"roc_auc": 0.9}})
    head = load_head(str(tmp_path / "h.safetensors"))
    assert (head.embed_dim, head.threshold, head.scorer_sha256, head.about["validation"]) == (4, 0.7, "ab" * 32,
                                                                                              {"roc_auc": 0.9})
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(HeadError, match="not a readable safetensors"):
        load_head(str(tmp_path / "junk.safetensors"))
    save_file({"x": w}, str(tmp_path / "other.safetensors"), metadata={"format": "pt"})
    with pytest.raises(HeadError, match="not a tuwen safety head"):
        load_head(str(tmp_path / "other.safetensors"))
    save_file({"layer0.weight": np.ones((2, 4), np.float32), "layer0.bias": np.zeros(2, np.float32)},
              str(tmp_path / "wide.safetensors"), metadata={"format": HEAD_FORMAT, "threshold": "0.5"})
    with pytest.raises(HeadError, match="damaged"):  # two outputs: not one logit
        load_head(str(tmp_path / "wide.safetensors"))


def test_the_split_holds_out_each_class_and_is_the_same_every_time():
    labels = [0] * 40 + [1] * 3
    train, val = stratified_split(labels, 0.2)
    assert sorted(train + val) == list(range(43))
    assert sum(labels[i] for i in val) == 1 and sum(1 for i in val if labels[i] == 0) == 8
    assert (train, val) == stratified_split(labels, 0.2)
    train, val = stratified_split([0, 0, 1], 0.2)
    assert 2 in train and len(val) == 1 and val[0] in (0, 1)  # the lone unsafe image trains; a safe one is held out
    assert stratified_split(labels, 0.0) == (list(range(43)), [])


def test_the_threshold_keeps_the_held_out_recall_with_the_widest_margin():
    from tuwen.pipeline.safety_head import choose_threshold

    # the lowest threshold dropping no safe image is 0.3001; the next unsafe score above it is 0.9: halfway
    assert choose_threshold([0.1, 0.2, 0.3], [0.25, 0.9, 0.95], 0.0) == 0.6
    # a third of the safe images may go: 0.2001, then 0.25 is the next unsafe score
    assert choose_threshold([0.1, 0.2, 0.3], [0.25, 0.9], 0.34) == round((0.2001 + 0.25) / 2, 4)
    assert choose_threshold([0.1, 0.5], [0.2, 0.3], 0.0) == 0.5001  # no unsafe image above: the lowest stays


def test_training_separates_a_direction_that_marks_the_unsafe_class():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (x[:, 3] > 0.3).astype(int)  # about 16 % positive, like a rare unsafe class
    weights, biases = train_head(x, y)
    p = np.array(head_probabilities(SafetyHead(tuple(weights), tuple(biases), 0.5, "", "", "t"), x))
    assert ((p >= 0.5) == (y == 1)).mean() > 0.95
    assert int(np.argmax(np.abs(weights[0][0]))) == 3


# ---- usage errors, before anything runs -------------------------------------------------------------------------

@pytest.mark.parametrize("extra, said", [
    (["--safety-head=h.safetensors"], "needs --scorer"),
    (["--scorer=/nowhere", "--safety-head-threshold=0.5"], "needs --safety-head"),
    (["--scorer=/nowhere", "--safety-head={tmp}/missing.safetensors"], "no such file"),
    (["--scorer=/nowhere", "--safety-head={tmp}/junk.safetensors"], "not a readable safetensors"),
])
def test_bad_safety_head_options_exit_2(tmp_path, capsys, extra, said):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    (tmp_path / "m.jsonl").write_text('{"text": "一张照片", "image": "a.jpg"}\n')
    argv = [f"--input={tmp_path}/m.jsonl", f"--output={tmp_path}/out", *(e.format(tmp=tmp_path) for e in extra)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, said", [
    (["--min-sid=32"], "unknown option --min-sid"),
    (["--val-share=1"], "must be in [0, 1)"),
    (["--hidden=-1"], "--hidden and --weight-decay must be >= 0"),
])
def test_bad_safety_head_command_lines_exit_2(tmp_path, capsys, extra, said):
    argv = ["--scorer=/nowhere", f"--input={tmp_path}/m.jsonl", f"--output={tmp_path}/h.safetensors", *extra]
    assert head_main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1
    assert head_main(["--scorer=/nowhere", f"--input={tmp_path}/m.jsonl",
                      f"--output={tmp_path}/no/such/folder/h.safetensors"]) == 2
    assert "no such folder" in capsys.readouterr().err


# ---- end to end, with a tiny model trained on synthetic colours -----------------------------------------------

@pytest.mark.slow
def test_a_head_trained_on_labelled_images_rejects_the_unsafe_class_in_a_run(tmp_path, colour_model, capsys):
    bad_rows = [{"id": "no-label", "text": "", "image": "x.jpg"},
                {"id": "odd-label", "text": "", "image": "x.jpg", "label": "maybe"}]
    train, _ = labelled(tmp_path, "train", 300, seed=5, extra_rows=bad_rows)
    head_path = tmp_path / "head.safetensors"
    assert head_main(["--scorer", str(colour_model), "--input", train, "--output", str(head_path), "--min-side=32",
                      "--plot", str(tmp_path / "h.png")]) == 0
    said = capsys.readouterr().out
    assert "2 rows skipped: bad_label 1, missing_label 1" in said and "unsafe caught 100.0%" in said
    assert (tmp_path / "h.png").stat().st_size > 10_000
    head = load_head(str(head_path))
    assert head.about["validation"]["split"] == "held-out" and head.about["validation"]["roc_auc"] > 0.99

    test, red = labelled(tmp_path, "test", 48, seed=99)  # other pictures than the head learned from
    assert 3 <= len(red) < 48
    stats = run(run_args(test, tmp_path / "out", colour_model, f"--safety-head={head_path}"))
    rejects = {r["id"]: r for r in read_rejects(tmp_path / "out")}
    assert set(rejects) == red
    assert {(r["stage"], r["reason"]) for r in rejects.values()} == {("safety", "unsafe_image_head")}
    assert stage_of("unsafe_image_head") == "safety"
    kept = read_index(tmp_path / "out")
    assert {r["id"] for r in kept} | red == {json.loads(l)["id"] for l in open(test, encoding="utf-8")}
    assert all(0 <= r["safety_head"] < head.threshold for r in kept)
    assert stats["read"] == stats["kept"] + stats["rejected"] == 48
    assert stats["image_safety"]["checks"] == ["head"]
    assert stats["image_safety"]["head"]["threshold"] == head.threshold
    assert f"head (safety head {head_path}, threshold {head.threshold})" in (tmp_path / "out" / "report.txt"
                                                                             ).read_text()
    # --safety-head-threshold overrides the head's own: at 1 nothing is rejected
    stats = run(run_args(test, tmp_path / "all", colour_model, f"--safety-head={head_path}",
                         "--safety-head-threshold=1"))
    assert stats["kept"] == 48 and max(r["safety_head"] for r in read_index(tmp_path / "all")) > head.threshold


@pytest.mark.slow
def test_a_head_from_another_scorer_or_too_few_labels_is_a_usage_error(tmp_path, colour_model, capsys):
    from tuwen.trainer.scoring import load_scorer

    dim = load_scorer(str(colour_model)).embed_dim
    save_head(str(tmp_path / "foreign.safetensors"), [np.ones((1, dim), np.float32)], [np.zeros(1, np.float32)],
              {"scorer": "someone-else", "scorer_sha256": "0" * 64, "threshold": "0.5"})
    test, _ = labelled(tmp_path, "test", 4, seed=99)
    assert main(run_args(test, tmp_path / "out", colour_model,
                         f"--safety-head={tmp_path}/foreign.safetensors")) == 2
    assert "does not carry across models" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    save_head(str(tmp_path / "narrow.safetensors"), [np.ones((1, dim + 1), np.float32)], [np.zeros(1, np.float32)],
              {"scorer": "x", "scorer_sha256": "0" * 64, "threshold": "0.5"})
    assert main(run_args(test, tmp_path / "out", colour_model, f"--safety-head={tmp_path}/narrow.safetensors")) == 2
    assert f"takes {dim + 1}-d embeddings" in capsys.readouterr().err

    safe_only = tmp_path / "safe.jsonl"
    safe_only.write_text("".join(json.dumps({**json.loads(l), "label": "safe"}) + "\n"
                                 for l in open(test, encoding="utf-8")))
    assert head_main(["--scorer", str(colour_model), "--input", str(safe_only), "--output",
                      str(tmp_path / "h.safetensors"), "--min-side=32"]) == 2
    assert "0 unsafe usable images" in capsys.readouterr().err
    assert not (tmp_path / "h.safetensors").exists()
