"""Image-text scoring with a trained dual encoder, free of Beam: ``load_scorer(SPEC)`` -> ``Scorer``.

SPEC names the model and where its weights are:

- ``PATH`` (or ``tuwen:PATH``): a ``tuwen train`` run folder, its ``final/``, a checkpoint folder, any folder with
  ``model.safetensors`` + ``config.json`` (any variant), or such a ``.safetensors`` file; the folder's ``vocab.txt``
  tokenizes and the trainer's own evaluation transform preprocesses (resize the short side, centre crop).
- ``cn_clip:ARCH:PATH``: a Chinese-CLIP checkpoint as its authors distribute it (a torch ``.pt`` with
  ``{"state_dict": ...}``, DDP ``module.`` prefixes allowed, or a bare state dict), ARCH one of Chinese-CLIP's
  published models (``CN_CLIP_ARCHS``). The model is built by the ``cn_clip`` package's own code from the JSON configs
  in its wheel, its preprocessing is cn_clip's ``image_transform`` (a square bicubic resize, no crop) and its
  tokenizer the cn_clip vocabulary (``ChineseWordPieceTokenizer``, identical ids to ``cn_clip.clip.tokenize``).
- ``open_clip:ARCH:PATH``: an open_clip architecture (``open_clip.create_model(ARCH, pretrained=None)``) with the
  weights in PATH (a state dict, open_clip's ``{"state_dict": ...}`` training checkpoint or ``.safetensors``), its own
  tokenizer and its own eval transform. Architectures whose tokenizer or text tower must come from the Hugging Face
  hub are refused.

PATH may be a remote URI (``gs://``, ``s3://``): ``load_scorer(..., fetch=f)`` calls ``f(uri) -> local path`` for it
(for a tuwen folder the fetcher must return a local folder). Nothing is ever downloaded here, and nothing is loaded by
running pickled code (safetensors, or ``torch.load(weights_only=True)``). Every problem with a SPEC -- unknown kind
or architecture, missing file, a pickle that would run code, weights that do not fit the architecture -- is a
``ScorerError`` with a one-line message.

Scores are reproducible per row: texts are always embedded at the full context length (the tuwen text tower's usual
trimming of all-padding columns depends on the batch), and ``load_scorer`` fixes torch's thread count.
"""
from __future__ import annotations

import hashlib
import os
import re
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np

KINDS = ("tuwen", "cn_clip", "open_clip")
# Chinese-CLIP's published models (cn_clip.clip.utils._MODEL_INFO): vision config, text config, input resolution.
CN_CLIP_ARCHS = {
    "ViT-B-16": ("ViT-B-16", "RoBERTa-wwm-ext-base-chinese", 224),
    "ViT-L-14": ("ViT-L-14", "RoBERTa-wwm-ext-base-chinese", 224),
    "ViT-L-14-336": ("ViT-L-14-336", "RoBERTa-wwm-ext-base-chinese", 336),
    "ViT-H-14": ("ViT-H-14", "RoBERTa-wwm-ext-large-chinese", 224),
    "RN50": ("RN50", "RBT3-chinese", 224),
}
CN_CLIP_CONTEXT_LENGTH = 52
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")


