"""``tuwen safety-head``: train the safety head (``tuwen run --safety-head``) for one scorer, from a labelled manifest.

The manifest is one ``tuwen run`` reads (JSONL, Parquet or tar; ``text`` may be empty, it is not used) whose rows
also carry ``label``: ``safe`` or ``unsafe``. Each image is read, checked and decoded as the run would (the image
options of ``tuwen run`` apply: pass ``--min-side`` for small pictures) and embedded by the scorer exactly as the
run embeds it, in fixed-size batches; images the run would drop are skipped and counted by reason, and so are rows
without a usable label. A stratified share (``--val-share``) is held out: the head is fit on the rest. The lowest
threshold that drops at most ``--target-safe-dropped`` of the held-out safe images sets the held-out recall; the
threshold written into the head is the middle of the gap between it and the next unsafe score (the same recall,
with a margin). The recall of held-out unsafe images, the safe share dropped and the ROC AUC are printed and kept
in the file.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from typing import Optional, Sequence

from tuwen.transforms.safety_head import (DEFAULT_HIDDEN, DEFAULT_STEPS, DEFAULT_TARGET_SAFE_DROPPED,
                                          DEFAULT_VAL_SHARE, DEFAULT_WEIGHT_DECAY, LABELS, SPLIT_SEED)

log = logging.getLogger("tuwen")

MIN_PER_CLASS = 2  # fewer labelled images of a class than this: nothing to learn from
PROGRESS_EVERY_S = 30.0


def head_parser() -> argparse.ArgumentParser:
    from tuwen.pipeline.run import CommandParser

    p = CommandParser(prog="tuwen safety-head", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog="The image options of `tuwen run` are accepted too (--min-side, "
                             "--max-aspect-ratio, --max-pixels, --scorer-batch-size, --scorer-device, "
                             "--scorer-threads, ...). Then: tuwen run --scorer SPEC --safety-head HEAD.safetensors "
                             "(same SPEC: a head does not carry across models). Exit status: 0; 2 for a usage "
                             "problem (a bad --scorer, too few labelled images), with one line.")
    p.add_argument("--scorer", required=True, metavar="SPEC", help="the scorer, as for tuwen run --scorer")
    p.add_argument("--input", action="append", required=True, metavar="GLOB",
                   help="labelled manifests (rows with image and label safe/unsafe), globs, repeatable")
    p.add_argument("--output", required=True, metavar="HEAD.safetensors", help="the head file to write")
    p.add_argument("--hidden", type=int, default=DEFAULT_HIDDEN, metavar="N",
                   help="0: a linear head (logistic regression); N: one hidden layer of N units (default: "
                        "%(default)s)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                   help="at most this many full-batch L-BFGS iterations (default: %(default)s)")
    p.add_argument("--weight-decay", type=float, default=DEFAULT_WEIGHT_DECAY, metavar="L2",
                   help="the L2 penalty on the weights (default: %(default)s)")
    p.add_argument("--val-share", type=float, default=DEFAULT_VAL_SHARE, metavar="SHARE",
                   help="held out from each class to choose the threshold (default: %(default)s; 0 chooses it on "
                        "the training images)")
    p.add_argument("--target-safe-dropped", type=float, default=DEFAULT_TARGET_SAFE_DROPPED, metavar="SHARE",
                   help="the threshold drops at most this share of the held-out safe images (default: "
                        "%(default)s)")
    p.add_argument("--seed", type=int, default=SPLIT_SEED, help="split and initialisation seed (default: "
                                                                "%(default)s)")
    p.add_argument("--plot", default=None, metavar="PNG", help="write a histogram of the held-out probabilities")
    return p


def labelled_images(files, image_config, skipped: Counter, decoded_side: int = 0):
    """(id, label index, decoded RGB image) of each usable row, in input order; ``skipped`` counts the others by
    reason (the run's image reasons, ``missing_label``, ``bad_label``, ``duplicate_id``)."""
    from tuwen.transforms.image import process_image
    from tuwen.pipeline.inputs import read_bytes, read_pairs
    from tuwen.transforms.pairs import Dropped, read_image_bytes

    seen: set = set()
    for f in files:
        for pair in read_pairs(f, ("label",), image_config.max_image_bytes):
            if "reason" in pair:
                skipped[pair["reason"]] += 1
                continue
            label = (pair.get("extra") or {}).get("label")
            if label is None:
                skipped["missing_label"] += 1
                continue
            if label not in LABELS:
                skipped["bad_label"] += 1
                continue
            if pair["id"] in seen:
                skipped["duplicate_id"] += 1
                continue
            data = read_image_bytes(pair, image_config.max_image_bytes, read_bytes)
            if isinstance(data, Dropped):
                skipped[data.reason] += 1
                continue
            image = process_image(data, image_config, keep_decoded=True, decoded_side=decoded_side)
            if not image.ok:
                skipped[image.reason] += 1
                continue
            seen.add(pair["id"])
            yield pair["id"], LABELS.index(label), image.decoded


def embed_labelled(scorer, rows, batch_size: int):
    """(ids, labels, embeddings [N, D]): the rows embedded a batch at a time (memory holds one batch of images)."""
    import numpy as np

    from tuwen.transforms.relevance import embed_in_batches

    ids, labels, chunks, batch = [], [], [], []
    last = time.monotonic()

    def flush():
        chunks.append(embed_in_batches(scorer, [scorer.preprocess(im) for im in batch], None, batch_size)[0])
        batch.clear()

    for pair_id, label, image in rows:
        ids.append(pair_id)
        labels.append(label)
        batch.append(image)
        if len(batch) == batch_size:
            flush()
        if time.monotonic() - last >= PROGRESS_EVERY_S:
            log.info("tuwen safety-head: %d images embedded", len(ids))
            last = time.monotonic()
    if batch:
        flush()
    emb = np.concatenate(chunks) if chunks else np.zeros((0, scorer.embed_dim), np.float32)
    # The run hands its checks the image embedding as float16 (score_batch): the head learns on what it will see.
    return ids, labels, emb.astype(np.float16).astype(np.float32)


def choose_threshold(safe: Sequence[float], unsafe: Sequence[float], target: float) -> float:
    """The threshold written into the head. The lowest that drops at most ``target`` of the held-out safe images
    (as tuwen calibrate proposes one) fixes the held-out recall; every threshold up to the lowest unsafe score
    above it keeps that recall and drops no more safe images, so it goes to the middle of that gap (a few hundred
    held-out safe images cannot place a 1 % tail; the margin is what generalises)."""
    from tuwen.pipeline.calibrate import propose_threshold

    low = min(1.0, propose_threshold(safe, target))
    above = [u for u in unsafe if u >= low]
    return round((low + min(above)) / 2, 4) if above else low


def safety_head(argv: Sequence[str]) -> int:
    from apache_beam.options.pipeline_options import PipelineOptions

    from tuwen.pipeline.calibrate import plot_histogram, roc_auc
    from tuwen.pipeline.options import TuwenOptions
    from tuwen.pipeline.relevance import load_checked_scorer
    from tuwen.pipeline.options import unknown_flags
    from tuwen.pipeline.run import UsageError, check_scorer
    from tuwen.transforms.safety_head import head_probabilities, save_head, SafetyHead, stratified_split, train_head
    from tuwen.pipeline.inputs import expand_inputs
    from tuwen.transforms.sources import InputError

    args, rest = head_parser().parse_known_args(argv)
    unknown = unknown_flags(rest)
    if unknown:
        raise UsageError(f"unknown option {unknown[0]} (see tuwen safety-head --help and tuwen run --help)")
    if not 0 <= args.target_safe_dropped < 1 or not 0 <= args.val_share < 1:
        raise UsageError("--target-safe-dropped and --val-share must be in [0, 1)")
    if args.hidden < 0 or args.steps <= 0 or args.weight_decay < 0:
        raise UsageError("--hidden and --weight-decay must be >= 0, --steps positive")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise UsageError(f"--output {args.output}: no such folder {out_dir}")
    opts = PipelineOptions([f"--scorer={args.scorer}", *(f"--input={i}" for i in args.input), *rest]) \
        .view_as(TuwenOptions)
    try:
        opts.validate()  # the run's option checks: a bad value is a usage error here too
        files = expand_inputs(opts.input)
    except (ValueError, InputError) as e:
        raise UsageError(str(e)) from None
    cfg = check_scorer(opts)
    scorer = load_checked_scorer(cfg)
    skipped: Counter = Counter()
    ids, labels, emb = embed_labelled(scorer, labelled_images(files, opts.image_config(), skipped, cfg.image_size),
                                     cfg.batch_size)
    counts = Counter(labels)
    said_skipped = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none"
    if min(counts[0], counts[1]) < MIN_PER_CLASS:
        raise UsageError(f"{counts[0]} safe and {counts[1]} unsafe usable images in --input (skipped: "
                         f"{said_skipped}); need at least {MIN_PER_CLASS} of each")
    log.info("tuwen safety-head: %d safe, %d unsafe images embedded (%d skipped: %s)", counts[0], counts[1],
             sum(skipped.values()), said_skipped)
    train, val = stratified_split(labels, args.val_share, args.seed)
    held_out = bool(val) and {labels[i] for i in val} == {0, 1}
    if not held_out:
        val = train
    weights, biases = train_head(emb[train], [labels[i] for i in train], args.hidden, args.steps,
                                 args.weight_decay, args.seed)
    probe = SafetyHead(tuple(weights), tuple(biases), 0.5, cfg.weights_sha256, cfg.spec, args.output)
    probs = head_probabilities(probe, emb[val])
    safe = [p for p, i in zip(probs, val) if labels[i] == 0]
    unsafe = [p for p, i in zip(probs, val) if labels[i] == 1]
    threshold = choose_threshold(safe, unsafe, args.target_safe_dropped)
    recall = sum(p >= threshold for p in unsafe) / len(unsafe)
    dropped = sum(p >= threshold for p in safe) / len(safe)
    auc = roc_auc(unsafe, safe)
    split = "held-out" if held_out else "training (too few to hold out)"
    validation = {"split": split, "safe": len(safe), "unsafe": len(unsafe), "roc_auc": round(auc, 4),
                  "threshold": threshold, "unsafe_recall": round(recall, 4), "safe_dropped": round(dropped, 4),
                  "target_safe_dropped": args.target_safe_dropped}
    trained = {"safe": sum(1 for i in train if labels[i] == 0), "unsafe": sum(1 for i in train if labels[i] == 1),
               "skipped": dict(sorted(skipped.items())), "hidden": args.hidden, "steps": args.steps,
               "weight_decay": args.weight_decay, "seed": args.seed, "input": list(args.input)}
    save_head(args.output, weights, biases, {
        "scorer": cfg.spec, "scorer_sha256": cfg.weights_sha256, "embed_dim": str(scorer.embed_dim),
        "threshold": f"{threshold:.4f}", "trained": trained, "validation": validation})
    lines = [
        f"scorer: {cfg.spec} (weights sha256 {cfg.weights_sha256[:12]}); head: "
        f"{'linear' if args.hidden == 0 else f'{args.hidden} hidden units'}, trained on {trained['safe']} safe and "
        f"{trained['unsafe']} unsafe images ({sum(skipped.values())} rows skipped: {said_skipped})",
        f"{split} images: {len(safe)} safe, {len(unsafe)} unsafe; ROC AUC {auc:.4f}",
        f"threshold {threshold:.4f} (--target-safe-dropped {args.target_safe_dropped:.1%}): unsafe caught "
        f"{recall:.1%}, safe dropped {dropped:.1%}",
    ]
    if args.plot:
        plot_histogram(args.plot, safe, unsafe, threshold, None, f"{cfg.spec}: safety head, AUC {auc:.3f}",
                       names=(f"{split} safe", f"{split} unsafe"), xlabel="P(unsafe) from the head",
                       ylabel="images")
        lines.append(f"histogram: {args.plot}")
    lines.append(f"wrote {args.output}: tuwen run --scorer {cfg.spec} --safety-head {args.output}")
    for line in lines:
        print(line)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    from tuwen.pipeline.run import command_main

    return command_main("tuwen safety-head", head_parser, safety_head, argv)


if __name__ == "__main__":
    sys.exit(main())
