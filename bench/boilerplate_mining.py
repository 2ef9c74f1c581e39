"""Boilerplate mining and stripping: what it finds, what it leaves, how fast, how much it holds.

    .venv/bin/python bench/boilerplate_mining.py [--copies 4] [--sample-size 20000]

Builds a crawled-looking corpus from the human captions of ../shared/data/flickr8k_cn (each caption ``--copies``
times with a different ending, so that they are distinct documents): 12 kinds of site furniture (prefixes,
suffixes, via tails, HTML, link labels) put on a known share of documents, plus 3 viral posts copied 1,000 times
each (one of them with a separator in it, so that it has furniture-shaped pieces). Prints

- the injected furniture found (recall) and mined fragments that are not furniture (false fragments), viral
  posts included;
- mining speed (documents/s) of ``mine_boilerplate`` against a baseline in the same process: an exact counter
  of every candidate of every document (no sample), which finds the same furniture but holds a number of entries
  that grows with the corpus; the entries each holds are printed;
- stripping speed (characters/s) of the mined list.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

FURNITURE = [
    ("prefix", "【高清壁纸】", 0.05), ("prefix", "[转载]", 0.03), ("prefix", "图片新闻 |", 0.02),
    ("suffix", "- 新浪图片", 0.06), ("suffix", "_手机搜狐网", 0.03), ("suffix", "| 摄影部落", 0.02),
    ("suffix", "via @旅行摄影师", 0.02), ("suffix", "—— 来自花瓣网", 0.02),
    ("anywhere", "<br/>", 0.02), ("anywhere", "&nbsp;", 0.02), ("suffix", "展开全文", 0.02),
    ("suffix", "（图片来源于网络）", 0.02),
]
VIRAL = ["转发这条锦鲤 - 接好运的人今年都会暴富", "今天的晚霞太美了，大家快看", "【紧急扩散】孩子走失，请大家帮忙转发"]


def build_corpus(copies: int, seed: int = 11):
    rows = [json.loads(ln) for ln in open(SHARED / "flickr8k_cn" / "pairs.jsonl", encoding="utf-8")]
    caps = [c for r in rows for c in r["captions"]]
    rng = random.Random(seed)
    texts = []
    for k in range(copies):
        for c in caps:
            t = c.rstrip("。") + (f"，第{k}回" if k else "")
            for pos, frag, share in FURNITURE:
                if rng.random() < share:
                    t = frag + t if pos == "prefix" else (t + " " + frag if pos == "suffix" else
                                                          t[:len(t) // 2] + frag + t[len(t) // 2:])
            texts.append(t)
    for v in VIRAL:
        texts += [v] * 1000
    rng.shuffle(texts)
    return texts


def exact_counter_baseline(texts, th):
    """Every candidate of every document counted exactly: same answer for furniture, memory grows with the corpus."""
    from tuwen.transforms.boilerplate import (CandidateCounter, candidates_in)
    counts = {}
    for t in texts:
        for c in candidates_in(t, th.max_fragment_chars):
            counts[c] = counts.get(c, 0) + 1
    keep = [c for c, n in counts.items() if n >= th.min_doc_count]
    counter = CandidateCounter.for_thresholds(keep, th)
    for t in texts:
        counter.add(t)
    return counter.fragments(th), len(counts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--sample-size", type=int, default=20000)
    args = ap.parse_args(argv)
    print("command:", " ".join([".venv/bin/python", "bench/boilerplate_mining.py"] + list(argv or sys.argv[1:])))
    from tuwen.transforms.boilerplate import (CandidateCounter, DocumentSample, MiningThresholds, StripBoilerplate,
                                              mine_boilerplate, propose_candidates)

    texts = build_corpus(args.copies)
    chars = sum(map(len, texts))
    print(f"corpus: {len(texts):,} documents, {chars:,} characters ({len(VIRAL)} viral posts x 1000 included)")
    th = MiningThresholds.of(sample_size=args.sample_size)

    t0 = time.perf_counter()
    mined = mine_boilerplate(texts, sample_size=args.sample_size)
    t_ours = time.perf_counter() - t0
    sample = DocumentSample(th.sample_size)
    for t in texts:
        sample.add(t)
    held = len(sample) + len(propose_candidates(sample.texts(), th))

    t0 = time.perf_counter()
    base, base_entries = exact_counter_baseline(texts, th)
    t_base = time.perf_counter() - t0

    injected = {(pos if pos != "anywhere" else "anywhere", frag) for pos, frag, _ in FURNITURE}
    found = {(f.position, f.fragment) for f in mined}
    hits = {i for i in injected if i in found or (i[0] == "anywhere" and i[1] in {f for _, f in found})}
    markup = {"<br/>", "&nbsp;"}  # stripped by pattern whether mined or not
    false = [f for f in mined if (f.position, f.fragment) not in injected]
    print(f"\nmined {len(mined)} fragments; injected furniture found: {len(hits)}/{len(injected)}")
    for f in mined:
        tag = "" if (f.position, f.fragment) in injected else "   <- not injected"
        print(f"  {f.doc_count:7d}  {f.position:8s}  {f.fragment}{tag}")
    missed = sorted(injected - hits)
    if missed:
        print("  missed:", missed, "(markup is stripped by pattern anyway)" if set(m[1] for m in missed) <= markup
              else "")
    viral_pieces = [f for f in mined if any(f.fragment in v for v in VIRAL)]
    print(f"fragments taken from the viral posts: {len(viral_pieces)} {viral_pieces}")
    print(f"false fragments: {len(false)}")
    same = [(f.position, f.fragment, f.doc_count) for f in base] == [(f.position, f.fragment, f.doc_count)
                                                                      for f in mined]
    print(f"\nmining: {len(texts) / t_ours:,.0f} docs/s (sample {args.sample_size:,}); exact-counter baseline "
          f"{len(texts) / t_base:,.0f} docs/s -> {t_base / t_ours:.2f} x baseline speed; same list as baseline: {same}")
    print(f"entries held: ours {held:,} (bounded by the sample size), baseline {base_entries:,} "
          f"(grows with the corpus)")

    step = StripBoilerplate(mined)
    t0 = time.perf_counter()
    n_edits = sum(len(step.find(t)) for t in texts)
    t_strip = time.perf_counter() - t0
    print(f"stripping: {chars / t_strip:,.0f} chars/s, {n_edits:,} deletions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