class ScorerError(ValueError):
    """A bad scorer SPEC (or device/precision): the message is one line; command-line callers exit 2."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    """SPEC -> (kind, arch, path). ``kind`` is one of ``KINDS``; ``arch`` is None for tuwen models."""
    if not isinstance(spec, str) or not spec.strip():
        raise ScorerError("empty scorer spec; give a tuwen model folder, cn_clip:ARCH:PATH or open_clip:ARCH:PATH")
    spec = spec.strip()
    m = re.match(r"^([A-Za-z][\w.-]*):(?!//)", spec)
    if m is None or os.path.exists(spec):  # a plain path, or a URI such as gs://bucket/run
        return "tuwen", None, spec
    kind, rest = m.group(1), spec[m.end():]
    if kind == "tuwen":
        if not rest:
            raise ScorerError(f"scorer spec {spec!r}: tuwen:PATH needs a path")
        return "tuwen", None, rest
    if kind not in KINDS:
        raise ScorerError(f"scorer spec {spec!r}: unknown kind {kind!r}; use a tuwen model folder, "
                          "cn_clip:ARCH:PATH or open_clip:ARCH:PATH")
    arch, sep, path = rest.partition(":")
    if not arch or not sep or not path:
        raise ScorerError(f"scorer spec {spec!r}: expected {kind}:ARCH:PATH")
    if kind == "cn_clip" and arch not in CN_CLIP_ARCHS:
        raise ScorerError(f"scorer spec {spec!r}: unknown Chinese-CLIP architecture {arch!r}; "
                          f"choose one of {', '.join(CN_CLIP_ARCHS)}")
    return kind, arch, path


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _strip_module(state: dict) -> dict:
    if state and all(isinstance(k, str) and k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def _read_state_dict(path: Path) -> dict:
    """A weights file (``.safetensors``, or a torch file loaded with weights_only) -> a flat state dict."""
    import torch

    from .checkpoint import UnsafeCheckpointError, safe_torch_load

    if not path.is_file():
        raise ScorerError(f"no weights file at {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:  # noqa: BLE001 - any unreadable file is a bad spec
            raise ScorerError(f"{path}: not a readable safetensors file ({_one_line(e, 150)})") from None
    try:
        obj = safe_torch_load(path)
    except UnsafeCheckpointError as e:
        raise ScorerError(_one_line(e)) from None
    except Exception as e:  # noqa: BLE001 - truncated or foreign files
        raise ScorerError(f"{path}: not a readable torch checkpoint ({_one_line(e, 150)})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ScorerError(f"{path}: not a state dict (a mapping of parameter names to tensors)")
    return _strip_module(dict(obj))


def _load_strict(model, state: dict, path: Path, what: str) -> None:
    """``model.load_state_dict(state, strict=True)`` with a one-line ScorerError on any mismatch."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} of another shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                         f"{tuple(own[k].shape)} in {what})")
        raise ScorerError(f"{path}: the weights do not fit {what}: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


class Scorer:
    """A loaded image-text model. ``preprocess`` and ``tokenize`` give numpy inputs, ``embed`` L2-normalised
    float32 embeddings; ``cosine_scores(*scorer.embed(pixels, ids))`` the per-pair score."""

    spec: str
    kind: str
    arch: str | None
    path: str
    weights_sha256: str
    image_size: int
    embed_dim: int
    context_length: int
    device: str
    precision: str

    def __init__(self, *, spec: str, kind: str, arch: str | None, path: str, weights_sha256: str, image_size: int,
                 embed_dim: int, context_length: int, model, encode_image: Callable, encode_text: Callable,
                 preprocess: Callable, tokenizer: Callable, device: str, precision: str):
        self.spec, self.kind, self.arch, self.path = spec, kind, arch, path
        self.weights_sha256 = weights_sha256
        self.image_size, self.embed_dim, self.context_length = int(image_size), int(embed_dim), int(context_length)
        self.device, self.precision = device, precision
        self.model = model
        self._encode_image, self._encode_text = encode_image, encode_text
        self._preprocess, self._tokenizer = preprocess, tokenizer

    def __repr__(self) -> str:
        return (f"Scorer({self.spec!r}, kind={self.kind}, device={self.device}, precision={self.precision}, "
                f"sha256={self.weights_sha256[:12]})")

    def preprocess(self, im) -> np.ndarray:
        """A decoded PIL image -> float32 [3, H, W] (the model's own evaluation transform)."""
        return np.ascontiguousarray(self._preprocess(im).numpy(), dtype=np.float32)

    def tokenize(self, texts: list[str]) -> np.ndarray:
        """Texts -> int64 [N, context_length], always padded to the full context length."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.context_length), dtype=np.int64)
        ids = self._tokenizer(texts)
        out = np.ascontiguousarray(ids.numpy(), dtype=np.int64)
        assert out.shape == (len(texts), self.context_length), out.shape
        return out

    def _autocast(self):
        import torch

        if self.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device, dtype=dtype)

    def embed(self, pixels: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(image_emb [B, D], text_emb [N, D]), float32 and L2-normalised. Each row depends only on its own input
        (texts are run at the full context length), so a pair scores the same whatever batch it is in."""
        import torch
        import torch.nn.functional as F

        pixels = np.asarray(pixels, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        out = []
        with torch.inference_mode():
            for arr, fn, ndim in ((pixels, self._encode_image, 4), (ids, self._encode_text, 2)):
                if arr.ndim != ndim:
                    raise ValueError(f"expected a {ndim}-d batch, got shape {arr.shape}")
                if len(arr) == 0:
                    out.append(np.zeros((0, self.embed_dim), dtype=np.float32))
                    continue
                x = torch.from_numpy(np.ascontiguousarray(arr)).to(self.device)
                with self._autocast():
                    emb = fn(x)
                emb = F.normalize(emb.float(), dim=-1)
                out.append(np.ascontiguousarray(emb.cpu().numpy(), dtype=np.float32))
        return out[0], out[1]


def cosine_scores(img: np.ndarray, txt: np.ndarray) -> np.ndarray:
    """Row-wise dot products of L2-normalised embeddings (the cosine of each pair), float32 [B]."""
    img = np.asarray(img, dtype=np.float32)
    txt = np.asarray(txt, dtype=np.float32)
    if img.shape != txt.shape or img.ndim != 2:
        raise ValueError(f"image and text embeddings must both be [B, D]; got {img.shape} and {txt.shape}")
    return np.einsum("ij,ij->i", img, txt).astype(np.float32, copy=False)


# --- loaders -------------------------------------------------------------------------------------------------------

def _tuwen_text_full_length(model):
    """encode_text of a tuwen DualEncoder on the full ``ids`` (no trimming of all-padding columns; the same masking
    as ``BertTextTower.forward``), so that a row's embedding does not depend on the other rows of the batch."""
    import torch

    from .model import PAD_ID

    def encode_text(ids):
        keep = ids.ne(PAD_ID)
        bias = torch.zeros(ids.shape, dtype=torch.float32, device=ids.device).masked_fill(~keep, -1e4)
        hidden = model.bert.encoder(model.bert.embeddings(ids), bias[:, None, None, :])
        return hidden[:, 0] @ model.text_projection

    return encode_text


def _load_tuwen(path: Path) -> dict:
    from .checkpoint import WEIGHTS, UnsafeCheckpointError, load_weights, resolve_model_folder
    from .model import build_model_from_config, image_preprocess
    from .tokenizer import load_tokenizer

    folder = resolve_model_folder(path)
    if folder is not None:
        weights = folder / WEIGHTS
    elif path.is_file():
        weights = path
    else:
        raise ScorerError(f"no tuwen model at {path} (expected a run folder, its final/, or a folder with "
                          "model.safetensors and config.json)")
    if weights.suffix == ".safetensors" and folder is None and not (weights.parent / "config.json").is_file():
        raise ScorerError(f"{weights}: no config.json beside it")
    try:
        cfg, state, vocab_folder = load_weights(path)
    except UnsafeCheckpointError as e:
        raise ScorerError(_one_line(e)) from None
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        raise ScorerError(f"{path}: cannot load a tuwen model ({_one_line(e, 200)})") from None
    try:
        model = build_model_from_config(cfg)
    except (KeyError, TypeError, ValueError) as e:
        raise ScorerError(f"{path}: config.json does not describe a tuwen model ({_one_line(e, 150)})") from None
    _load_strict(model, state, weights, f"the {cfg.get('name', 'tuwen')} model of its config.json")
    return dict(model=model, weights=weights, image_size=model.image_size, embed_dim=cfg["embed_dim"],
                context_length=model.context_length, preprocess=image_preprocess(model.image_size),
                tokenizer=load_tokenizer(vocab_folder, context_length=model.context_length),
                encode_image=lambda px: model.encode_image(px, normalize=False),
                encode_text=_tuwen_text_full_length(model))


def _cn_clip_model_info(arch: str) -> tuple[dict, int]:
    """(CLIP(**kwargs) of cn_clip, input resolution) for a published arch, from the JSON configs in cn_clip's wheel."""
    import json

    import cn_clip.clip

    vision, text, resolution = CN_CLIP_ARCHS[arch]
    folder = Path(cn_clip.clip.__file__).parent / "model_configs"
    info = json.loads((folder / f"{vision}.json").read_text(encoding="utf-8"))
    info.update(json.loads((folder / f"{text}.json").read_text(encoding="utf-8")))
    if isinstance(info["vision_layers"], str):  # RN50: "[3,4,6,3]" (cn_clip eval()s it; it is JSON)
        info["vision_layers"] = json.loads(info["vision_layers"])
    return info, resolution


def _load_cn_clip(arch: str, path: Path) -> dict:
    try:
        from cn_clip.clip.model import CLIP
        from cn_clip.clip.utils import image_transform
    except ImportError as e:
        raise ScorerError(f"cn_clip:{arch}: the cn_clip package is not importable ({_one_line(e, 150)}); "
                          "install cn_clip==1.6.0 --no-deps") from None
    from .tokenizer import ChineseWordPieceTokenizer

    state = _read_state_dict(path)
    # Chinese-CLIP's own loader (cn_clip.clip.utils.create_model) drops bert.pooler, which its model does not have.
    state = {k: v for k, v in state.items() if "bert.pooler" not in k}
    info, resolution = _cn_clip_model_info(arch)
    model = CLIP(**info)  # fp32 (cn_clip's convert_weights would halve it; load_from_name floats it back on CPU)
    _load_strict(model, state, path, f"Chinese-CLIP {arch}")
    return dict(model=model, weights=path, image_size=resolution, embed_dim=info["embed_dim"],
                context_length=CN_CLIP_CONTEXT_LENGTH, preprocess=image_transform(resolution),
                tokenizer=ChineseWordPieceTokenizer(None, CN_CLIP_CONTEXT_LENGTH),
                encode_image=model.encode_image, encode_text=model.encode_text)


def _load_open_clip(arch: str, path: Path) -> dict:
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    if arch not in open_clip.list_models():
        raise ScorerError(f"open_clip:{arch}: unknown open_clip architecture (see open_clip.list_models())")
    cfg = open_clip.get_model_config(arch) or {}
    text_cfg = cfg.get("text_cfg", {})
    if text_cfg.get("hf_tokenizer_name") or text_cfg.get("hf_model_name") or "siglip" in arch.lower():
        raise ScorerError(f"open_clip:{arch}: its tokenizer (or text tower) comes from the Hugging Face hub, which "
                          "is not used here; choose an architecture with open_clip's built-in tokenizer")
    state = _read_state_dict(path)
    try:
        model = open_clip.create_model(arch, pretrained=None, device="cpu", pretrained_image=False,
                                       pretrained_text=False)
    except Exception as e:  # noqa: BLE001 - whatever open_clip raises for an arch it cannot build offline
        raise ScorerError(f"open_clip:{arch}: cannot build the model offline ({_one_line(e, 150)})") from None
    _load_strict(model, state, path, f"open_clip {arch}")
    pp = PreprocessCfg(**model.visual.preprocess_cfg)
    size = pp.size if isinstance(pp.size, int) else pp.size[0]
    return dict(model=model, weights=path, image_size=size, embed_dim=cfg["embed_dim"],
                context_length=text_cfg.get("context_length", 77),
                preprocess=image_transform_v2(pp, is_train=False), tokenizer=open_clip.get_tokenizer(arch),
                encode_image=lambda px: model.encode_image(px, normalize=False),
                encode_text=lambda ids: model.encode_text(ids, normalize=False))


def _resolve_device(device: str) -> str:
    import torch

    if device not in DEVICES:
        raise ScorerError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ScorerError("device cuda requested but no CUDA GPU is available")
    return device


def load_scorer(spec: str, device: str = "cpu", precision: str = "fp32", threads: int = 1,
                fetch: Callable[[str], str] | None = None) -> Scorer:
    """Load the model SPEC names (see the module docstring) for scoring; every bad SPEC is a one-line ScorerError.

    ``device``: auto (cuda if available) | cpu | cuda. ``precision``: fp32 | bf16 (autocast) | fp16 (autocast, cuda
    only). ``threads``: ``torch.set_num_threads(threads)`` (fixed for reproducible bits; 0 or None leaves torch's
    default). ``fetch``: ``uri -> local path`` for remote PATHs (anything with ``://``)."""
    import torch

    kind, arch, path = parse_spec(spec)
    if precision not in PRECISIONS:
        raise ScorerError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    dev = _resolve_device(device)
    if precision == "fp16" and dev != "cuda":
        raise ScorerError("precision fp16 needs a CUDA GPU (use bf16 or fp32 on CPU)")
    if threads:
        torch.set_num_threads(int(threads))
    if "://" in path:
        if fetch is None:
            raise ScorerError(f"scorer weights {path!r} are remote and no fetcher was given; copy them locally")
        try:
            local = fetch(path)
        except Exception as e:  # noqa: BLE001 - a failed copy is a bad spec
            raise ScorerError(f"cannot fetch {path}: {_one_line(e, 200)}") from None
        local_path = Path(local)
    else:
        local_path = Path(path).expanduser()
    if not local_path.exists():
        raise ScorerError(f"scorer spec {spec!r}: {local_path} does not exist")
    if kind == "tuwen":
        parts = _load_tuwen(local_path)
    elif kind == "cn_clip":
        if not local_path.is_file():
            raise ScorerError(f"cn_clip:{arch}: {local_path} is not a checkpoint file")
        parts = _load_cn_clip(arch, local_path)
    else:
        if not local_path.is_file():
            raise ScorerError(f"open_clip:{arch}: {local_path} is not a weights file")
        parts = _load_open_clip(arch, local_path)
    model = parts["model"]
    model.eval()
    model.requires_grad_(False)
    model.to(dev)
    return Scorer(spec=spec, kind=kind, arch=arch, path=path, weights_sha256=_sha256_file(parts["weights"]),
                  image_size=parts["image_size"], embed_dim=parts["embed_dim"],
                  context_length=parts["context_length"], model=model, encode_image=parts["encode_image"],
                  encode_text=parts["encode_text"], preprocess=parts["preprocess"], tokenizer=parts["tokenizer"],
                  device=dev, precision=precision)


__all__ = ["ScorerError", "Scorer", "parse_spec", "load_scorer", "cosine_scores", "KINDS", "CN_CLIP_ARCHS"]
