"""``tuwen finetune``: an image-classification head on the image tower, trained from a labelled manifest or shards.

The data are the ``--data`` manifest rows (``image`` + ``label``) or shard samples whose ``KEY.json`` has ``label``.
By default the tower is frozen and its features are computed once (a linear probe, minutes on a CPU); with
``--train-tower`` the tower is fine-tuned with the head. Writes ``DIR/classifier.safetensors`` (the head, plus the
tower when it was trained), ``DIR/classes.json`` and ``DIR/metrics.json`` (top-1 on ``--val-data`` when given).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import load_for_inference
from .data import load_eval_set


def finetune_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tuwen finetune", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Train a classification head on a checkpoint's image tower.")
    p.add_argument("--checkpoint", required=True, help="anything `tuwen eval --checkpoint` accepts")
    p.add_argument("--data", required=True, help="manifest (JSONL/Parquet with image, label) or shards with label")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--val-data", default=None, help="held-out labelled manifest or shards")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2, help="head learning rate (the tower gets lr/100)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--train-tower", action="store_true", help="fine-tune the image tower too (else it is frozen)")
    p.add_argument("--seed", type=int, default=0)
    return p


class ImageClassifier(nn.Module):
    """The image tower's (unnormalised) embedding -> LayerNorm -> linear classes."""

    def __init__(self, model, n_classes: int):
        super().__init__()
        self.visual = model.visual
        dim = model.config["embed_dim"]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def classify_features(self, feats):
        return self.head(self.norm(feats))

    def forward(self, pixels):
        return self.classify_features(self.visual(pixels))


def _labelled(spec: str):
    data = load_eval_set(spec)
    if data.labels is None or any(lab is None for lab in data.labels):
        raise ValueError(f"{spec}: every image needs a `label`")
    return data


def _pixels(preprocess, loaders):
    return torch.stack([preprocess(load()) for load in loaders])


def accuracy(clf: ImageClassifier, pixels: torch.Tensor, targets: torch.Tensor, batch: int = 128) -> float:
    clf.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(pixels), batch):
            correct += int((clf(pixels[s : s + batch]).argmax(1) == targets[s : s + batch]).sum())
    return 100.0 * correct / max(1, len(pixels))


def finetune(args) -> dict:
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    model, _, preprocess = load_for_inference(args.checkpoint)
    train = _labelled(args.data)
    classes = sorted(set(train.labels))
    index = {c: i for i, c in enumerate(classes)}
    x = _pixels(preprocess, train.images)
    y = torch.tensor([index[lab] for lab in train.labels])
    clf = ImageClassifier(model, len(classes))
    for p in clf.visual.parameters():
        p.requires_grad_(args.train_tower)
    head_params = list(clf.norm.parameters()) + list(clf.head.parameters())
    groups = [{"params": head_params, "lr": args.lr}]
    if args.train_tower:
        groups.append({"params": list(clf.visual.parameters()), "lr": args.lr / 100})
    opt = torch.optim.AdamW(groups, weight_decay=args.weight_decay)
    feats = None
    if not args.train_tower:
        clf.visual.eval()
        with torch.no_grad():
            feats = torch.cat([clf.visual(x[s : s + 128]) for s in range(0, len(x), 128)])
    g = torch.Generator().manual_seed(args.seed)
    total = args.epochs * ((len(x) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, total))
    loss = torch.tensor(0.0)
    for _ in range(args.epochs):
        clf.train()
        if not args.train_tower:
            clf.visual.eval()
        order = torch.randperm(len(x), generator=g)
        for s in range(0, len(x), args.batch_size):
            idx = order[s : s + args.batch_size]
            logits = clf.classify_features(feats[idx]) if feats is not None else clf(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    result = {"classes": len(classes), "train_samples": len(x), "final_loss": float(loss.detach()),
              "train_top1": accuracy(clf, x, y)}
    if args.val_data:
        val = _labelled(args.val_data)
        unknown = sorted({lab for lab in val.labels if lab not in index})
        if unknown:
            raise ValueError(f"validation labels not seen in training: {unknown[:5]}")
        vx = _pixels(preprocess, val.images)
        vy = torch.tensor([index[lab] for lab in val.labels])
        result.update(val_top1=accuracy(clf, vx, vy), val_samples=len(vx), chance_top1=100.0 / len(classes))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in clf.state_dict().items()
             if args.train_tower or not k.startswith("visual.")}
    save_file(state, str(out / "classifier.safetensors"))
    (out / "classes.json").write_text(json.dumps(classes, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def finetune_main(argv) -> int:
    args = finetune_parser().parse_args(argv)
    try:
        result = finetune(args)
    except ValueError as e:
        print(f"tuwen finetune: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
