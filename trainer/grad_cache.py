"""Gradient cache (Gao et al. 2021) for the contrastive loss: a large batch at the memory cost of one chunk.

1. Every chunk is embedded without a graph; the RNG state before each chunk is saved.
2. The loss is computed on the cached embeddings (leaf tensors) and differentiated down to them only.
3. Each chunk is embedded again with its saved RNG state (same dropout masks, bit for bit) and its cached embedding
   gradient is pushed through the towers.

Parameter gradients equal the full-batch ones (up to float summation order). Towers must not use BatchNorm.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable

import torch


def _rng_state(device: torch.device):
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return cpu, cuda


def _set_rng_state(state, device: torch.device):
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


@dataclass
class GradCacheResult:
    loss: torch.Tensor
    cached: list = field(default_factory=list)     # [(image_emb, text_emb)] from the no-graph pass
    replayed: list = field(default_factory=list)   # [(image_emb, text_emb)] from the replay (when kept)


def grad_cache_backward(model, images: torch.Tensor, ids: torch.Tensor, chunk_size: int,
                        objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], autocast=None,
                        keep_embeddings: bool = False) -> GradCacheResult:
    """Accumulate into ``.grad`` the gradient of ``objective(image_emb, text_emb)`` w.r.t. the model's parameters,
    embedding ``chunk_size`` samples at a time. ``objective`` may also use parameters directly (logit scale)."""
    autocast = autocast or nullcontext
    device = images.device
    n = images.shape[0]
    bounds = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    states, img_chunks, txt_chunks = [], [], []
    with torch.no_grad():
        for s, e in bounds:
            states.append(_rng_state(device))
            with autocast():
                img_chunks.append(model.encode_image(images[s:e]))
                txt_chunks.append(model.encode_text(ids[s:e]))
    after_first_pass = _rng_state(device)
    img_all = torch.cat(img_chunks).detach().requires_grad_(True)
    txt_all = torch.cat(txt_chunks).detach().requires_grad_(True)
    loss = objective(img_all, txt_all)
    loss.backward()
    result = GradCacheResult(loss.detach())
    if keep_embeddings:
        result.cached = [(i.detach().clone(), t.detach().clone()) for i, t in zip(img_chunks, txt_chunks)]
    for (s, e), state in zip(bounds, states):
        _set_rng_state(state, device)
        with autocast():
            img = model.encode_image(images[s:e])
            txt = model.encode_text(ids[s:e])
        if keep_embeddings:
            result.replayed.append((img.detach().clone(), txt.detach().clone()))
        torch.autograd.backward([img, txt], [img_all.grad[s:e].to(img.dtype), txt_all.grad[s:e].to(txt.dtype)])
    # Continue from where the first pass left the RNG, so a run with the cache consumes randomness reproducibly.
    _set_rng_state(after_first_pass, device)
    return result
