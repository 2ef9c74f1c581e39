"""What the names step loads once per process: jieba's tokenizer and tag table, the name statistics computed from
its dictionary, jieba.posseg's character HMM, and the traditional → simplified character table.

Start-up is most of a short run's time, so what jieba builds from its dictionary (the prefix-frequency table and
the word → tag table: about 1.4 s from jieba's own marshal cache and ``dict.txt``) and the name statistics are
kept in the disk cache (:mod:`tuwen.transforms.diskcache`) keyed by the dictionary's bytes and jieba's version, and
read back in about 0.4 s; ``jieba.posseg`` itself, which parses ``dict.txt`` again when imported, is never imported:
its HMM tables are read from their modules on first use.

Shared with :mod:`tuwen.transforms.name_tagger`, which cuts text the same way and reads the same statistics.
"""
from __future__ import annotations

import functools
import logging
import threading
from importlib import resources
from pathlib import Path
from typing import Optional

from tuwen.transforms.names.model import NameModel, given_name_char_scores

_JIEBA_LOCK = threading.Lock()
_JIEBA = None  # (tokenizer, word -> tag, character -> given-name score, name model), built once per process

# The modules whose code computes the cached statistics: a change to any of them makes a new cache key.
_STATISTICS_CODE = ("model.py", "lexicons.py")
# The shape of the cached jieba tables (FREQ, total, tags): a new shape takes a new number, so a new key.
_JIEBA_TABLES_FORMAT = b"jieba-tables-1"
# Cache files kept per folder: every dictionary or code change makes a new key, old files would pile up.
_KEEP = 4


def jieba_tables() -> tuple:
    """jieba's default tokenizer, its dictionary's word -> part-of-speech tag table, the given-name character
    scores and the :class:`NameModel`, loaded once per process."""
    global _JIEBA
    if _JIEBA is None:
        with _JIEBA_LOCK:
            if _JIEBA is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tags = _initialise_jieba(jieba.dt)
                _JIEBA = (jieba.dt, tags, *name_statistics(tags, jieba.dt.FREQ))
    return _JIEBA


def _initialise_jieba(tokenizer) -> dict:
    """Make jieba's default ``tokenizer`` ready (its prefix-frequency table) and return the dictionary's word -> tag
    table (what ``jieba.posseg.dt.word_tag_tab`` holds): both read back from the disk cache when this dictionary's
    tables are there, else built by jieba as usual and written to the cache."""
    import sys

    from tuwen.transforms import diskcache

    posseg = sys.modules.get("jieba.posseg")
    if tokenizer.initialized and posseg is not None:  # someone in this process already paid for both
        return posseg.dt.word_tag_tab
    path = _cache_path("jieba", _JIEBA_TABLES_FORMAT)
    cached = diskcache.load(path) if _default_dictionary(tokenizer) else None
    if isinstance(cached, tuple) and len(cached) == 3 and isinstance(cached[0], dict) and isinstance(cached[2], dict):
        freq, total, tags = cached
        with tokenizer.lock:
            if not tokenizer.initialized:
                tokenizer.FREQ, tokenizer.total = freq, total
                tokenizer.initialized = True
        if tokenizer.FREQ is freq:
            return tags
    tokenizer.check_initialized()
    import jieba.posseg

    tags = jieba.posseg.dt.word_tag_tab
    if _default_dictionary(tokenizer):
        # the tag table's words are the frequency table's: one string object each, so the file holds each once
        words = {w: w for w in tokenizer.FREQ}
        shared = {words.get(w, w): t for w, t in tags.items()}
        diskcache.save(path, (tokenizer.FREQ, tokenizer.total, shared), keep=_KEEP)
    return tags


def _default_dictionary(tokenizer) -> bool:
    import jieba

    return tokenizer.dictionary == jieba.DEFAULT_DICT and not tokenizer.user_word_tag_tab


@functools.lru_cache(maxsize=1)
def _jieba_dictionary_digest() -> Optional[bytes]:
    """A digest of jieba's default dictionary and version (what every cached table here is computed from); None
    when there is no file to key on (a zipped package)."""
    import hashlib
    import importlib.util

    try:
        import jieba

        spec = importlib.util.find_spec("jieba")
        jdict = Path(list(spec.submodule_search_locations)[0]) / "dict.txt"
        h = hashlib.sha256()
        h.update(jdict.read_bytes())  # ~5 MB, ~10 ms
        h.update(str(getattr(jieba, "__version__", "")).encode())
    except (OSError, TypeError, AttributeError):
        return None
    return h.digest()


