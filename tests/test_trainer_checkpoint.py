"""Every checkpoint form that ``--init`` and ``tuwen eval --checkpoint`` accept loads to the same weights."""
import pytest
import torch

from tuwen.trainer.checkpoint import (latest_checkpoint, load_for_inference, load_model, save_model_folder,
                                      save_train_checkpoint)
from tuwen.trainer.model import build_model
from tuwen.trainer.tokenizer import ChineseWordPieceTokenizer


@pytest.fixture()
def run_dir(tmp_path):
    torch.manual_seed(0)
    m = build_model("tiny")
    tok = ChineseWordPieceTokenizer()
    save_model_folder(tmp_path / "final", m, tok)
    save_train_checkpoint(tmp_path, 7, m, tok, {"step": 7})
    return tmp_path, m


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_run_folder_final_checkpoint_folder_and_safetensors_file_all_load(run_dir):
    folder, m = run_dir
    for path in (folder, folder / "final", folder / "checkpoints" / "step-7",
                 folder / "final" / "model.safetensors"):
        loaded, _ = load_model(path)
        assert _same(loaded, m), path
    assert latest_checkpoint(folder).name == "step-7"


def test_load_for_inference_returns_eval_model_tokenizer_and_preprocess(run_dir):
    from PIL import Image

    model, tok, pre = load_for_inference(run_dir[0])
    assert not model.training
    x = pre(Image.new("RGB", (300, 200), (10, 200, 30)))
    assert x.shape == (3, 96, 96)
    with torch.no_grad():
        e = model.encode_image(x[None])
    assert e.shape == (1, 128)
    assert tok("你好").shape == (1, 52)


