"""``tuwen calibrate``: a similarity threshold for one scorer, from a manifest's own pairs.

Thresholds do not carry across models. This scores the manifest's matched pairs and the same pairs with their
captions shuffled (a fixed-seed derangement: no pair keeps its own caption), exactly as ``tuwen run`` would score
them (the cleaned text, the checked image, the same fixed-size batches; pairs the run would drop are skipped and
counted), writes a histogram of both, prints the ROC AUC and the share of each kept at 0.3 and at the proposed
threshold, and prints the threshold alone as the last line of standard output. Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import io
import logging
import sys
from collections import Counter
from typing import Optional, Sequence

log = logging.getLogger("tuwen")

DEFAULT_TARGET_MISMATCH_KEPT = 0.05
DERANGEMENT_SEED = 0
REFERENCE_THRESHOLD = 0.3  # the seed's value, shown beside the proposed one


def calibrate_parser() -> argparse.ArgumentParser:
    from tuwen.pipeline.run import CommandParser

    p = CommandParser(prog="tuwen calibrate", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog="Every filter and scorer option of `tuwen run` is accepted too (--min-side, "
                             "--text-steps, --lexicon, --boilerplate-list, --scorer-batch-size, --scorer-device, ...; "
                             "see tuwen run --help), so calibration sees the pairs the run would. Exit status: 0; 2 "
                             "for a usage problem (a bad --scorer, no input matched), with one line.")
    p.add_argument("--scorer", required=True, metavar="SPEC", help="the scorer, as for tuwen run --scorer")
    p.add_argument("--input", action="append", required=True, metavar="GLOB",
                   help="manifests (JSONL, Parquet, tar), globs, repeatable, as in tuwen run")
    p.add_argument("--plot", default=None, metavar="PNG", help="write a histogram of matched and shuffled scores")
    p.add_argument("--target-mismatch-kept", type=float, default=DEFAULT_TARGET_MISMATCH_KEPT, metavar="SHARE",
                   help="the proposed threshold keeps at most this share of shuffled pairs (default: %(default)s)")
    p.add_argument("--max-pairs", type=int, default=0, metavar="N",
                   help="score at most the first N usable pairs (default: 0, all)")
    return p


def derangement(n: int, seed: int = DERANGEMENT_SEED) -> list[int]:
    """A permutation of range(n) with no fixed point (n >= 2), the same for the same n and seed."""
    import random

    rng = random.Random(seed)
    perm = list(range(n))
    rng.shuffle(perm)
    for i in range(n):  # swap each fixed point with its neighbour: still a permutation, no fixed point left
        if perm[i] == i:
            j = (i + 1) % n
            perm[i], perm[j] = perm[j], perm[i]
    return perm


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counting half (the Mann-Whitney U statistic, normalised)."""
    import numpy as np

    pos, neg = np.asarray(positive, np.float64), np.asarray(negative, np.float64)
    if not len(pos) or not len(neg):
        return float("nan")
    values = np.concatenate([pos, neg])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def kept_share(scores: Sequence[float], threshold: float) -> float:
    return sum(1 for s in scores if s >= threshold) / len(scores) if len(scores) else float("nan")


def propose_threshold(shuffled: Sequence[float], target: float) -> float:
    """The smallest 4-decimal threshold that keeps at most ``target`` of the shuffled pairs."""
    ranked = sorted(shuffled, reverse=True)
    allowed = int(target * len(ranked))
    if allowed >= len(ranked):
        return round(ranked[-1], 4)
    # keep only scores strictly above the (allowed+1)-th highest one
    return round(ranked[allowed] + 1e-4, 4)


