"""What decides a matcher (:class:`SensitiveConfig`), and matchers built once per process and configuration,
cached on disk keyed by the content of every input, so that a fresh worker or CLI run loads a 60k-entry matcher in a
fraction of the time it takes to build.
"""
from __future__ import annotations

import hashlib
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import ahocorasick

from tuwen.transforms import diskcache
from tuwen.transforms.sensitive_canonical import char_table
from tuwen.transforms.sensitive_hygiene import COMMON_CHECK_MAX_CHARS, MIN_ENTRY_CHARS
from tuwen.transforms.sensitive_lexicons import load_lexicons
from tuwen.transforms.sensitive_matcher import MAX_GAP, SensitiveMatcher, build_matcher
from tuwen.transforms.sensitive_vocabulary import COMMON_CHAR_MIN_FREQ, COMMON_WORD_MIN_FREQ, _jieba_dictionary_path


@dataclass(frozen=True)
class SensitiveConfig:
    """Everything that decides a matcher; small, hashable and picklable (what a Beam DoFn carries to workers)."""

    lexicons: tuple[str, ...] = ()          # extra lexicon paths (public unless their header says trusted)
    allowlists: tuple[str, ...] = ()        # extra allowlist paths
    default_lexicons: bool = True           # load the shipped starter lexicons (trusted)
    default_allowlist: bool = True          # load the shipped allowlist
    hygiene: bool = True                    # False: every entry of every list is strong (the naive behaviour)
    min_chars: int = MIN_ENTRY_CHARS        # public entries shorter than this never match
    max_gap: int = MAX_GAP                  # separators allowed between two matched characters
    cache_dir: Optional[str] = None         # None: $TUWEN_CACHE_DIR or ~/.cache/tuwen; "" disables the disk cache


POLICY_VERSION = "1"  # part of the disk-cache key (with a hash of the sensitive modules' code and of every input)
CACHE_KEEP = 8  # matcher files kept in the disk cache
_MATCHERS: dict[SensitiveConfig, SensitiveMatcher] = {}
_MATCHERS_LOCK = threading.Lock()


def _own_code_digest() -> str:
    """sha256 over the source of every sensitive module (``sensitive.py``, ``sensitive_*.py``), in name order."""
    h = hashlib.sha256()
    for p in sorted(Path(__file__).parent.glob("sensitive*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _cache_dir(config: SensitiveConfig) -> Optional[Path]:
    root = diskcache.cache_root(config.cache_dir)
    return root / "sensitive" if root is not None else None


def _cache_key(config: SensitiveConfig, lexicons, allowlists, user_allowlists) -> str:
    h = hashlib.sha256()
    jp = _jieba_dictionary_path()
    own_code = _own_code_digest()  # any change to the sensitive modules' code rebuilds
    parts = [POLICY_VERSION, own_code, str(config.hygiene), str(config.min_chars), str(COMMON_WORD_MIN_FREQ),
             str(COMMON_CHAR_MIN_FREQ), str(COMMON_CHECK_MAX_CHARS), sys.version.split()[0],
             str(getattr(ahocorasick, "__version__", "")), str(len(char_table())),
             f"{jp.stat().st_size}" if jp else "-"]
    parts += [f"L{lx.trusted}:{lx.digest}" for lx in lexicons] + [f"A{a.digest}" for a in allowlists]
    parts += [f"U{a.digest}" for a in user_allowlists]
    h.update("\n".join(parts).encode())
    return h.hexdigest()[:32]


def get_matcher(config: SensitiveConfig) -> SensitiveMatcher:
    """The matcher for ``config``: built once per process; loaded from the disk cache when the same lexicons were
    built before (any change to a list, the policy or the libraries gives a new key)."""
    m = _MATCHERS.get(config)
    if m is not None:
        return m
    with _MATCHERS_LOCK:
        m = _MATCHERS.get(config)
        if m is not None:
            return m
        lexicons, allowlists, user_allowlists = load_lexicons(config)
        cdir = _cache_dir(config)
        path = cdir / f"{_cache_key(config, lexicons, allowlists, user_allowlists)}.pkl" if cdir else None
        m = diskcache.load(path)
        if m is None:
            m = build_matcher(lexicons, allowlists, config.hygiene, config.min_chars, user_allowlists)
            diskcache.save(path, m, keep=CACHE_KEEP)
        _MATCHERS[config] = m
        return m

