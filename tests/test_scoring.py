"""``tuwen.trainer.scoring``: tuwen, Chinese-CLIP and open_clip checkpoints score like their own models, bad specs
are one-line ScorerErrors, nothing is unpickled with code, and a pair's embedding does not depend on its batch."""
import hashlib
import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tuwen.trainer import scoring
from tuwen.trainer.checkpoint import save_model_folder, save_train_checkpoint
from tuwen.trainer.model import build_model
from tuwen.trainer.scoring import ScorerError, cosine_scores, load_scorer, parse_spec
from tuwen.trainer.tokenizer import ChineseWordPieceTokenizer

TEXTS = ["一只猫坐在沙发上", "两个孩子在公园里踢足球。", "A red car 红色的汽车", "夜晚的城市灯火通明" * 3]


def _images(n=4, size=(80, 60)):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


def _norm(x):
    return torch.nn.functional.normalize(x.float(), dim=-1)


class _Evil:
    """Unpickling this calls builtins.open(marker, "w"): the file appears only if pickled code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _poisoned_pt(path, marker, **extra):
    torch.save({"state_dict": {"module.logit_scale": torch.tensor(1.0)}, "evil": _Evil(marker), **extra}, path)
    return path


@pytest.fixture(scope="module")
def tuwen_run(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("run")
    m = build_model("tiny").eval()
    tok = ChineseWordPieceTokenizer()
    save_model_folder(root / "final", m, tok)
    save_train_checkpoint(root, 3, m, tok, {"step": 3})
    return root, m, tok


# --- specs ---------------------------------------------------------------------------------------------------------

def test_parse_spec_forms(tmp_path):
    assert parse_spec(str(tmp_path)) == ("tuwen", None, str(tmp_path))
    assert parse_spec("tuwen:/x/run") == ("tuwen", None, "/x/run")
    assert parse_spec("gs://bucket/run/final") == ("tuwen", None, "gs://bucket/run/final")
    assert parse_spec("cn_clip:ViT-B-16:/m/clip_cn_vit-b-16.pt") == ("cn_clip", "ViT-B-16", "/m/clip_cn_vit-b-16.pt")
    assert parse_spec("cn_clip:RN50:gs://b/rn50.pt") == ("cn_clip", "RN50", "gs://b/rn50.pt")
    assert parse_spec("open_clip:ViT-B-32:s3://b/oc.pt") == ("open_clip", "ViT-B-32", "s3://b/oc.pt")
    for bad in ("", "cn_clip:ViT-X-99:/m.pt", "cn_clip:/m.pt", "open_clip:ViT-B-32:", "clip:ViT-B-32:/m.pt"):
        with pytest.raises(ScorerError) as e:
            parse_spec(bad)
        assert "\n" not in str(e.value)


def test_bad_specs_are_one_line_errors(tmp_path, tuwen_run):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cases = [str(tmp_path / "nope"), f"cn_clip:ViT-B-16:{tmp_path / 'nope.pt'}", f"cn_clip:RN50:{tmp_path / 'junk.pt'}",
             "gs://bucket/run", f"open_clip:No-Such-Arch:{tmp_path / 'junk.pt'}", str(tmp_path)]
    for spec in cases:
        with pytest.raises(ScorerError) as e:
            load_scorer(spec)
        assert "\n" not in str(e.value), spec
    with pytest.raises(ScorerError, match="fp16"):
        load_scorer(str(tuwen_run[0]), device="cpu", precision="fp16")
    with pytest.raises(ScorerError, match="device"):
        load_scorer(str(tuwen_run[0]), device="tpu")
    # weights of another variant do not fit: a tiny run relabelled as small
    bad = tmp_path / "relabelled"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes((tuwen_run[0] / "final" / "model.safetensors").read_bytes())
    from tuwen.trainer.model import model_config

    (bad / "config.json").write_text(json.dumps(model_config("small")))
    with pytest.raises(ScorerError, match="do not fit") as e:
        load_scorer(str(bad))
    assert "\n" not in str(e.value)


def test_remote_paths_go_through_fetch(tuwen_run):
    root = tuwen_run[0]
    asked = []

    def fetch(uri):
        asked.append(uri)
        return str(root / "final")

    s = load_scorer("gs://bucket/run/final", fetch=fetch)
    assert asked == ["gs://bucket/run/final"] and s.kind == "tuwen"
    with pytest.raises(ScorerError, match="cannot fetch"):
        load_scorer("s3://b/x", fetch=lambda uri: (_ for _ in ()).throw(OSError("denied")))


def test_scoring_module_does_not_import_beam():
    import subprocess

    code = "import sys, tuwen.trainer.scoring; assert 'apache_beam' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- tuwen ---------------------------------------------------------------------------------------------------------

def test_tuwen_run_folder_and_final_score_like_the_model(tuwen_run):
    root, m, tok = tuwen_run
    from tuwen.trainer.model import image_preprocess

    pre = image_preprocess(m.image_size)
    ims = _images()
    with torch.no_grad():
        ref_i = m.encode_image(torch.stack([pre(im) for im in ims]))
        ref_t = m.encode_text(tok(TEXTS))
    for spec in (str(root), str(root / "final"), f"tuwen:{root / 'checkpoints' / 'step-3'}",
                 str(root / "final" / "model.safetensors")):
        s = load_scorer(spec)
        assert s.kind == "tuwen" and s.image_size == 96 and s.embed_dim == 128 and s.context_length == 52
        assert s.weights_sha256 == hashlib.sha256((root / "final" / "model.safetensors").read_bytes()).hexdigest()
        px = np.stack([s.preprocess(im) for im in ims])
        ids = s.tokenize(TEXTS)
        assert px.dtype == np.float32 and px.shape == (4, 3, 96, 96)
        assert ids.dtype == np.int64 and ids.shape == (4, 52)
        np.testing.assert_array_equal(ids, tok(TEXTS).numpy())
        img, txt = s.embed(px, ids)
        assert img.dtype == np.float32 and txt.dtype == np.float32
        np.testing.assert_allclose(img, ref_i.numpy(), atol=1e-5)
        np.testing.assert_allclose(txt, ref_t.numpy(), atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1, atol=1e-5)
        sc = cosine_scores(img, txt)
        assert sc.dtype == np.float32 and sc.shape == (4,)
        np.testing.assert_allclose(sc, (ref_i * ref_t).sum(1).numpy(), atol=1e-5)


def test_a_pair_embeds_bit_identically_whatever_its_batch_neighbours(tuwen_run):
    s = load_scorer(str(tuwen_run[0]), threads=1)
    ims = _images(6)
    pair_im, pair_text = ims[0], "一只猫坐在沙发上"
    long_text = "这是一段很长很长的文字，描述了许多事物。" * 10  # fills the whole context
    batch_a = ([pair_im, ims[1], ims[2], ims[3]], [pair_text, "狗", "一棵树", "天空"])
    batch_b = ([pair_im, ims[4], ims[5], ims[1]], [pair_text, long_text, "城市的夜景很美", "猫"])
    batch_c = ([ims[2], ims[4], pair_im, ims[5]], [long_text, "猫", pair_text, "城市的夜景很美"])  # pair at row 2
    out = []
    for (imgs, texts), row in ((batch_a, 0), (batch_b, 0), (batch_c, 2)):
        img, txt = s.embed(np.stack([s.preprocess(im) for im in imgs]), s.tokenize(texts))
        out.append((torch.from_numpy(img[row]), torch.from_numpy(txt[row])))
    for other in out[1:]:
        assert torch.equal(out[0][0], other[0])
        assert torch.equal(out[0][1], other[1])
    # (the training-time text path trims all-padding columns, so there the long neighbour changes the bits)
    # and the same again in a batch of its own size, twice
    one = s.embed(np.stack([s.preprocess(pair_im)]), s.tokenize([pair_text]))
    two = s.embed(np.stack([s.preprocess(pair_im)]), s.tokenize([pair_text]))
    assert all(np.array_equal(a, b) for a, b in zip(one, two))


def test_bf16_autocast_scores_close_to_fp32(tuwen_run):
    s32 = load_scorer(str(tuwen_run[0]))
    s16 = load_scorer(str(tuwen_run[0]), precision="bf16")
    px = np.stack([s32.preprocess(im) for im in _images()])
    ids = s32.tokenize(TEXTS)
    a, b = cosine_scores(*s32.embed(px, ids)), cosine_scores(*s16.embed(px, ids))
    assert b.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=0.05)


# --- Chinese-CLIP --------------------------------------------------------------------------------------------------

SMALL_CN_CLIP = {"embed_dim": 32, "image_resolution": 32, "vision_layers": 2, "vision_width": 64,
                 "vision_patch_size": 16, "vision_head_width": 32, "vocab_size": 21128,
                 "text_attention_probs_dropout_prob": 0.1, "text_hidden_act": "gelu",
                 "text_hidden_dropout_prob": 0.1, "text_hidden_size": 64, "text_initializer_range": 0.02,
                 "text_intermediate_size": 128, "text_max_position_embeddings": 512, "text_num_attention_heads": 2,
                 "text_num_hidden_layers": 2, "text_type_vocab_size": 2}


def _save_as_cn_clip_authors(model, path):
    state = {"module." + k: v for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))]).state_dict()
    torch.save({"epoch": 12, "step": 3400, "name": "muge_finetune", "state_dict": state, "optimizer": opt}, path)
    return path


def _cn_clip_reference(model, resolution, ims, texts):
    import cn_clip.clip as cc

    pre = cc.image_transform(resolution)
    with torch.no_grad():
        return (_norm(model.encode_image(torch.stack([pre(im) for im in ims]))),
                _norm(model.encode_text(cc.tokenize(texts))))


def _check_cn_clip(spec, model, resolution):
    ims = _images()
    ref_i, ref_t = _cn_clip_reference(model, resolution, ims, TEXTS)
    s = load_scorer(spec)
    assert s.kind == "cn_clip" and s.image_size == resolution and s.context_length == 52
    img, txt = s.embed(np.stack([s.preprocess(im) for im in ims]), s.tokenize(TEXTS))
    np.testing.assert_allclose(img, ref_i.numpy(), atol=1e-4)
    np.testing.assert_allclose(txt, ref_t.numpy(), atol=1e-4)
    return s


def test_cn_clip_checkpoint_scores_like_cn_clip_itself(tmp_path, monkeypatch):
    from cn_clip.clip.model import CLIP

    torch.manual_seed(1)
    model = CLIP(**SMALL_CN_CLIP).eval()
    path = _save_as_cn_clip_authors(model, tmp_path / "epoch_latest.pt")
    # a small stand-in for the ViT-B-16 config of cn_clip's wheel, so the test runs in a second
    monkeypatch.setattr(scoring, "_cn_clip_model_info", lambda arch: (dict(SMALL_CN_CLIP), 32))
    s = _check_cn_clip(f"cn_clip:ViT-B-16:{path}", model, 32)
    assert s.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # cn_clip's own tokenizer and ours agree
    import cn_clip.clip as cc

    np.testing.assert_array_equal(s.tokenize(TEXTS), cc.tokenize(TEXTS).numpy())
    # a bare state dict (no "state_dict" wrapper, no module. prefix) loads too
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    _check_cn_clip(f"cn_clip:ViT-B-16:{tmp_path / 'bare.pt'}", model, 32)
    # a checkpoint of another architecture does not fit
    other = CLIP(**{**SMALL_CN_CLIP, "vision_width": 128}).eval()
    _save_as_cn_clip_authors(other, tmp_path / "other.pt")
    with pytest.raises(ScorerError, match="do not fit") as e:
        load_scorer(f"cn_clip:ViT-B-16:{tmp_path / 'other.pt'}")
    assert "\n" not in str(e.value)


def test_cn_clip_wheel_configs_build_every_published_arch_description():
    for arch in scoring.CN_CLIP_ARCHS:
        info, res = scoring._cn_clip_model_info(arch)
        assert res in (224, 336) and info["embed_dim"] > 0 and info["vocab_size"] == 21128
    from cn_clip.clip.utils import _MODEL_INFO

    assert set(_MODEL_INFO) == set(scoring.CN_CLIP_ARCHS)
    for arch, (vision, text, res) in scoring.CN_CLIP_ARCHS.items():
        assert _MODEL_INFO[arch] == {"struct": f"{vision}@{text}", "input_resolution": res}


@pytest.mark.slow
def test_cn_clip_rn50_from_the_wheel_config(tmp_path):
    from cn_clip.clip.model import CLIP

    torch.manual_seed(2)
    info, res = scoring._cn_clip_model_info("RN50")
    model = CLIP(**info).eval()
    path = _save_as_cn_clip_authors(model, tmp_path / "clip_cn_rn50.pt")
    _check_cn_clip(f"cn_clip:RN50:{path}", model, res)


# --- open_clip -----------------------------------------------------------------------------------------------------

TINY_OPEN_CLIP = {"embed_dim": 32,
                  "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
                  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}


@pytest.fixture()
def tiny_open_clip_arch(tmp_path):
    import open_clip

    cfg = tmp_path / "tuwen-test-tiny.json"
    cfg.write_text(json.dumps(TINY_OPEN_CLIP))
    open_clip.add_model_config(cfg)
    return "tuwen-test-tiny"


def _check_open_clip(arch, spec, model):
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    pre = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    tok = open_clip.get_tokenizer(arch)
    ims = _images()
    with torch.no_grad():
        ref_i = model.encode_image(torch.stack([pre(im) for im in ims]), normalize=True)
        ref_t = model.encode_text(tok(TEXTS), normalize=True)
    s = load_scorer(spec)
    assert s.kind == "open_clip" and s.context_length == 77
    ids = s.tokenize(TEXTS)
    np.testing.assert_array_equal(ids, tok(TEXTS).numpy())
    img, txt = s.embed(np.stack([s.preprocess(im) for im in ims]), ids)
    np.testing.assert_allclose(img, ref_i.numpy(), atol=1e-4)
    np.testing.assert_allclose(txt, ref_t.numpy(), atol=1e-4)


def test_open_clip_state_dict_scores_like_open_clip_itself(tmp_path, tiny_open_clip_arch):
    import open_clip

    torch.manual_seed(3)
    arch = tiny_open_clip_arch
    model = open_clip.create_model(arch, pretrained=None).eval()
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    _check_open_clip(arch, f"open_clip:{arch}:{tmp_path / 'sd.pt'}", model)
    # open_clip's training checkpoint layout and safetensors
    torch.save({"epoch": 1, "name": "x", "state_dict": {"module." + k: v for k, v in model.state_dict().items()}},
               tmp_path / "epoch_1.pt")
    _check_open_clip(arch, f"open_clip:{arch}:{tmp_path / 'epoch_1.pt'}", model)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    _check_open_clip(arch, f"open_clip:{arch}:{tmp_path / 'm.safetensors'}", model)


def test_open_clip_arch_needing_the_hub_tokenizer_is_refused(tmp_path):
    (tmp_path / "w.pt").write_bytes(b"")
    for arch in ("ViT-B-16-SigLIP", "mt5-base-ViT-B-32", "xlm-roberta-base-ViT-B-32"):
        with pytest.raises(ScorerError, match="Hugging Face hub") as e:
            load_scorer(f"open_clip:{arch}:{tmp_path / 'w.pt'}")
        assert "\n" not in str(e.value)


@pytest.mark.slow
def test_open_clip_vit_s_32(tmp_path):
    import open_clip

    torch.manual_seed(4)
    model = open_clip.create_model("ViT-S-32", pretrained=None).eval()
    torch.save(model.state_dict(), tmp_path / "vit-s-32.pt")
    _check_open_clip("ViT-S-32", f"open_clip:ViT-S-32:{tmp_path / 'vit-s-32.pt'}", model)


# --- pickled code --------------------------------------------------------------------------------------------------

def test_checkpoints_that_would_run_pickled_code_are_refused(tmp_path, tiny_open_clip_arch):
    marker = tmp_path / "PWNED"
    evil = _poisoned_pt(tmp_path / "evil.pt", marker)
    for spec in (f"cn_clip:ViT-B-16:{evil}", f"cn_clip:RN50:{evil}", f"open_clip:{tiny_open_clip_arch}:{evil}",
                 str(evil), f"tuwen:{evil}"):
        with pytest.raises(ScorerError, match="refused: loading it would run pickled code") as e:
            load_scorer(spec)
        assert "\n" not in str(e.value)
        assert not marker.exists(), spec
    # the payload is real: plain unpickling would have run it
    torch.load(evil, weights_only=False)
    assert marker.exists()
