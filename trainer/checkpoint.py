"""Saving and loading weights in every form the trainer accepts.

Written by ``tuwen train``:
- a model folder (``DIR/final/``, and each ``DIR/checkpoints/step-N/``): ``model.safetensors``, ``config.json``
  (the model config), ``vocab.txt``; checkpoint folders add ``train_state.pt`` (optimizer, step, RNG, teacher, queue).

Read by ``--init`` / ``tuwen eval --checkpoint`` / ``load_for_inference``:
- a run folder (its ``final/``, else its newest checkpoint), a model or checkpoint folder, a ``.safetensors`` file
  with ``config.json`` beside it;
- a Chinese-CLIP ``.pt`` (``{"state_dict": ...}`` with DDP's ``module.`` prefix, or a bare state dict) -> ``base``;
- an open_clip checkpoint (``.pt`` with ``state_dict``) with its model config JSON beside it or in the parent folder
  (``open_clip_config.json`` or the one ``*.json`` there), trained with a BERT text tower (``text.transformer.*``).

Nothing is loaded by running pickled code: ``.pt`` files go through ``torch.load(..., weights_only=True)`` (tensors,
plain containers and numbers only); a file whose loading would call anything else is refused with
``UnsafeCheckpointError`` (a ``ValueError``, one line).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from .model import DualEncoder, build_model, build_model_from_config, image_preprocess, model_config
from .tokenizer import load_tokenizer

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TRAIN_STATE = "train_state.pt"


class UnsafeCheckpointError(ValueError):
    """A ``.pt`` file whose loading would run pickled code (anything beyond tensors and plain containers)."""


def _unpickling_reason(err: Exception) -> str:
    """The telling part of torch's (long, multi-line) weights_only error, e.g. ``Unsupported global: GLOBAL
    posix.system``."""
    text = " ".join(str(err).split())
    for marker in ("Unsupported global: GLOBAL ", "Unsupported operand", "Unsupported class"):
        at = text.find(marker)
        if at >= 0:
            words = text[at:].split(" ")
            return " ".join(words[: 4 if marker.startswith("Unsupported global") else 3]).rstrip(".,")
    return (text or type(err).__name__)[:160]


def safe_torch_load(path: str | os.PathLike, map_location="cpu", extra_safe_globals=()):
    """``torch.load(path, weights_only=True)``; a file that would need pickled code -> ``UnsafeCheckpointError``.

    ``extra_safe_globals`` are further globals the caller trusts (passed to ``torch.serialization.safe_globals``)."""
    import pickle

    try:
        if extra_safe_globals:
            with torch.serialization.safe_globals(list(extra_safe_globals)):
                return torch.load(str(path), map_location=map_location, weights_only=True)
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = _unpickling_reason(e)
        if "global" in reason.lower() or "class" in reason.lower():
            msg = f"refused: loading it would run pickled code ({reason}); only plain weights files are loaded"
        else:
            msg = (f"refused: not a plain weights file (torch's weights-only loader stopped at: {reason}); "
                   "loading it any other way could run pickled code")
        raise UnsafeCheckpointError(f"{path}: {msg}") from None


def save_model_folder(folder: str | os.PathLike, model: DualEncoder, tokenizer) -> Path:
    """Write weights, config and vocab to ``folder`` (atomically: a temporary folder renamed at the end)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS))
    (tmp / CONFIG).write_text(json.dumps(model.config, indent=2, ensure_ascii=False), encoding="utf-8")
    tokenizer.save(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def save_train_checkpoint(run_dir: str | os.PathLike, step: int, model, tokenizer, train_state: dict,
                          keep: int = 2) -> Path:
    folder = Path(run_dir) / "checkpoints" / f"step-{step}"
    save_model_folder(folder, model, tokenizer)
    torch.save(train_state, folder / (TRAIN_STATE + ".tmp"))
    os.replace(folder / (TRAIN_STATE + ".tmp"), folder / TRAIN_STATE)
    if keep > 0:
        for old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders (with train_state.pt), oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if (p / TRAIN_STATE).is_file() and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def resume_folder(resume: str, run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint ``--resume`` names: the newest in ``run_dir`` for ``auto`` (None if there is none), else
    the folder given."""
    return latest_checkpoint(run_dir) if resume == "auto" else Path(resume)


def _strip_prefix(state: dict, prefix: str = "module.") -> dict:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def _open_clip_config_for(path: Path) -> dict | None:
    for folder in (path.parent, path.parent.parent):
        named = folder / "open_clip_config.json"
        if named.is_file():
            return json.loads(named.read_text())
        jsons = [p for p in folder.glob("*.json") if p.name not in ("results.jsonl", "params.txt")]
        if len(jsons) == 1:
            return json.loads(jsons[0].read_text())
    return None


def open_clip_to_tuwen(state: dict, oc_cfg: dict) -> tuple[dict, dict]:
    """An open_clip CLIP with an HF BERT text tower (``text.transformer.*``, linear ``text.proj``) -> (tuwen config,
    tuwen state dict). The vision tower keys are already identical."""
    cfg = oc_cfg.get("model_cfg", oc_cfg)
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    hf = t.get("hf_config") or {}
    if not hf and t.get("hf_model_name") and Path(t["hf_model_name"], "config.json").is_file():
        hf = json.loads(Path(t["hf_model_name"], "config.json").read_text())
    heads_v = v["width"] // v.get("head_width", 64)
    out_state = {}
    for k, val in state.items():
        if k.startswith("visual."):
            out_state[k] = val
        elif k.startswith("text.transformer.") and ".pooler." not in k and "position_ids" not in k:
            out_state["bert." + k[len("text.transformer."):]] = val
        elif k == "text.proj.weight":
            out_state["text_projection"] = val.t().contiguous()
        elif k == "logit_scale":
            out_state[k] = val
    tuwen_cfg = {
        "name": "open_clip",
        "embed_dim": cfg["embed_dim"],
        "vision": {"image_size": v["image_size"], "patch_size": v["patch_size"], "width": v["width"],
                   "layers": v["layers"], "heads": heads_v, "mlp_ratio": v.get("mlp_ratio", 4.0)},
        "text": {"vocab_size": hf["vocab_size"], "hidden_size": hf["hidden_size"], "layers": hf["num_hidden_layers"],
                 "heads": hf["num_attention_heads"], "intermediate_size": hf["intermediate_size"],
                 "max_position_embeddings": hf["max_position_embeddings"], "type_vocab_size": hf["type_vocab_size"],
                 "context_length": t.get("context_length", 52), "hidden_dropout": 0.0, "attention_dropout": 0.0},
    }
    return tuwen_cfg, out_state


def resolve_model_folder(path: str | os.PathLike) -> Path | None:
    """A folder holding model.safetensors: the folder itself, a run's final/, or a run's newest checkpoint."""
    p = Path(path)
    if not p.is_dir():
        return None
    if (p / WEIGHTS).is_file():
        return p
    if (p / "final" / WEIGHTS).is_file():
        return p / "final"
    latest = latest_checkpoint(p)
    return latest


def load_weights(path: str | os.PathLike) -> tuple[dict, dict, Path | None]:
    """Any accepted weights -> (tuwen model config, state dict, folder with a vocab or None)."""
    p = Path(path)
    folder = resolve_model_folder(p)
    if folder is not None:
        from safetensors.torch import load_file

        cfg = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        return cfg, load_file(str(folder / WEIGHTS)), folder
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        cfg = json.loads((p.parent / CONFIG).read_text(encoding="utf-8"))
        return cfg, load_file(str(p)), p.parent
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p}")
    obj = safe_torch_load(p)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        raise ValueError(f"unrecognised checkpoint layout in {p}: not a state dict")
    state = _strip_prefix(dict(state))
    if any(k.startswith("text.transformer.") for k in state):
        oc_cfg = _open_clip_config_for(p)
        if oc_cfg is None:
            raise ValueError(f"{p} looks like an open_clip checkpoint but no model config JSON is beside it")
        cfg, state = open_clip_to_tuwen(state, oc_cfg)
        return cfg, state, None
    if any(k.startswith("bert.") for k in state):
        # Chinese-CLIP layout (the same names as tuwen's). Chinese-CLIP's trainer drops bert.pooler when loading.
        state = {k: v for k, v in state.items() if "bert.pooler" not in k}
        return model_config("base"), state, None
    raise ValueError(f"unrecognised checkpoint layout in {p}")


def load_into(model: DualEncoder, path: str | os.PathLike) -> None:
    """Strictly load weights from any accepted form into an existing model (``--init``)."""
    _, state, _ = load_weights(path)
    model.load_state_dict(state, strict=True)


def load_model(path: str | os.PathLike) -> tuple[DualEncoder, Path | None]:
    cfg, state, folder = load_weights(path)
    model = build_model_from_config(cfg)
    model.load_state_dict(state, strict=True)
    return model, folder


def load_for_inference(path: str | os.PathLike):
    """(model in eval mode, tokenizer, PIL->tensor preprocess) from anything ``tuwen eval --checkpoint`` accepts."""
    model, folder = load_model(path)
    model.eval()
    tokenizer = load_tokenizer(folder, context_length=model.context_length)
    return model, tokenizer, image_preprocess(model.image_size)


__all__ = ["UnsafeCheckpointError", "safe_torch_load", "save_model_folder", "save_train_checkpoint", "latest_checkpoint",
           "list_checkpoints", "load_weights", "load_into", "load_model", "load_for_inference", "build_model"]
