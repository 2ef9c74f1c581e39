"""Command-line front ends: ``tuwen train``, ``tuwen eval``, ``tuwen finetune`` (each ``main(argv) -> exit code``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _positive_float(x: str) -> float:
    v = float(x)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return v


def _probability(x: str) -> float:
    v = float(x)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError("must be in [0, 1]")
    return v


def _patch_share(x: str) -> float:
    v = float(x)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError("must be in [0, 1)")
    return v


# The recipe measured best against open_clip's own trainer (tiny from scratch, 10 minutes, Flickr8k-CN; the figures
# are in bench/README.md) is what a default run gets; 0 turns each part off.
DEFAULT_CAPTION_AUG = 0.3    # share of samples trained on KEY.gen.txt, where a sample has one
DEFAULT_IMAGE_AUG = 0.5      # random square crop covering at least this share of the image
DEFAULT_PATCH_DROPOUT = 0.5  # FLIP patch dropout, only where it was measured:
PATCH_DROPOUT_VARIANTS = ("tiny",)  # ... these variants, trained from scratch (not with --init)


def default_patch_dropout(model: str, init: str | None) -> float:
    """--patch-dropout when it is not given: DEFAULT_PATCH_DROPOUT for a variant it was measured on, trained from
    scratch; 0 (off) for the other variants and for --init runs, where it was not measured."""
    return DEFAULT_PATCH_DROPOUT if model in PATCH_DROPOUT_VARIANTS and not init else 0.0


def resumed_run_args(args) -> dict:
    """The options the run that ``--resume`` goes on with was started with (its checkpoint's train state keeps
    them); {} without --resume, with nothing to resume, or when the checkpoint cannot be read (the training loop
    then says why)."""
    if not args.resume:
        return {}
    from . import checkpoint as ckpt
    from .train import load_train_state

    path = ckpt.resume_folder(args.resume, args.output)
    if path is None:
        return {}
    try:
        return dict(load_train_state(Path(path) / ckpt.TRAIN_STATE).get("args") or {})
    except (ckpt.UnsafeCheckpointError, OSError, RuntimeError, ValueError):
        return {}


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" where an option has a fixed default; a None default is chosen at run time and its help
    says how."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tuwen train",
        description="Contrastive pre-training of a two-tower (image, Chinese text) model on WebDataset shards. "
        "Writes DIR/final/ (model.safetensors, config.json, vocab.txt), DIR/checkpoints/step-N/, "
        "DIR/metrics.jsonl and DIR/loss.png (DIR/val_recall.png with --val-data). Multi-process: launch with "
        "torchrun (gloo on CPU, NCCL on GPU); --batch-size is the global batch. By default it trains with the "
        "recipe measured best against open_clip's own trainer (bench/README.md): --caption-aug, --image-aug and, "
        "for tiny from scratch, --patch-dropout; 0 turns each off, all three 0 is plain contrastive training.",
        formatter_class=_DefaultsFormatter)
    p.add_argument("--data", required=True, metavar="SHARDS", help="training shards: brace patterns and globs, several joined with ::")
    p.add_argument("--output", required=True, metavar="DIR", help="run folder")
    p.add_argument("--model", default="tiny", choices=["tiny", "small", "base"], help="model variant")
    p.add_argument("--batch-size", type=int, default=64, metavar="B", help="global batch across ranks")
    p.add_argument("--max-steps", type=int, default=None, metavar="N", help="stop after N steps")
    p.add_argument("--time-budget", type=_positive_float, default=None, metavar="MINUTES",
                   help="stop after MINUTES of wall clock (counted from the start of the command's training set-up)")
    p.add_argument("--epochs", type=_positive_float, default=1.0,
                   help="passes over the data when neither --max-steps nor --time-budget is given")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (weights, data order, augmentation)")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                   help="default: bf16 where the hardware has it (CPU oneDNN bf16 or CUDA bf16), else fp32 on CPU / "
                   "fp16 on GPU; fp16 (with a grad scaler) needs a GPU")
    p.add_argument("--dropout", type=_probability, default=None, metavar="P",
                   help="text-tower dropout (hidden and attention); default: the variant's (0 tiny/small, 0.1 base)")
    p.add_argument("--workers", type=int, default=None, metavar="W", help="data-loader worker processes per rank (default: "
                   "min(4, max(1, torch threads // 2)))")
    p.add_argument("--grad-cache-chunk", type=int, default=0, metavar="C",
                   help="gradient cache: embed C samples per chunk (0 = off)")
    p.add_argument("--caption-aug", type=_probability, default=DEFAULT_CAPTION_AUG, metavar="P",
                   help="probability of training on the generated caption KEY.gen.txt instead of KEY.txt; a sample "
                   "without one always keeps its own caption; part of the measured recipe; 0 = off")
    p.add_argument("--image-aug", type=_probability, default=DEFAULT_IMAGE_AUG, metavar="MIN_SCALE",
                   help="random resized crop: each training image is cropped to a random square covering at least "
                   "this share of its area (seeded per sample and epoch); part of the measured recipe; 0 = off "
                   "(centre crop, as evaluation does)")
    p.add_argument("--patch-dropout", type=_patch_share, default=None, metavar="P",
                   help="FLIP-style patch dropout while training: each step the image tower sees a random (1-P) of "
                   "its patches, so its compute per image falls to about (1-P); evaluation and saved weights always "
                   f"use every patch; 0 = off. Default: {DEFAULT_PATCH_DROPOUT} for "
                   f"{'/'.join(PATCH_DROPOUT_VARIANTS)} from scratch (measured there as part of the recipe), 0 for "
                   "the other variants and with --init (not measured there); with --resume, what the run started "
                   "with")
    p.add_argument("--distill", action="store_true", help="ALBEF-style momentum distillation")
    p.add_argument("--distill-alpha", type=_probability, default=0.4, help="weight of the teacher's soft targets")
    p.add_argument("--distill-momentum", type=_probability, default=0.995, help="EMA momentum of the teacher")
    p.add_argument("--distill-queue", type=int, default=1024, help="queue of teacher embeddings (extra negatives)")
    p.add_argument("--mlm", type=float, nargs="?", const=0.5, default=None, metavar="WEIGHT",
                   help="add masked language modelling on the text tower (weight; 0.5 when given bare)")
    p.add_argument("--image-ssl", type=float, nargs="?", const=0.5, default=None, metavar="WEIGHT",
                   help="add SimCLR-style image self-supervision on the image tower (weight; 0.5 when given bare)")
    p.add_argument("--val-data", default=None, metavar="SHARDS|MANIFEST", help="validation shards or manifest (recall logged and plotted)")
    p.add_argument("--val-every", type=int, default=0, help="validate every N steps (0: only at the end)")
    p.add_argument("--init", default=None, metavar="PATH",
                   help="start from weights: a tuwen run/checkpoint folder, an open_clip checkpoint with its config, "
                   "or (base) a Chinese-CLIP .pt")
    p.add_argument("--resume", default=None, metavar="auto|PATH", help="'auto' (newest DIR/checkpoints/step-N) or a checkpoint folder")
    p.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (AdamW); 5e-4 collapsed the tiny model to near-constant embeddings for minutes on Flickr8k-CN")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default: 10%% of the planned steps, at most 500; with only --time-budget, the first "
                   "10%% of the budget)")
    p.add_argument("--grad-clip", type=float, default=0.0, help="clip the gradient norm (0 = off)")
    p.add_argument("--shuffle-buffer", type=int, default=1000, help="samples in the shuffle buffer per worker")
    p.add_argument("--log-every", type=int, default=10, help="progress line and metrics.jsonl row every N steps")
    p.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps (and at the end)")
    p.add_argument("--keep-checkpoints", type=int, default=2, help="newest checkpoints kept (0 = all)")
    p.add_argument("--deterministic", action="store_true", help="torch deterministic algorithms (on with fp32)")
    p.add_argument("--cpu", action="store_true", help="train on CPU even when a GPU is present")
    return p


def train_main(argv) -> int:
    args = train_parser().parse_args(argv)
    if args.patch_dropout is None:
        # a resumed run goes on as it started: an --init run resumed without --init keeps patch dropout off
        started = resumed_run_args(args)
        args.patch_dropout = started.get("patch_dropout")
        if args.patch_dropout is None:
            args.patch_dropout = default_patch_dropout(args.model, args.init or started.get("init"))
    from .train import train

    return train(args)


def eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tuwen eval",
        description="Image<->text retrieval recall (and optional zero-shot top-1) of a checkpoint. Images shared by "
        "several pairs (same sha256 in shards, same image in a manifest) count as one image with several captions.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, metavar="PATH",
                   help="run folder (its final/), checkpoint folder, model.safetensors, open_clip or Chinese-CLIP .pt")
    p.add_argument("--data", required=True, metavar="SHARDS|MANIFEST", help="shards (patterns, ::-joined) or a JSONL/Parquet manifest")
    p.add_argument("--json", default=None, metavar="OUT.json", help="write the results here (also printed)")
    p.add_argument("--zero-shot", default=None, metavar="LABELS.txt",
                   help="class names, one per line; the manifest rows carry `label`; adds zeroshot_top1")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    return p


def eval_main(argv) -> int:
    args = eval_parser().parse_args(argv)
    import torch

    from .checkpoint import load_for_inference
    from .data import load_eval_set
    from .evaluate import evaluate_retrieval, zero_shot_top1
    from .step import autocast_for

    from .checkpoint import UnsafeCheckpointError

    try:
        model, tokenizer, preprocess = load_for_inference(args.checkpoint)
    except UnsafeCheckpointError as e:
        print(f"tuwen eval: {e}", file=sys.stderr)
        return 2
    autocast = autocast_for(args.precision, torch.device("cpu"))
    data = load_eval_set(args.data)
    if not data.images:
        print(f"tuwen eval: no image-text pairs in {args.data!r}", file=sys.stderr)
        return 2
    res = {"checkpoint": str(args.checkpoint), "data": args.data}
    res.update(evaluate_retrieval(model, tokenizer, preprocess, data, autocast=autocast))
    if args.zero_shot:
        names = [ln.strip() for ln in Path(args.zero_shot).read_text(encoding="utf-8").splitlines()
                 if ln.strip() and not ln.startswith("#")]
        res["zeroshot_top1"] = zero_shot_top1(model, tokenizer, preprocess, data, names, autocast=autocast)
    text = json.dumps(res, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


def finetune_main(argv) -> int:
    from .finetune import finetune_main as run

    return run(argv)
