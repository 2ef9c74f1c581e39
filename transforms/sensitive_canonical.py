"""Canonical characters: the one stream that texts and lexicon entries are both mapped to before matching.

Every character goes through one 1:1 character table (traditional → simplified from OpenCC's own character
dictionary, full-width → ASCII, upper → lower case, compatibility ideographs → unified), and separators (spaces,
punctuation, symbols, zero-width and other format characters) are left out of the stream; ``<人名>`` becomes a
blocking character no entry holds. So 賭場, 赌 场, 赌.场, 赌\u200b场 and ＦａＬｕｎ all meet their plain entry.
"""
from __future__ import annotations

import importlib.util
import re
import threading
import unicodedata
from pathlib import Path
from typing import Optional, Sequence

from tuwen.transforms.sensitive_lexicons import _read_text
from tuwen.transforms.text import MASK_TOKENS

_BLOCK = "\x00"  # stands in the canonical stream for <人名>: no entry holds it, so no match crosses a name mask
SEPARATOR_RE = re.compile(r"[\W_]")  # not a letter, digit or ideograph: spaces, punctuation, symbols, Cf, marks
_SEPARATORS_RE = re.compile(r"[^\w\x00]+|_+")  # what the canonical stream leaves out (the blocker stays)
_STREAM_CHAR_RE = re.compile(r"[^\W_]|\x00")

_CHAR_TABLE: Optional[dict[int, str]] = None
_CHAR_TABLE_LOCK = threading.Lock()


def _opencc_dictionary_dir() -> Optional[Path]:
    spec = importlib.util.find_spec("opencc")  # locate without importing: the converter itself is not used
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "dictionary"
    return d if d.is_dir() else None


# A line "character<TAB>conversions" (space-separated) whose first conversion is one character.
_OPENCC_PAIR_RE = re.compile(r"^([^\t\n])\t([^\t\n ])(?: [^\t\n]*)?$", re.M)


def _read_opencc_pairs(path: Path) -> list[tuple[str, str]]:
    """(character, its first conversion) for every such line: one regex pass, not a loop over 4k lines."""
    return _OPENCC_PAIR_RE.findall(_read_text(path))


def char_table() -> dict[int, str]:
    """The 1:1 canonical character table (``str.translate`` form), built once per process.

    A character-level traditional → simplified table is used instead of OpenCC's converter: the converter costs
    about 3.5 µs per character in pure Python, the table a few nanoseconds, and matching only needs both sides
    mapped the same way (entries go through the same table)."""
    global _CHAR_TABLE
    if _CHAR_TABLE is not None:
        return _CHAR_TABLE
    with _CHAR_TABLE_LOCK:
        if _CHAR_TABLE is not None:
            return _CHAR_TABLE
        table: dict[int, str] = {}
        d = _opencc_dictionary_dir()
        if d is not None:
            t2s = dict(_read_opencc_pairs(d / "TSCharacters.txt"))
            for var_file in ("TWVariantsRev.txt", "HKVariantsRev.txt"):
                if (d / var_file).is_file():  # regional variant → OpenCC traditional → simplified
                    for var, std in _read_opencc_pairs(d / var_file):
                        t2s.setdefault(var, t2s.get(std, std))
            for t, s in t2s.items():
                if t != s:
                    table[ord(t)] = s
        for c in range(0xFF01, 0xFF5F):  # full-width ASCII
            table[c] = chr(c - 0xFEE0)
        for c in range(0xF900, 0xFB00):  # compatibility ideographs
            n = unicodedata.normalize("NFKC", chr(c))
            if len(n) == 1 and n != chr(c):
                table[c] = table.get(ord(n), n)
        table[0x3000] = " "
        for c in range(ord("A"), ord("Z") + 1):
            table[c] = chr(c + 32)
        for k, v in list(table.items()):
            if "A" <= v <= "Z":
                table[k] = v.lower()
        _CHAR_TABLE = table
        return table


def canonical_chars(text: str) -> str:
    """``text`` mapped character by character (same length): simplified, half-width, lower case; a placeholder
    (``<人名>``, ``<电话>``...: MASK_TOKENS) becomes blocking characters."""
    canon = text.translate(char_table())
    for token in MASK_TOKENS:
        if token in text:
            canon = canon.replace(token.translate(char_table()), _BLOCK * len(token))
    return canon


def canonical_entry(entry: str) -> str:
    """The key an entry is matched by: canonical characters with the separators left out."""
    return SEPARATOR_RE.sub("", entry.translate(char_table()))


# SEPARATOR_RE in two parts: its ASCII characters but the newline (bytes for bytes.translate), and the rest.
_ASCII_SEPARATOR_BYTES = bytes(c for c in range(128) if c != 10 and SEPARATOR_RE.match(chr(c)))
_NON_ASCII_SEPARATORS_RE = re.compile(r"[^\x00-\x7f\w]+")


def canonical_entries(entries: Sequence[str]) -> list[str]:
    """:func:`canonical_entry` of many one-line entries at once (one translate and one regex pass: a 60k list
    is canonicalised in milliseconds instead of a fifth of a second)."""
    if not entries:
        return []
    text = _translate_long("\n".join(entries))
    # The ASCII separators (most of them: the dots and dashes of domain names) leave in one bytes.translate on the
    # UTF-8 form (ASCII bytes never occur inside a multi-byte character); the regex then only has to test the
    # non-ASCII characters, and rejects ASCII ones at once: half the time of one regex for all separators.
    raw = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_SEPARATOR_BYTES)
    return _NON_ASCII_SEPARATORS_RE.sub("", raw.decode("utf-8", "surrogatepass")).split("\n")


_TABLE_CHARS_RE: Optional[tuple] = None  # (pattern of the table's BMP characters, {character: replacement})
_ASTRAL_RE = re.compile("[\U00010000-\U0010FFFF]")
_REGEX_TRANSLATE_MIN_CHARS = 100_000  # shorter texts: str.translate is as quick as the regex


def _translate_long(text: str) -> str:
    """``text.translate(char_table())`` for a long text. ``str.translate`` looks every character up in the table
    (about 60 ns each, a twentieth of a second for a 60k list) though only about 1 % are in it: a regex finds those
    in a few milliseconds. Texts holding characters beyond the BMP, whose table characters would make the regex
    slow, and short texts take ``str.translate``; both give the same string."""
    global _TABLE_CHARS_RE
    table = char_table()
    if len(text) < _REGEX_TRANSLATE_MIN_CHARS or _ASTRAL_RE.search(text):
        return text.translate(table)
    if _TABLE_CHARS_RE is None:
        bmp = sorted(c for c in table if c < 0x10000)
        ranges, start, prev = [], bmp[0], bmp[0]
        for c in bmp[1:] + [-1]:
            if c != prev + 1:
                ranges.append(re.escape(chr(start)) + ("" if prev == start else "-" + re.escape(chr(prev))))
                start = c
            prev = c
        _TABLE_CHARS_RE = (re.compile("[" + "".join(ranges) + "]"), {chr(c): table[c] for c in bmp})
    pattern, replacement = _TABLE_CHARS_RE
    return pattern.sub(lambda m: replacement[m[0]], text)

