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