def test_old_checkpoints_are_pruned(tmp_path):
    m, tok = build_model("tiny"), ChineseWordPieceTokenizer()
    for s in (1, 2, 3):
        save_train_checkpoint(tmp_path, s, m, tok, {"step": s}, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-2", "step-3"]


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.pt")


def test_open_clip_checkpoint_with_bert_text_tower_loads_with_its_config(tmp_path):
    """open_clip's trainer saves {"state_dict": DDP keys}; its HF text tower sits under text.transformer.* with a
    bias-free linear text.proj. (bench/train_vs_open_clip.py checks the same mapping against open_clip itself:
    identical embeddings.)"""
    import json

    torch.manual_seed(0)
    m = build_model("tiny")
    t = m.config["text"]
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({
        "model_type": "bert", "vocab_size": t["vocab_size"], "hidden_size": t["hidden_size"],
        "num_hidden_layers": t["layers"], "num_attention_heads": t["heads"],
        "intermediate_size": t["intermediate_size"], "max_position_embeddings": t["max_position_embeddings"],
        "type_vocab_size": t["type_vocab_size"]}))
    v = m.config["vision"]
    oc_cfg = {"model_cfg": {"embed_dim": m.config["embed_dim"], "quick_gelu": True,
                            "vision_cfg": {"image_size": v["image_size"], "layers": v["layers"], "width": v["width"],
                                           "patch_size": v["patch_size"], "head_width": v["width"] // v["heads"]},
                            "text_cfg": {"hf_model_name": str(bert), "hf_proj_type": "linear",
                                         "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 52}}}
    run = tmp_path / "logs" / "exp"
    (run / "checkpoints").mkdir(parents=True)
    (run / "open_clip_config.json").write_text(json.dumps(oc_cfg))
    state = {}
    for k, val in m.state_dict().items():
        if k.startswith("bert."):
            state["module.text.transformer." + k[5:]] = val
        elif k == "text_projection":
            state["module.text.proj.weight"] = val.t()
        else:
            state["module." + k] = val
    state["module.text.transformer.embeddings.position_ids"] = torch.arange(64)[None]
    torch.save({"epoch": 1, "name": "exp", "state_dict": state}, run / "checkpoints" / "epoch_1.pt")
    loaded, _ = load_model(run / "checkpoints" / "epoch_1.pt")
    assert _same(loaded, m)


# --- nothing is loaded by running pickled code --------------------------------------------------------------------

class _Evil:
    """Unpickling this calls builtins.open(marker, "w"): the file appears only if pickled code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pt_that_would_run_pickled_code_is_refused(tmp_path):
    from tuwen.trainer.checkpoint import UnsafeCheckpointError, load_weights

    marker = tmp_path / "PWNED"
    path = tmp_path / "clip_cn_vit-b-16.pt"
    torch.save({"state_dict": {"module.bert.x": torch.zeros(1)}, "evil": _Evil(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused: loading it would run pickled code") as e:
        load_weights(path)
    assert "\n" not in str(e.value) and isinstance(e.value, ValueError)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        load_model(path)
    assert not marker.exists()


def test_rng_state_round_trips_through_a_weights_only_load(tmp_path):
    import random

    import numpy as np

    from tuwen.trainer.train import capture_rng_state, load_train_state, restore_rng_state

    random.seed(1), np.random.seed(2), torch.manual_seed(3), np.random.randn()
    g = torch.Generator().manual_seed(4)
    torch.save({"rng": [capture_rng_state(g)], "args": {"data": "x", "lr": 1e-4, "init": None}}, tmp_path / "s.pt")
    draw = lambda: (random.random(), np.random.rand(), np.random.randn(), torch.rand(2).tolist(),  # noqa: E731
                    torch.rand(2, generator=g).tolist())
    expected = draw()
    state = load_train_state(tmp_path / "s.pt")  # weights_only=True
    restore_rng_state(state["rng"][0], g)
    assert draw() == expected
    # the older layout (numpy's state as an ndarray, python's as tuples) still resumes, without unpickling code
    state = load_train_state(tmp_path / "s.pt")
    restore_rng_state(state["rng"][0], g)
    old = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
           "aux": g.get_state()}
    torch.save({"rng": [old]}, tmp_path / "old.pt")
    restore_rng_state(load_train_state(tmp_path / "old.pt")["rng"][0], g)
    assert draw() == expected


def test_train_refuses_a_poisoned_train_state_and_init(tmp_path, capsys):
    from tuwen.trainer.cli import train_main
    from tuwen.trainer.synthetic import synthetic_pairs, write_shards

    write_shards(synthetic_pairs(16, size=48, seed=3), tmp_path / "shards", shard_size=16)
    m, tok = build_model("tiny"), ChineseWordPieceTokenizer()
    marker = tmp_path / "PWNED"
    run = tmp_path / "run"
    folder = save_train_checkpoint(run, 2, m, tok, {"step": 2})
    torch.save({"step": 2, "evil": _Evil(marker)}, folder / "train_state.pt")
    argv = ["--data", str(tmp_path / "shards" / "000000.tar"), "--output", str(run), "--batch-size", "8",
            "--precision", "fp32", "--workers", "0", "--max-steps", "3"]
    assert train_main([*argv, "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert "refused: loading it would run pickled code" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists() and not (run / "final").exists()
    evil_pt = tmp_path / "init.pt"
    torch.save({"state_dict": {"bert.x": torch.zeros(1)}, "evil": _Evil(marker)}, evil_pt)
    assert train_main([*argv, "--init", str(evil_pt)]) == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists()


def test_eval_refuses_a_poisoned_checkpoint(tmp_path, capsys):
    from tuwen.trainer.cli import eval_main

    marker = tmp_path / "PWNED"
    torch.save({"state_dict": {"bert.x": torch.zeros(1)}, "evil": _Evil(marker)}, tmp_path / "m.pt")
    assert eval_main(["--checkpoint", str(tmp_path / "m.pt"), "--data", str(tmp_path / "none.jsonl")]) == 2
    assert "refused" in capsys.readouterr().err and not marker.exists()
