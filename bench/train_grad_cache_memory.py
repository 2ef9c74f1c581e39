"""Peak memory of one training step on ``small``: a plain batch B against 8 x B with the gradient cache (chunks of B).

Each configuration runs in a fresh process; peak resident memory (ru_maxrss) of the process is what is compared, and
the resident memory just before the step (model, optimizer state, the input batch) is printed too. Goal: the
gradient-cache step at 8 x B peaks at most 1.2 x the plain step at B. ``--with-plain-8x`` also runs the plain 8 x B
step, for what the cache saves.

    .venv/bin/python bench/train_grad_cache_memory.py --batch 16
"""
from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(batch: int, chunk: int, precision: str, model_name: str) -> dict:
    import torch

    from tuwen.trainer.model import build_model
    from tuwen.trainer.step import StepOptions, TrainStep

    torch.manual_seed(0)
    model = build_model(model_name)
    size = model.image_size
    images = torch.randn(batch, 3, size, size)
    ids = torch.randint(106, 21128, (batch, 24))
    ids[:, 0], ids[:, 23] = 101, 102
    stepper = TrainStep(model, StepOptions(precision=precision, grad_cache_chunk=chunk))
    opt = torch.optim.AdamW(stepper.parameters(), lr=1e-4)
    # Optimizer state exists from the first step on; create it now so "before" includes it in both configurations.
    for p in stepper.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    logs = stepper.step(images, ids)
    opt.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"batch": batch, "chunk": chunk, "peak_mb": peak, "before_step_mb": before, "loss": logs["loss"]}


def run(batch, chunk, precision, model_name) -> dict:
    cmd = [sys.executable, __file__, "--child", "--batch", str(batch), "--chunk", str(chunk), "--precision",
           precision, "--model", model_name]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16, help="plain batch B (the cache runs 8 x B in chunks of B)")
    p.add_argument("--factor", type=int, default=8)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--model", default="small")
    p.add_argument("--with-plain-8x", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--chunk", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.batch, args.chunk, args.precision, args.model)))
        return 0
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), flush=True)
    big = args.batch * args.factor
    rows = {"plain_B": run(args.batch, 0, args.precision, args.model),
            "gradcache_8B": run(big, args.batch, args.precision, args.model)}
    if args.with_plain_8x:
        rows["plain_8B"] = run(big, 0, args.precision, args.model)
    for name, r in rows.items():
        print(f"{name:14s} batch {r['batch']:4d} chunk {r['chunk'] or '-':>4}  peak {r['peak_mb']:8.0f} MB  "
              f"(before the step {r['before_step_mb']:.0f} MB)")
    ratio = rows["gradcache_8B"]["peak_mb"] / rows["plain_B"]["peak_mb"]
    print(f"peak ratio gradient cache at {args.factor} x B / plain B: {ratio:.2f} (goal <= 1.2)")
    if "plain_8B" in rows:
        print(f"peak ratio plain {args.factor} x B / plain B: {rows['plain_8B']['peak_mb'] / rows['plain_B']['peak_mb']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
