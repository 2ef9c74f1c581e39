"""Model variants, their embeddings, and weight compatibility with Chinese-CLIP ViT-B-16."""
import json
import os

import pytest
import torch

from tuwen.trainer.model import MODEL_NAMES, build_model


def test_variants_build_with_normalised_embeddings_and_a_logit_scale():
    for name in ("tiny", "small"):
        m = build_model(name).eval()
        size = m.image_size
        with torch.no_grad():
            img = m.encode_image(torch.randn(2, 3, size, size))
            txt = m.encode_text(torch.tensor([[101, 2207, 4638, 102, 0], [101, 4263, 102, 0, 0]]))
        assert img.shape == txt.shape == (2, m.config["embed_dim"])
        assert torch.allclose(img.norm(dim=-1), torch.ones(2), atol=1e-5)
        assert torch.allclose(txt.norm(dim=-1), torch.ones(2), atol=1e-5)
        assert isinstance(m.logit_scale, torch.nn.Parameter) and m.logit_scale.ndim == 0
    assert MODEL_NAMES == ("tiny", "small", "base")


def test_trailing_padding_does_not_change_text_embeddings():
    m = build_model("tiny").eval()
    ids = torch.tensor([[101, 2207, 4638, 102]])
    with torch.no_grad():
        a = m.encode_text(ids)
        b = m.encode_text(torch.nn.functional.pad(ids, (0, 48)))
    assert torch.allclose(a, b, atol=1e-6)


def test_overrides_and_unknown_names():
    m = build_model("tiny", dropout=0.2, embed_dim=64)
    assert m.config["text"]["hidden_dropout"] == 0.2 and m.config["embed_dim"] == 64
    with pytest.raises(ValueError):
        build_model("huge")


def _chinese_clip_vit_b_16():
    import cn_clip
    from cn_clip.clip.model import CLIP

    d = os.path.join(os.path.dirname(cn_clip.__file__), "clip", "model_configs")
    cfg = {}
    for name in ("ViT-B-16.json", "RoBERTa-wwm-ext-base-chinese.json"):
        with open(os.path.join(d, name)) as f:
            cfg.update(json.load(f))
    return CLIP(**cfg)


@pytest.mark.slow
def test_chinese_clip_vit_b_16_checkpoint_loads_strictly_into_base(tmp_path):
    from tuwen.trainer.checkpoint import load_for_inference, load_into, load_weights

    torch.manual_seed(0)
    cn = _chinese_clip_vit_b_16().eval()
    # Saved as Chinese-CLIP's trainer saves (cn_clip/training/main.py): a dict whose state_dict comes from the
    # DDP-wrapped model, so every key carries "module.".
    path = tmp_path / "epoch_latest.pt"
    torch.save({"epoch": 1, "step": 10, "name": "random-vit-b-16",
                "state_dict": {"module." + k: v for k, v in cn.state_dict().items()}}, path)
    cfg, state, _ = load_weights(path)
    base = build_model("base")
    assert set(state) == set(base.state_dict())  # every tensor used, none left over
    load_into(base, path)  # strict=True inside
    model, tok, pre = load_for_inference(path)
    import cn_clip.clip as cc

    texts = ["一只狗在草地上奔跑", "小女孩"]
    assert torch.equal(tok(texts), cc.tokenize(texts))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ours_i, ours_t = model.encode_image(x), model.encode_text(tok(texts))
        ref_i = torch.nn.functional.normalize(cn.encode_image(x), dim=-1)
        ref_t = torch.nn.functional.normalize(cn.encode_text(cc.tokenize(texts)), dim=-1)
    assert torch.allclose(ours_i, ref_i, atol=1e-5) and torch.allclose(ours_t, ref_t, atol=1e-5)


def test_patch_dropout_drops_patches_in_training_only():
    from tuwen.trainer.train import set_patch_dropout

    torch.manual_seed(0)
    plain = build_model("tiny")
    flip = build_model("tiny")
    flip.load_state_dict(plain.state_dict())
    set_patch_dropout(flip, 0.5)
    pixels = torch.randn(3, 3, plain.image_size, plain.image_size)
    seen = []
    flip.visual.transformer.register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    plain.eval(), flip.eval()
    with torch.no_grad():
        assert torch.equal(plain.encode_image(pixels), flip.encode_image(pixels))  # evaluation sees every patch
    assert seen[-1] == 1 + (plain.image_size // 16) ** 2
    flip.train()
    out = flip.encode_image(pixels)
    assert seen[-1] == 1 + (plain.image_size // 16) ** 2 // 2  # the class token and half of the 36 patches
    assert out.shape == (3, 128) and torch.allclose(out.norm(dim=-1), torch.ones(3))
    assert flip.state_dict().keys() == plain.state_dict().keys()  # no weights: checkpoints are unchanged
    set_patch_dropout(flip, 0.0)
    flip.train()
    flip.encode_image(pixels)
    assert seen[-1] == 1 + (plain.image_size // 16) ** 2
