"""Quality of sensitive-word masking with a noisy public list: share of clean caption characters masked, and recall
on hand-labelled sensitive entries inserted into those captions, per evasion kind.

Run:  .venv/bin/python bench/text_quality.py [--shared ../shared/data] [--no-default-allowlist] [--no-hygiene]

Reads ../shared/data (flickr8k_cn human captions and lexicons/sensitive_public_61k.txt) at run time; only the
labels (line numbers) and the seed live in the repository (bench/labels/sensitive_61k_labels.txt). Every caption
goes through the same TextCleaner (normalize -> sensitive) the pipeline and `tuwen text` use. An inserted entry
counts as found when every raw character of its (evasive) spelling lies inside a `sensitive` edit.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "bench" / "labels" / "sensitive_61k_labels.txt"

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
PUNCT = list(".,-_*/|~·、，。!?#")


def read_labels(path: Path = LABELS) -> tuple[list[int], int]:
    lines, seed = [], None
    for raw in path.read_text(encoding="utf-8").splitlines():
        s = raw.strip()
        if s.startswith("# SEED"):
            seed = int(s.split()[2])
        elif s and not s.startswith("#"):
            lines.append(int(s))
    if seed is None:
        raise SystemExit(f"{path}: no '# SEED n' line")
    return lines, seed


def _between(word: str, pick) -> str:
    return word[0] + "".join(pick() + c for c in word[1:])


def evasions(word: str, rng: random.Random, s2t) -> dict[str, str]:
    """The spellings tested, one per evasion kind (a kind that cannot change the word gives the word itself)."""
    full = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word)
    mixed = "".join((c.upper() if rng.random() < 0.5 else c.lower()) for c in word)
    if mixed == word and any(c.isascii() and c.isalpha() for c in word):
        mixed = word.swapcase()
    return {
        "plain": word,
        "spaces": _between(word, lambda: " " * rng.randint(1, 2)),
        "punctuation": _between(word, lambda: rng.choice(PUNCT)),
        "zero_width": _between(word, lambda: rng.choice(ZERO_WIDTH)),
        "full_width": full,
        "mixed_case": mixed,
        "traditional": s2t(word),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--no-default-allowlist", action="store_true")
    ap.add_argument("--no-hygiene", action="store_true")
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tuwen.transforms.sensitive import MaskSensitiveWords, SensitiveConfig
    from tuwen.transforms.text import TextCleaner
    import opencc

    shared = Path(args.shared)
    lex_path = shared / "lexicons" / "sensitive_public_61k.txt"
    entries = lex_path.read_text(encoding="utf-8").splitlines()
    captions = [c for line in open(shared / "flickr8k_cn" / "pairs.jsonl", encoding="utf-8")
                for c in json.loads(line)["captions"]]
    label_lines, seed = read_labels()
    # A leading or trailing * in a public list is list syntax (a wildcard mark), not part of the word.
    labelled = [entries[n - 1].strip().strip("*") for n in label_lines]

    cfg = SensitiveConfig(lexicons=(str(lex_path),), default_allowlist=not args.no_default_allowlist,
                          hygiene=not args.no_hygiene)
    step = MaskSensitiveWords(cfg)
    t0 = time.perf_counter()
    step.setup()
    build_s = time.perf_counter() - t0
    cleaner = TextCleaner([step])

    # 1. Clean captions: share of characters masked.
    total = masked = 0
    per_key: Counter = Counter()
    for c in captions:
        r = cleaner.clean(c)
        total += len(c)
        for ed in r.edits:
            if ed.step == "sensitive":
                masked += ed.end - ed.start
        for m in step.matcher.matches(step_input(c)):
            if m.masked:
                per_key[m.key] += m.end - m.start
    print(f"clean captions: {len(captions)} captions, {total} chars, masked {masked} chars = "
          f"{100 * masked / total:.3f} % (goal <= 0.3 %)   [matcher built/loaded in {build_s:.2f} s]")
    print("  most-masked entries:", ", ".join(f"{k} {n}" for k, n in per_key.most_common(12)) or "none")

    # 1b. For information: the same share on news sentences (People's Daily NER dev), a different register.
    news_path = shared / "names" / "peoples_daily_ner_dev.jsonl"
    if news_path.is_file():
        news = [json.loads(line)["text"] for line in open(news_path, encoding="utf-8")]
        n_total = n_masked = 0
        n_key: Counter = Counter()
        for t in news:
            n_total += len(t)
            n_masked += sum(e - s for s, e in step.matcher.spans(t))
            for m in step.matcher.matches(t):
                if m.masked:
                    n_key[m.key] += m.end - m.start
        print(f"news sentences (information, no goal): {len(news)} sentences, masked {100 * n_masked / n_total:.3f} %"
              f" of {n_total} chars; most: " + ", ".join(f"{k} {n}" for k, n in n_key.most_common(8)))

    # 2. Recall on the labelled entries, each inserted into a caption with every evasion.
    s2t = opencc.OpenCC("s2t").convert
    rng = random.Random(seed)
    found: Counter = Counter()
    tried: Counter = Counter()
    changed: Counter = Counter()
    misses: dict[str, list] = {}
    for word in labelled:
        for kind, spelled in evasions(word, rng, s2t).items():
            cap = rng.choice(captions)
            p = rng.randint(0, len(cap))
            raw = cap[:p] + spelled + cap[p:]
            r = cleaner.clean(raw)
            covered = set()
            for ed in r.edits:
                if ed.step == "sensitive":
                    covered.update(range(ed.start, ed.end))
            ok = all(i in covered for i in range(p, p + len(spelled)))
            tried[kind] += 1
            changed[kind] += spelled != word
            found[kind] += ok
            if not ok:
                misses.setdefault(kind, []).append(raw)
    print(f"recall on {len(labelled)} labelled entries of {lex_path.name} inserted into captions (seed {seed}):")
    for kind in tried:
        print(f"  {kind:<12} {found[kind] / tried[kind]:.3f}  ({found[kind]}/{tried[kind]}; "
              f"{changed[kind]} spellings differ from the entry)  goal >= 0.98")
        if args.show_misses:
            for raw in misses.get(kind, [])[:20]:
                print("      miss:", repr(raw))
    print("command: .venv/bin/python bench/text_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


def step_input(text: str) -> str:
    """What the sensitive step sees: the text after normalisation."""
    from tuwen.transforms.text import EditedText, Normalize
    et = EditedText(text)
    et.apply("normalize", Normalize().find(text))
    return et.text


if __name__ == "__main__":
    sys.exit(main())
