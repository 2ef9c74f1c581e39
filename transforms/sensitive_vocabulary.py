"""Everyday vocabulary: what counts as an ordinary word, judged on jieba's general-language dictionary.

The hygiene policy (:mod:`~tuwen.transforms.sensitive_hygiene`) calls a public entry weak when it is written entirely
in everyday words; the matcher's word-junction check uses the two-character ones. Never judged on the corpus being
cleaned. jieba's dictionary is read as a file, without importing or initialising jieba.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Optional

from tuwen.transforms.sensitive_canonical import canonical_entries
from tuwen.transforms.sensitive_lexicons import _read_text

# Everyday vocabulary, judged on jieba's dictionary (word frequencies from general Chinese text). A word seen at
# least this often is everyday vocabulary; a single character must be used as a word much more often to count.
COMMON_WORD_MIN_FREQ = 100
COMMON_CHAR_MIN_FREQ = 3000
# The longest word tried when cutting an entry into everyday words (:func:`made_of_common_words`).
MAX_WORD_CHARS = 6

_DIGITS_RE = re.compile(r"[0-9]+")
_DIGIT_CHARS = frozenset("0123456789")


_COMMON: Optional[frozenset] = None
# Parts of the last vocabulary asked about, as (vocabulary, part): the process-wide one is the one always used.
_TWO_CHAR: Optional[tuple] = None
_CHARS: Optional[tuple] = None


def _jieba_dictionary_path() -> Optional[Path]:
    spec = importlib.util.find_spec("jieba")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "dict.txt"
    return p if p.is_file() else None


# One pass over jieba's dictionary (lines "word freq [tag]") keeps the lines with freq >= 100 (leading zeros
# allowed): (word, freq digits). A literal "\n" prefix lets the regex engine jump from line to line instead of
# trying every position (a third of the time of a ^-anchored pattern over 5 MB); possessive quantifiers (Python
# 3.11) spare the backtracking. One branch, with the single characters' threshold checked on the few that pass,
# is quicker than a second branch tried on every line.
_COMMON_LINE_RE = re.compile(r"\n(\S++) 0*+([1-9][0-9]{2,}+)")
# (Written for COMMON_WORD_MIN_FREQ = 100: change it with it; a test compares common_vocabulary with a line-by-line
# reading of the dictionary.)


def _common_words(dictionary: str) -> list[str]:
    """The words of ``dictionary`` (jieba's, with a newline before the first line) that are everyday vocabulary."""
    return [w for w, f in _COMMON_LINE_RE.findall(dictionary) if len(w) > 1 or int(f) >= COMMON_CHAR_MIN_FREQ]


def common_vocabulary() -> frozenset:
    """Canonical forms of everyday words (freq >= COMMON_WORD_MIN_FREQ) and characters used as words
    (freq >= COMMON_CHAR_MIN_FREQ) in jieba's general dictionary. Read without importing or initialising jieba."""
    global _COMMON, _TWO_CHAR
    if _COMMON is None:
        p = _jieba_dictionary_path()
        words: list[str] = []
        if p is not None:
            words = canonical_entries(_common_words("\n" + _read_text(p)))
        _COMMON = frozenset(words)
        _TWO_CHAR = (_COMMON, frozenset([w for w in words if len(w) == 2]))  # see _two_char_words: quicker here
    return _COMMON


def made_of_common_words(key: str, common: frozenset, max_word: int = MAX_WORD_CHARS) -> bool:
    """Can ``key`` be cut entirely into everyday words/characters? (dynamic programme over cut points)"""
    key = _DIGITS_RE.sub("0", key)  # numbers are everyday vocabulary (20年, 3个)
    n = len(key)
    if n == 2:  # most calls (two-character entries): the programme below, unrolled
        return key in common or ((key[0] in common or key[0] == "0") and (key[1] in common or key[1] == "0"))
    zero = "0" in key
    cuts = [n]  # the positions from which the rest of the key can be cut, nearest first
    for i in range(n - 1, -1, -1):  # from the end: only reachable cut points are tried (half the slices)
        for j in cuts:
            if j - i > max_word:
                break
            if key[i:j] in common or (zero and key[i:j] == "0"):
                cuts.insert(0, i)
                break
    return cuts[0] == 0



def _two_char_words(common: frozenset) -> frozenset:
    """The two-character words of ``common``."""
    global _TWO_CHAR
    if _TWO_CHAR is None or _TWO_CHAR[0] is not common:
        _TWO_CHAR = (common, frozenset([w for w in common if len(w) == 2]))
    return _TWO_CHAR[1]


def _common_chars(common: frozenset) -> frozenset:
    """The characters of ``common`` plus the ten digits: the cuts of a two-character key in
    :func:`made_of_common_words`."""
    global _CHARS
    if _CHARS is None or _CHARS[0] is not common:
        _CHARS = (common, frozenset([w for w in common if len(w) == 1]) | _DIGIT_CHARS)
    return _CHARS[1]
