"""Process-group helpers: ``torchrun`` sets RANK/WORLD_SIZE; gloo on CPU, NCCL on GPU. One process = world of 1."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device | None = None) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise a single-process DistInfo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def gather_with_local_grad(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """All ranks' tensors concatenated in rank order; only this rank's slice carries the autograd graph. Each rank
    then computes the same global loss, and summing parameter gradients over ranks gives the global gradient."""
    if not info.enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(info.world_size)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[info.rank] = x
    return torch.cat(parts)


def gather_no_grad(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if not info.enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(info.world_size)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def shared_param_view(p: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Same value as ``p``, gradient divided by the world size: for a parameter every rank uses identically in the
    global loss (the logit scale), so that the gradient sum over ranks counts it once."""
    if not info.enabled:
        return p
    w = info.world_size
    return p / w + p.detach() * (1 - 1 / w)


def sum_gradients_(params, info: DistInfo) -> None:
    """All-reduce (sum) every gradient in one flat buffer."""
    if not info.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def all_reduce_mean(value: float, info: DistInfo) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def all_ranks_true(flag: bool, info: DistInfo) -> bool:
    """True only when every rank says True (so ranks stop on the same step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())
