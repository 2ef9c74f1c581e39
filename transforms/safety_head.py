"""The safety head, Beam-free: a small classifier on a scorer's image embeddings (the LAION approach), its file, and
its verdict.

``tuwen safety-head`` (``pipeline/safety_head.py``) trains one from a manifest whose rows carry ``label``
(``safe`` / ``unsafe``): the scorer embeds each image exactly as ``tuwen run`` does, and the head is fit on those
L2-normalised embeddings. ``tuwen run --scorer SPEC --safety-head PATH`` then rejects an image whose probability of
``unsafe`` is at least the head's threshold as ``unsafe_image_head``. A head belongs to the scorer whose embeddings it
was trained on (thresholds and heads do not carry across models): the file names that scorer's weights by sha256,
and a run with another scorer is refused.

The file is safetensors: ``layer{i}.weight`` [out, in] and ``layer{i}.bias`` [out] (ReLU between layers, a sigmoid
after the last, whose output is one logit), and string metadata (:data:`HEAD_FORMAT`, the scorer, the threshold, the
training figures). Applying it needs numpy alone; training needs torch (the scorer's own dependency).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

HEAD_FORMAT = "tuwen-safety-head/1"
LABELS = ("safe", "unsafe")  # a manifest row's `label`; unsafe is the positive class
HEAD_DECIMALS = 4  # the probability written as `safety_head` and compared with the threshold
# Training defaults. A linear head (logistic regression) by default: labelled unsafe images are few, and a linear
# probe on CLIP embeddings generalises where an MLP would learn the training photos; --hidden N makes it an MLP.
DEFAULT_HIDDEN = 0
DEFAULT_STEPS = 500  # full-batch L-BFGS iterations (at most)
DEFAULT_WEIGHT_DECAY = 1e-3  # the L2 penalty on the weights
DEFAULT_VAL_SHARE = 0.2  # held out (stratified, fixed seed) to choose the threshold and report recall
DEFAULT_TARGET_SAFE_DROPPED = 0.01  # the threshold drops at most this share of the held-out safe images
SPLIT_SEED = 0


class HeadError(ValueError):
    """A head file that cannot be used (unreadable, not a tuwen head, the wrong scorer); one line."""


@dataclass(frozen=True)
class SafetyHead:
    """A loaded head: its layers (numpy float32), the threshold, and the scorer it belongs to (small, picklable)."""
    weights: tuple
    biases: tuple
    threshold: float
    scorer_sha256: str
    scorer_spec: str
    source: str
    about: dict = field(default_factory=dict, compare=False)  # the training figures, as the file says them

    @property
    def embed_dim(self) -> int:
        return int(self.weights[0].shape[1])


def round_probability(p: float) -> float:
    return round(float(p), HEAD_DECIMALS)


def head_probabilities(head: SafetyHead, embeddings) -> list[float]:
    """P(unsafe) of each L2-normalised embedding ([N, D] or [D]), in float64, rounded: a row's value depends on that
    row alone."""
    import numpy as np

    x = np.atleast_2d(np.asarray(embeddings, np.float64))
    for i, (w, b) in enumerate(zip(head.weights, head.biases)):
        x = x @ np.asarray(w, np.float64).T + np.asarray(b, np.float64)
        if i < len(head.weights) - 1:
            x = np.maximum(x, 0.0)
    logits = x[:, 0]
    return [round_probability(p) for p in 1.0 / (1.0 + np.exp(-logits))]


def save_head(path: str, weights: Sequence, biases: Sequence, metadata: dict) -> None:
    """Write a head file (``metadata`` values become strings; dicts and lists as JSON)."""
    import numpy as np
    from safetensors.numpy import save_file

    tensors = {}
    for i, (w, b) in enumerate(zip(weights, biases)):
        tensors[f"layer{i}.weight"] = np.ascontiguousarray(w, np.float32)
        tensors[f"layer{i}.bias"] = np.ascontiguousarray(b, np.float32)
    meta = {"format": HEAD_FORMAT}
    meta.update({k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in metadata.items()})
    save_file(tensors, path, metadata=meta)


def load_head(local_path: str, source: Optional[str] = None) -> SafetyHead:
    """A head file on local disk (``source``: the name to say, e.g. the gs:// path it came from); HeadError with
    the reason."""
    from safetensors import safe_open

    source = source or local_path
    try:
        with safe_open(local_path, framework="numpy") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as e:
        raise HeadError(f"{source}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    if meta.get("format") != HEAD_FORMAT:
        raise HeadError(f"{source}: not a tuwen safety head (format {meta.get('format')!r}, expected "
                        f"{HEAD_FORMAT!r}; tuwen safety-head writes one)")
    n = 0
    while f"layer{n}.weight" in tensors:
        n += 1
    try:
        weights = tuple(tensors[f"layer{i}.weight"] for i in range(n))
        biases = tuple(tensors[f"layer{i}.bias"] for i in range(n))
        threshold = float(meta["threshold"])
        ok = n > 0 and weights[-1].shape[0] == 1 and all(
            w.ndim == 2 and b.shape == (w.shape[0],) for w, b in zip(weights, biases)) and all(
            weights[i + 1].shape[1] == weights[i].shape[0] for i in range(n - 1))
    except (KeyError, ValueError) as e:
        raise HeadError(f"{source}: a damaged head ({type(e).__name__}: {e})") from None
    if not ok or not 0.0 <= threshold <= 1.0 or len(tensors) != 2 * n:
        raise HeadError(f"{source}: a damaged head (layer shapes {[tuple(w.shape) for w in weights]})")
    about = {k: json.loads(v) for k, v in meta.items() if k in ("trained", "validation")}
    return SafetyHead(weights, biases, threshold, meta.get("scorer_sha256", ""), meta.get("scorer", ""), source,
                      about)


def check_head_fits(head: SafetyHead, scorer_sha256: str, embed_dim: int) -> None:
    """HeadError unless the head was trained on this scorer's embeddings."""
    if head.embed_dim != embed_dim:
        raise HeadError(f"{head.source}: the head takes {head.embed_dim}-d embeddings, the --scorer gives {embed_dim}")
    if head.scorer_sha256 != scorer_sha256:
        raise HeadError(f"{head.source}: trained on the embeddings of scorer {head.scorer_spec or '?'} (weights "
                        f"sha256 {head.scorer_sha256[:12]}), not this --scorer's ({scorer_sha256[:12]}): a head does "
                        "not carry across models; train one with tuwen safety-head --scorer SPEC")


def stratified_split(labels: Sequence[int], val_share: float, seed: int = SPLIT_SEED) -> tuple[list, list]:
    """(train indices, validation indices): ``val_share`` of each class held out (at least one of a class with two
    or more), the same for the same labels and seed."""
    import random

    rng = random.Random(seed)
    train, val = [], []
    for cls in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == cls]
        rng.shuffle(members)
        k = round(len(members) * val_share)
        if val_share > 0 and len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        else:
            k = 0
        val += members[:k]
        train += members[k:]
    return sorted(train), sorted(val)