def plot_histogram(path: str, matched, shuffled, threshold: float, reference: Optional[float], title: str,
                   names: tuple = ("matched pairs", "shuffled captions"), xlabel: str = "image-text cosine similarity",
                   ylabel: str = "pairs") -> None:
    """Two overlaid histograms (blue ``matched``, red ``shuffled``) with the proposed threshold, and the seed's
    ``reference`` when given (``tuwen safety-head`` draws its safe and unsafe images with the same function)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    lo, hi = min(min(matched), min(shuffled)), max(max(matched), max(shuffled))
    bins = [lo + (hi - lo) * i / 40 for i in range(41)] if hi > lo else 10
    ax.hist(shuffled, bins=bins, alpha=0.6, label=f"{names[1]} ({len(shuffled)})", color="tab:red")
    ax.hist(matched, bins=bins, alpha=0.6, label=f"{names[0]} ({len(matched)})", color="tab:blue")
    ax.axvline(threshold, color="black", linestyle="-", label=f"proposed threshold {threshold:.4f}")
    if reference is not None:
        ax.axvline(reference, color="gray", linestyle="--", label=f"seed threshold {reference}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _checked_pairs(opts, files, limit: int, skipped: Counter, decoded_side: int = 0):
    """The pairs the run would score, in input order: (id, cleaned text, decoded image); ``skipped`` counts the
    others by the reason the run would give."""
    from apache_beam.io.filesystems import FileSystems

    from tuwen.pipeline.reading import normalized_texts
    from tuwen.transforms.boilerplate import mine_boilerplate, read_tsv
    from tuwen.transforms.pairs import Dropped, check_pair
    from tuwen.pipeline.inputs import read_bytes, read_pairs

    text_config = opts.text_steps_config()
    fragments = None
    if "boilerplate" in text_config.steps:
        if opts.boilerplate_list:
            with FileSystems.open(opts.boilerplate_list) as fh:
                fragments = read_tsv(io.StringIO(fh.read().decode("utf-8")))
        else:  # the run mines its own texts first; so does calibration, over the same texts
            texts = [t for f in files for t in normalized_texts(f, opts.max_text_chars)]
            fragments = mine_boilerplate(texts, opts.mining_thresholds())
    masking = text_config.masking_steps()
    cleaner = text_config.build(fragments, masking)
    image_config = opts.image_config()
    seen: set = set()
    for f in files:
        for pair in read_pairs(f, (), image_config.max_image_bytes):
            if limit and len(seen) >= limit:
                return
            if pair["id"] in seen:
                skipped["duplicate_id"] += 1
                continue
            out = check_pair(pair, cleaner, image_config, masking, keep_decoded=True, read_file=read_bytes,
                             decoded_side=decoded_side)
            if isinstance(out, Dropped):
                skipped[out.reason] += 1
                continue
            seen.add(pair["id"])
            yield pair["id"], out.text, out.image.decoded


def calibrate(argv: Sequence[str]) -> int:
    from apache_beam.options.pipeline_options import PipelineOptions

    from tuwen.pipeline.options import TuwenOptions
    from tuwen.pipeline.run import UsageError, check_scorer
    from tuwen.pipeline.relevance import load_checked_scorer
    from tuwen.transforms.relevance import embed_in_batches, pair_scores
    from tuwen.pipeline.inputs import expand_inputs
    from tuwen.transforms.sources import InputError

    args, rest = calibrate_parser().parse_known_args(argv)
    if not 0 <= args.target_mismatch_kept < 1:
        raise UsageError("--target-mismatch-kept must be in [0, 1)")
    opts = PipelineOptions([f"--scorer={args.scorer}", *(f"--input={i}" for i in args.input), *rest]) \
        .view_as(TuwenOptions)
    try:
        opts.validate()  # the run's option checks: a bad value is a usage error here too
        files = expand_inputs(opts.input)
    except (ValueError, InputError) as e:
        raise UsageError(str(e)) from None
    cfg = check_scorer(opts)
    scorer = load_checked_scorer(cfg)
    ids, texts, images = [], [], []
    skipped: Counter = Counter()
    for pair_id, text, image in _checked_pairs(opts, files, args.max_pairs, skipped, cfg.image_size):
        ids.append(pair_id)
        texts.append(text)
        images.append(image)
    if len(ids) < 2:
        raise UsageError(f"only {len(ids)} usable pairs in --input (skipped: {dict(skipped)}); need at least 2")
    log.info("tuwen calibrate: scoring %d pairs (%d skipped as the run would drop them: %s)", len(ids),
             sum(skipped.values()), ", ".join(f"{k} {v}" for k, v in skipped.most_common()) or "none")
    img, txt = embed_in_batches(scorer, images, texts, cfg.batch_size)
    del images
    perm = derangement(len(ids))
    matched = pair_scores(img, txt)
    shuffled = pair_scores(img, txt[perm])
    threshold = propose_threshold(shuffled, args.target_mismatch_kept)
    auc = roc_auc(matched, shuffled)
    lines = [
        f"scorer: {cfg.spec} (weights sha256 {cfg.weights_sha256[:12]}); {len(ids)} pairs scored, "
        f"{sum(skipped.values())} skipped",
        f"ROC AUC matched vs shuffled captions: {auc:.4f}",
        f"kept at {REFERENCE_THRESHOLD}: matched {kept_share(matched, REFERENCE_THRESHOLD):.1%}, "
        f"shuffled {kept_share(shuffled, REFERENCE_THRESHOLD):.1%}",
        f"kept at the proposed {threshold:.4f} (at most {args.target_mismatch_kept:.1%} of shuffled): matched "
        f"{kept_share(matched, threshold):.1%}, shuffled {kept_share(shuffled, threshold):.1%}",
    ]
    if args.plot:
        plot_histogram(args.plot, matched, shuffled, threshold, REFERENCE_THRESHOLD,
                       f"{cfg.spec}: AUC {auc:.3f}")
        lines.append(f"histogram: {args.plot}")
    for line in lines:
        print(line, file=sys.stderr)
    print(f"{threshold:.4f}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    from tuwen.pipeline.run import command_main

    return command_main("tuwen calibrate", calibrate_parser, calibrate, argv)


if __name__ == "__main__":
    sys.exit(main())