def _cache_path(folder: str, *parts: bytes) -> Optional[Path]:
    """The cache file of ``folder`` keyed by jieba's dictionary and ``parts``; None when there is no cache."""
    import hashlib

    from tuwen.transforms import diskcache

    root = diskcache.cache_root()
    digest = _jieba_dictionary_digest()
    if root is None or digest is None:
        return None
    h = hashlib.sha256(digest)
    for part in parts:
        h.update(part)
    return root / folder / f"{h.hexdigest()[:32]}.pkl"


@functools.lru_cache(maxsize=1)
def posseg_hmm() -> tuple:
    """jieba.posseg's character HMM: (char -> states, start, transition, emission log-probabilities, MIN_FLOAT,
    MIN_INF), read from its modules without importing ``jieba.posseg`` (whose import parses jieba's whole
    dictionary again, ~0.4 s); the package's own tables when it is already imported."""
    import importlib.util
    import sys

    posseg = sys.modules.get("jieba.posseg")
    if posseg is not None:
        viterbi = sys.modules["jieba.posseg.viterbi"]  # (the package's ``viterbi`` is the function)
        return (posseg.char_state_tab_P, posseg.start_P, posseg.trans_P, posseg.emit_P, viterbi.MIN_FLOAT,
                viterbi.MIN_INF)
    import jieba

    folder = Path(jieba.__file__).parent / "posseg"
    mods = {}
    for name in ("char_state_tab", "prob_start", "prob_trans", "prob_emit", "viterbi"):
        spec = importlib.util.spec_from_file_location(f"_tuwen_jieba_posseg_{name}", folder / f"{name}.py")
        mods[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mods[name])
    return (mods["char_state_tab"].P, mods["prob_start"].P, mods["prob_trans"].P, mods["prob_emit"].P,
            mods["viterbi"].MIN_FLOAT, mods["viterbi"].MIN_INF)


def statistics_cache_path() -> Optional[Path]:
    """Where the name statistics of this code, these lexicons and this jieba dictionary are kept between
    processes (see :mod:`tuwen.transforms.diskcache`); None when there is no such place."""
    try:
        code = [(Path(__file__).parent / name).read_bytes() for name in _STATISTICS_CODE]
        code.append(resources.files("tuwen.lexicons").joinpath("surnames_chinese.txt").read_bytes())
    except (OSError, TypeError, AttributeError):  # a zipped package: no cache
        return None
    return _cache_path("names", *code)


def name_statistics(tags: dict, freqs: dict) -> tuple[dict, NameModel]:
    """The given-name character scores and the name model, computed from jieba's dictionary (about a second) or
    read back from the disk cache (:func:`statistics_cache_path`) that the first process wrote: the same tables."""
    from tuwen.transforms import diskcache

    path = statistics_cache_path()
    cached = diskcache.load(path)
    if cached is not None:
        try:
            scores, tables = cached
            return scores, NameModel.from_tables(tables)
        except (TypeError, ValueError, KeyError):  # a file of another shape: computed again
            pass
    scores, model = given_name_char_scores(tags), NameModel(tags, freqs)
    diskcache.save(path, (scores, model.tables()), keep=_KEEP)
    return scores, model


@functools.lru_cache(maxsize=1)
def traditional_to_simplified() -> dict:
    """A one-to-one character table, traditional → simplified, from OpenCC's character dictionary (the package
    opencc-python-reimplemented ships it); empty when the package is missing. One character for one character, so
    that spans found on the simplified text are spans of the original."""
    import importlib.util

    spec = importlib.util.find_spec("opencc")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "dictionary" / "TSCharacters.txt"
    if not path.exists():
        return {}
    table = {}
    for ln in path.read_text(encoding="utf-8").splitlines():
        parts = ln.split("\t")
        if len(parts) == 2 and len(parts[0]) == 1 and parts[1].split():
            simp = parts[1].split()[0]
            if len(simp) == 1 and simp != parts[0]:
                table[ord(parts[0])] = simp
    return table
