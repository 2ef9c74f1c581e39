"""``tuwen train`` end to end on tiny synthetic shards: outputs, determinism, resume, progress and plots."""
import json

import pytest
import torch
from safetensors.torch import load_file

from tuwen.trainer.cli import eval_main, train_main
from tuwen.trainer.synthetic import synthetic_pairs, write_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    write_shards(synthetic_pairs(96, size=48, seed=3), out, shard_size=32)
    return str(out / "{000000..000002}.tar")


def _train(shards, out, *extra):
    argv = ["--data", shards, "--output", str(out), "--batch-size", "16", "--precision", "fp32", "--workers", "0",
            "--log-every", "1", *extra]
    assert train_main(argv) == 0


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_train_writes_final_checkpoints_metrics_and_plot(shards, tmp_path, capsys):
    _train(shards, tmp_path / "run", "--max-steps", "3", "--save-every", "2")
    run = tmp_path / "run"
    for name in ("model.safetensors", "config.json", "vocab.txt"):
        assert (run / "final" / name).is_file()
    assert json.loads((run / "final" / "config.json").read_text())["name"] == "tiny"
    assert len((run / "final" / "vocab.txt").read_text(encoding="utf-8").split("\n")) >= 21128
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-2", "step-3"]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    for key in ("loss", "temperature", "samples_per_s", "lr"):
        assert all(key in r for r in rows)
    assert (run / "loss.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "samples/s" in out and "temp" in out and "left" in out and "loss" in out
    assert "augmentation: caption-aug 0.3, image-aug 0.5, patch-dropout 0.5 " in out  # the defaults, tiny from scratch


@pytest.mark.slow
def test_same_seed_fp32_runs_give_identical_weights_and_other_seed_differs(shards, tmp_path):
    _train(shards, tmp_path / "a", "--max-steps", "3", "--seed", "5")
    _train(shards, tmp_path / "b", "--max-steps", "3", "--seed", "5")
    _train(shards, tmp_path / "c", "--max-steps", "3", "--seed", "6")
    a, b, c = (_weights(tmp_path / x / "final") for x in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.slow
def test_same_seed_with_two_loader_workers_is_deterministic(shards, tmp_path):
    _train(shards, tmp_path / "a", "--max-steps", "3", "--workers", "2", "--caption-aug", "0.5")
    _train(shards, tmp_path / "b", "--max-steps", "3", "--workers", "2", "--caption-aug", "0.5")
    a, b = _weights(tmp_path / "a" / "final"), _weights(tmp_path / "b" / "final")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(shards, tmp_path):
    extra = ["--max-steps", "6", "--save-every", "3", "--keep-checkpoints", "0", "--dropout", "0.1",
             "--caption-aug", "0.5", "--mlm", "0.5"]
    _train(shards, tmp_path / "full", *extra)
    _train(shards, tmp_path / "cut", *extra)
    # Simulate an interruption after step 3: only the step-3 checkpoint survives.
    import shutil

    shutil.rmtree(tmp_path / "cut" / "final")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step-6")
    _train(shards, tmp_path / "cut", *extra, "--resume", "auto")
    a, b = _weights(tmp_path / "full" / "final"), _weights(tmp_path / "cut" / "final")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_eval_writes_recall_json_for_a_run_folder(shards, tmp_path):
    _train(shards, tmp_path / "run", "--max-steps", "2")
    out = tmp_path / "eval.json"
    assert eval_main(["--checkpoint", str(tmp_path / "run"), "--data", shards, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    keys = ["i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"]
    assert all(0 <= res[k] <= 100 for k in keys)
    assert res["mean_recall"] == pytest.approx(sum(res[k] for k in keys) / 6)
    assert res["captions"] == 96


@pytest.mark.slow
def test_init_starts_from_given_weights(shards, tmp_path, capsys):
    _train(shards, tmp_path / "a", "--max-steps", "2", "--seed", "1")
    # lr 0 and weight decay 0: the step changes nothing, so the final weights are exactly the --init weights
    _train(shards, tmp_path / "b", "--max-steps", "1", "--seed", "2", "--init", str(tmp_path / "a"), "--lr", "0",
           "--weight-decay", "0")
    a, b = _weights(tmp_path / "a" / "final"), _weights(tmp_path / "b" / "final")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "patch-dropout 0.0 " in capsys.readouterr().out.split("initialised from")[1]  # not measured with --init


@pytest.mark.slow
def test_options_gradcache_distill_mlm_ssl_caption_aug_and_time_budget_run(shards, tmp_path, capsys):
    _train(shards, tmp_path / "run", "--max-steps", "50", "--time-budget", "0.0001", "--grad-cache-chunk", "4",
           "--distill", "--distill-queue", "32", "--mlm", "--image-ssl", "0.3", "--caption-aug", "0.5",
           "--patch-dropout", "0.5")
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1  # a budget already spent during set-up still trains one step, then stops
    assert all("mlm" in r and "image_ssl" in r for r in rows)
    assert "time-budget" in capsys.readouterr().out
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_val_data_logs_recall_and_plots_it_and_eval_scores_zero_shot(shards, tmp_path):
    from tuwen.trainer.data import iter_tar_samples, expand_shards

    (tmp_path / "img").mkdir()
    rows = []
    for url in expand_shards(shards)[:1]:
        for s in iter_tar_samples(url):
            (tmp_path / "img" / f"{s['__key__']}.jpg").write_bytes(s["jpg"])
            meta = json.loads(s["json"])
            rows.append({"image": f"img/{s['__key__']}.jpg", "text": s["txt"].decode(), "label": meta["label"]})
    manifest = tmp_path / "val.jsonl"
    manifest.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    _train(shards, tmp_path / "run", "--max-steps", "2", "--val-data", str(manifest), "--val-every", "1")
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in metrics if "val" in r] == [1, 2, 2]
    assert (tmp_path / "run" / "val_recall.png").is_file()
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(sorted({r["label"] for r in rows} | {"白色圆形"})), encoding="utf-8")
    out = tmp_path / "e.json"
    assert eval_main(["--checkpoint", str(tmp_path / "run" / "final"), "--data", str(manifest), "--json", str(out),
                      "--zero-shot", str(labels)]) == 0
    res = json.loads(out.read_text())
    assert 0 <= res["zeroshot_top1"] <= 100 and res["images"] == len(rows)


@pytest.mark.slow
def test_flickr_shards_train_and_evaluate(shared_data, tmp_path):
    from bench_modules import bench_module

    mod = bench_module("train_make_shards")
    from tuwen.trainer.synthetic import write_shards

    train = mod.flickr_samples(shared_data / "flickr8k_cn", "train", limit_images=12)
    val = mod.flickr_samples(shared_data / "flickr8k_cn", "val", limit_images=10)
    assert len(train) >= 50 and any("gen_text" in s for s in train)
    write_shards(train, tmp_path / "train", shard_size=20)
    write_shards(val, tmp_path / "val", shard_size=100)
    _train(str(tmp_path / "train" / "*.tar"), tmp_path / "run", "--max-steps", "2", "--caption-aug", "0.5")
    out = tmp_path / "e.json"
    assert eval_main(["--checkpoint", str(tmp_path / "run"), "--data", str(tmp_path / "val" / "000000.tar"),
                      "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["images"] == 10 and res["captions"] == len(val)  # captions of one photo share its sha256
