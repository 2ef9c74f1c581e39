"""Compact pickled forms of a matcher's tables, for the disk cache: a few long strings and byte columns instead of
tens of thousands of small objects, quick to write and to load (and not unpacked at all by a run that only masks).
"""
from __future__ import annotations

import array
from typing import Optional, Sequence


def _pack_info(info: dict) -> tuple:
    """``info`` as columns (see :func:`_pack_columns`)."""
    if not info:
        return ("dict", info)
    strengths, reasons, originals, sources = zip(*info.values())
    return _pack_columns(list(info), strengths, reasons, originals, sources, info)


def _pack_columns(keys: Sequence[str], strengths: Sequence[int], reasons: Sequence[str], originals: Sequence[str],
                  sources: Sequence[str], info: Optional[dict] = None) -> tuple:
    """``info``'s columns packed: keys and originals joined by newlines (no entry holds one: lexicons are read by
    lines), strengths as bytes, reasons and sources as indices into short lists. Columns that do not fit this
    shape are kept as a dict (``info``, or one made from them)."""
    joined_keys, joined_originals = "\n".join(keys), "\n".join(originals)
    reason_names, source_names = list(dict.fromkeys(reasons)), list(dict.fromkeys(sources))
    if (not keys or joined_keys.count("\n") + 1 != len(keys) or joined_originals.count("\n") + 1 != len(keys)
            or len(reason_names) > 255 or not all(isinstance(x, int) and 0 <= x < 256 for x in set(strengths))):
        return ("dict", info if info is not None else dict(zip(keys, zip(strengths, reasons, originals, sources))))
    reason_index = {r: i for i, r in enumerate(reason_names)}
    source_index = {x: i for i, x in enumerate(source_names)}
    return ("columns", joined_keys, bytes(strengths), reason_names, bytes(map(reason_index.__getitem__, reasons)),
            joined_originals, source_names, array.array("I", map(source_index.__getitem__, sources)))


def _unpack_info(packed: tuple) -> dict:
    if packed[0] == "dict":
        return packed[1]
    _, joined_keys, strengths, reason_names, reasons, joined_originals, source_names, sources = packed
    return dict(zip(joined_keys.split("\n"), zip(strengths, map(reason_names.__getitem__, reasons),
                                                  joined_originals.split("\n"), map(source_names.__getitem__, sources))))


def _pack_words(words: frozenset) -> tuple[int, str]:
    """A set of one-line words as (size, the words joined by newlines): pickled and loaded in a fraction of the
    time of a set of 20k strings."""
    return len(words), "\n".join(words)


def _unpack_words(packed: tuple[int, str]) -> frozenset:
    size, joined = packed
    return frozenset(joined.split("\n")) if size else frozenset()


def _pack_lines(lines: Sequence[str]) -> tuple:
    """One-line strings as ("joined", count, the lines joined by newlines), or ("tuple", lines) if one holds a
    newline: a 60k list pickles as one string."""
    joined = "\n".join(lines)
    return ("joined", len(lines), joined) if joined.count("\n") == len(lines) - 1 else ("tuple", tuple(lines))


def _unpack_lines(packed: tuple) -> Sequence[str]:
    if packed[0] == "tuple":
        return packed[1]
    _, count, joined = packed
    return joined.split("\n") if count else []