def train_head(embeddings, labels: Sequence[int], hidden: int = DEFAULT_HIDDEN, steps: int = DEFAULT_STEPS,
               weight_decay: float = DEFAULT_WEIGHT_DECAY, seed: int = SPLIT_SEED):
    """(weights, biases) as numpy float32: a linear head (``hidden`` 0: L2-regularised logistic regression) or a
    one-hidden-layer MLP, fit by full-batch L-BFGS on the class-balanced logistic loss (each class weighs half,
    however few unsafe images there are) plus ``weight_decay`` * |W|^2 / 2. Deterministic for the same inputs on
    one machine (CPU, float64, fixed seed)."""
    import numpy as np
    import torch
    from torch import nn

    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(embeddings), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.float64)
    dim = x.shape[1]
    layers = [nn.Linear(dim, 1)] if hidden <= 0 else [nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1)]
    model = nn.Sequential(*layers).double()
    n_pos = float(y.sum())
    n_neg = float(len(y)) - n_pos
    weight = torch.where(y > 0, 0.5 / max(n_pos, 1.0), 0.5 / max(n_neg, 1.0))
    loss_fn = nn.BCEWithLogitsLoss(weight=weight, reduction="sum")
    linears = [m for m in model if isinstance(m, nn.Linear)]
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=steps, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        opt.zero_grad()
        loss = loss_fn(model(x).squeeze(1), y) + 0.5 * weight_decay * sum((m.weight ** 2).sum() for m in linears)
        loss.backward()
        return loss

    opt.step(closure)
    return ([m.weight.detach().numpy().astype(np.float32) for m in linears],
            [m.bias.detach().numpy().astype(np.float32) for m in linears])
