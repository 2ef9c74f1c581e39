"""What the names step loads once per process: jieba's tokenizer and tag table, the name statistics computed from
its dictionary (cached on disk between processes), and the traditional → simplified character table.

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


def jieba_tables() -> tuple:
    """jieba's default tokenizer, its dictionary's word -> part-of-speech tag table, the given-name character
    scores and the :class:`NameModel`, loaded once per process."""
    global _JIEBA
    if _JIEBA is None:
        with _JIEBA_LOCK:
            if _JIEBA is None:
                import jieba
                import jieba.posseg

                jieba.setLogLevel(logging.WARNING)
                jieba.dt.check_initialized()
                tags = jieba.posseg.dt.word_tag_tab
                _JIEBA = (jieba.dt, tags, *name_statistics(tags, jieba.dt.FREQ))
    return _JIEBA


def statistics_cache_path() -> Optional[Path]:
    """Where the name statistics of this code, these lexicons and this jieba dictionary are kept between
    processes (see :mod:`tuwen.transforms.diskcache`); None when there is no such place."""
    import hashlib
    import importlib.util

    from tuwen.transforms import diskcache

    root = diskcache.cache_root()
    if root is None:
        return None
    try:
        import jieba

        spec = importlib.util.find_spec("jieba")
        jdict = Path(list(spec.submodule_search_locations)[0]) / "dict.txt"
        h = hashlib.sha256()
        for name in _STATISTICS_CODE:
            h.update((Path(__file__).parent / name).read_bytes())
        h.update(resources.files("tuwen.lexicons").joinpath("surnames_chinese.txt").read_bytes())
        h.update(jdict.read_bytes())  # ~5 MB, ~10 ms: the tags and counts the statistics come from
        h.update(str(getattr(jieba, "__version__", "")).encode())
    except (OSError, TypeError, AttributeError):  # no jieba file to key on, a zipped package: no cache
        return None
    return root / "names" / f"{h.hexdigest()[:32]}.pkl"


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
    diskcache.save(path, (scores, model.tables()), keep=4)  # every code or dictionary change makes a new key
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
