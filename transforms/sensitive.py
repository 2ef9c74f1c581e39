"""Sensitive-word masking: lexicons of tens of thousands of entries, matched with Aho-Corasick, evasions included.

What this room is for: the ``sensitive`` text step. :class:`MaskSensitiveWords` finds lexicon entries in a text
and replaces every matched span with as many ``*`` as it has characters; the rest of the text is untouched.

Evasion. Text and entries are both mapped to one *canonical stream* before matching: every character goes through
one 1:1 character table (traditional → simplified from OpenCC's own character dictionary, full-width → ASCII,
upper → lower case, compatibility ideographs → unified), and separators (spaces, punctuation, symbols, zero-width
and other format characters) are left out of the stream. So 賭場, 赌 场, 赌.场, 赌\u200b场 and ＦａＬｕｎ all match
their plain entry, and the span masked is the *original* text from the first to the last matched character,
separators included. At most ``max_gap`` separators may sit between two matched characters, so two words in
different clauses do not join into one entry.

Hygiene. Public lists are noisy (一个, 女人, 黑狗 and hundreds of single characters). Lexicons are *trusted*
(our starter lists in ``tuwen.lexicons``, or any file whose header says ``# tuwen-lexicon: trusted``: every entry
is masked) or *public* (everything else passed with ``--lexicon``), whose entries are sorted by
:func:`classify_public_entry` (by the length, allowlist and ASCII rules when the matcher is built; by the others,
which need the trusted entries and the everyday vocabulary, when an entry is first found: see :class:`_Deferred`):

- a single character never matches alone; nor do ASCII words under 3 letters or digit strings under 7 digits;
- an allowlisted entry (shipped ``sensitive_allowlist.txt`` plus ``--allowlist``) is dropped (a user's
  ``--allowlist`` also drops entries of trusted lists: it is the user's last word);
- an entry that is, or contains, a trusted entry is *strong* (masked wherever it occurs);
- an entry written entirely in everyday vocabulary is *weak*: a common dictionary word (一个, 女人), a
  two-character entry made of common words and characters (黑狗 = 黑 + 狗), or a phrase of common words that
  holds a function word or a number (哭泣的女人, 1978年). "Common" is judged on jieba's general-language dictionary
  frequencies, never on the corpus being cleaned. A weak hit is masked only within ``context_window`` characters
  of a strong one (女人 in a porn advert, not in a photo caption);
- everything else (援交, 雏妓, 出售冰毒, 六四惨案, spam domains) is strong, except that a public strong hit lying
  inside a longer weak hit is only part of an everyday word (江泽 inside 江泽民) and counts as weak.

Sensitive words that are also common words (色情, 毒品, 赌场) are therefore caught through the trusted starter
lexicons, which is what they are for; extend those (or mark your own list trusted) rather than loosening the
policy for a whole public list.

Word junctions. A short hit written plainly is dropped when it is glued into everyday two-character words around
it: a two-character hit on either side, a three-character hit on both (台独 in 舞台独唱, 藏独 in 收藏独特, 色情
in 彩色情侣装, 大麻 in 大麻烦); the same letters written with separators between them are deliberate and stay
masked. ASCII entries match whole words only (``tel`` is not found in ``hotel``). Matchers are built once per process
and configuration (:func:`get_matcher`), and cached on disk keyed by the content of every input, so a fresh
worker or CLI run loads a 60k-entry matcher in a fraction of the time it takes to build.
"""
from __future__ import annotations

import array
import bisect
import hashlib
import importlib.resources
import importlib.util
import operator
import re
import sys
import threading
import unicodedata
from collections import Counter, deque
from dataclasses import dataclass
from itertools import accumulate, compress, filterfalse
from operator import itemgetter
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence

import ahocorasick

from tuwen.transforms import diskcache
from tuwen.transforms.text import MASK_CHAR, NAME_TOKEN, Replacement

POLICY_VERSION = "1"  # part of the disk-cache key (with a hash of this module's source and of every input)

TRUSTED_DIRECTIVE = "tuwen-lexicon: trusted"
DEFAULT_LEXICON_PREFIX = "sensitive_"
DEFAULT_ALLOWLIST = "sensitive_allowlist.txt"

TRUSTED, STRONG, WEAK = 3, 2, 1  # match strengths: trusted-list entry, public specific entry, everyday word
# The strength build_matcher gives a public entry whose class is settled on first use (see _Deferred): its
# automaton code holds strength 0 until then.
DEFERRED = 4
_WEAK_BITS = WEAK << 2  # the strength bits of a weak entry's automaton code (see _entry_code)

# Everyday vocabulary, judged on jieba's dictionary (word frequencies from general Chinese text). A word seen at
# least this often is everyday vocabulary; a single character must be used as a word much more often to count.
COMMON_WORD_MIN_FREQ = 100
COMMON_CHAR_MIN_FREQ = 3000
# Entries up to this many characters are weak when made of everyday words and characters (黑狗 = 黑 + 狗).
COMMON_CHECK_MAX_CHARS = 2
# Longer entries made of everyday words are weak too when they hold a function word: they are pieces of ordinary
# sentences (哭泣的女人, 为人民服务, 1978年), where a sensitive phrase is a compound (六四惨案, 考试作弊).
PHRASE_CHECK_MAX_CHARS = 8
# Hits up to this many characters, written plainly, are checked for being glued into neighbouring words.
JUNCTION_MAX_CHARS = 3
FUNCTION_CHARS = frozenset("的地得了着过和与及或是在有为被把对从向也都就还又很这那其之于")

_BLOCK = "\x00"  # stands in the canonical stream for <人名>: no entry holds it, so no match crosses a name mask
SEPARATOR_RE = re.compile(r"[\W_]")  # not a letter, digit or ideograph: spaces, punctuation, symbols, Cf, marks
_SEPARATORS_RE = re.compile(r"[^\w\x00]+|_+")  # what the canonical stream leaves out (the blocker stays)
_STREAM_CHAR_RE = re.compile(r"[^\W_]|\x00")
_DIGITS_RE = re.compile(r"[0-9]+")
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


# ---------------------------------------------------------------------------------------------------------------
# Canonical characters
# ---------------------------------------------------------------------------------------------------------------

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
    """``text`` mapped character by character (same length): simplified, half-width, lower case; ``<人名>``
    becomes a blocking character."""
    canon = text.translate(char_table())
    if NAME_TOKEN in text:
        canon = canon.replace(NAME_TOKEN.translate(char_table()), _BLOCK * len(NAME_TOKEN))
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


def _translate_long(text: str) -> str:
    """``text.translate(char_table())`` for a long text. ``str.translate`` looks every character up in the table
    (about 60 ns each, a twentieth of a second for a 60k list) though only about 1 % are in it: a regex finds those
    in a few milliseconds. Texts holding characters beyond the BMP, whose table characters would make the regex
    slow, and short texts take ``str.translate``; both give the same string."""
    global _TABLE_CHARS_RE
    table = char_table()
    if len(text) < 100_000 or _ASTRAL_RE.search(text):
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


# ---------------------------------------------------------------------------------------------------------------
# Lexicon files
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LexiconFile:
    """One lexicon's entries: ``trusted`` lists are masked as they are, public ones go through the hygiene policy."""

    source: str
    entries: tuple[str, ...]
    trusted: bool
    digest: str


def parse_lexicon(text: str, source: str, trusted: Optional[bool] = None) -> LexiconFile:
    """One entry per line; ``#`` lines are comments (a ``# tuwen-lexicon: trusted`` comment marks the list trusted)."""
    lines = list(filter(None, map(str.strip, text.splitlines())))  # C-speed: a 60k list in milliseconds
    entries = [s for s in lines if s[0] != "#"] if "#" in text else lines
    directive = len(entries) < len(lines) and any(TRUSTED_DIRECTIVE in s for s in lines if s[0] == "#")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LexiconFile(source, tuple(entries), directive if trusted is None else trusted, digest)


def read_lexicon(path: str, trusted: Optional[bool] = None) -> LexiconFile:
    return parse_lexicon(_read_text(Path(path), "utf-8-sig"), str(path), trusted)


def _read_text(path: Path, encoding: str = "utf-8") -> str:
    """The text of a file, newlines translated as ``open()`` does: bytes decoded at once take half the time of a
    text-mode read (jieba's 5 MB dictionary: about 12 ms instead of 23)."""
    text = path.read_bytes().decode(encoding)
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def default_lexicon_names() -> list[str]:
    """The starter lexicons shipped in ``tuwen.lexicons`` (``sensitive_<category>.txt``), sorted."""
    root = importlib.resources.files("tuwen.lexicons")
    return sorted(p.name for p in root.iterdir()
                  if p.name.startswith(DEFAULT_LEXICON_PREFIX) and p.name.endswith(".txt")
                  and p.name != DEFAULT_ALLOWLIST)


def _read_package_text(name: str) -> str:
    return importlib.resources.files("tuwen.lexicons").joinpath(name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Everyday vocabulary (for public entries)
# ---------------------------------------------------------------------------------------------------------------

_COMMON: Optional[frozenset] = None


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


def made_of_common_words(key: str, common: frozenset, max_word: int = 6) -> bool:
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


class EntryClass(NamedTuple):
    strength: int  # 0 = dropped, WEAK, STRONG (TRUSTED is for trusted lists only)
    reason: str


def classify_public_entry(key: str, trusted_keys: "ahocorasick.Automaton | None", allow: frozenset,
                          common: frozenset, min_chars: int = 2,
                          contains_trusted: Optional[bool] = None) -> EntryClass:
    """How a public-list entry (canonical ``key``) is used: dropped, weak (needs a strong match nearby) or strong.
    See the module docstring for the reasons. ``contains_trusted``: precomputed answer to "does ``key`` hold an
    entry of ``trusted_keys``" (computed here when None)."""
    if len(key) < min_chars:
        return EntryClass(0, "single_char")
    if key in allow:
        return EntryClass(0, "allowlisted")
    if key.isascii():
        if key.isdigit():
            return EntryClass(STRONG, "number") if len(key) >= 7 else EntryClass(0, "short_number")
        return EntryClass(STRONG, "ascii_word") if len(key) >= 3 else EntryClass(0, "short_ascii")
    if contains_trusted is None:
        contains_trusted = (trusted_keys is not None and len(trusted_keys) > 0
                            and next(trusted_keys.iter(key), None) is not None)
    if contains_trusted:
        return EntryClass(STRONG, "contains_trusted")
    if key in common:
        return EntryClass(WEAK, "common_word")
    if len(key) <= COMMON_CHECK_MAX_CHARS and made_of_common_words(key, common):
        return EntryClass(WEAK, "common_words")
    if len(key) <= PHRASE_CHECK_MAX_CHARS and (any(c in FUNCTION_CHARS for c in key) or _DIGITS_RE.search(key)) \
            and made_of_common_words(key, common):
        return EntryClass(WEAK, "everyday_phrase")
    return EntryClass(STRONG, "specific")


_CLASSES = {r: EntryClass(st, r) for st, r in [
    (0, "single_char"), (0, "allowlisted"), (STRONG, "number"), (0, "short_number"), (STRONG, "ascii_word"),
    (0, "short_ascii"), (STRONG, "contains_trusted"), (WEAK, "common_word"), (WEAK, "common_words"),
    (WEAK, "everyday_phrase"), (STRONG, "specific")]}
_STRENGTHS = {r: c.strength for r, c in _CLASSES.items()}
_DEFERRED_REASON = ""  # the reason of a deferred entry, until it is classified
_STRENGTHS[_DEFERRED_REASON] = DEFERRED


def classify_public_entries(keys: Sequence[str], trusted_holders: "set[str] | frozenset", allow: frozenset,
                            common: frozenset, min_chars: int = 2) -> list[EntryClass]:
    """:func:`classify_public_entry` of many canonical keys at once, with the same answers (a test holds them
    equal on the 61k public list). ``trusted_holders``: the keys that hold a trusted entry."""
    reasons = _public_reasons(keys, trusted_holders, allow, common, min_chars)
    return [_CLASSES[reasons[k]] for k in keys]


_DIGIT_CHARS = frozenset("0123456789")
_PHRASE_MARKS = FUNCTION_CHARS | _DIGIT_CHARS  # a function word or a digit: the key may be a piece of a sentence


def _public_reasons(keys: Iterable[str], trusted_holders: "set[str] | frozenset", allow: frozenset,
                    common: frozenset, min_chars: int = 2) -> dict[str, str]:
    """The reason :func:`classify_public_entry` gives each of ``keys`` (key -> reason, in the order of ``keys``).

    Quick on a 60k list: each rule is a set operation or a comprehension over the keys it concerns, applied from
    the last rule to the first, so that a key two rules take ends with the earlier one, as in the one-entry
    function."""
    reason = dict.fromkeys(keys, "specific")
    _everyday_and_trusted_reasons(reason, list(filterfalse(str.isascii, reason)), trusted_holders, allow, common)
    _ascii_and_dropping_reasons(reason, allow, min_chars)
    return reason


def _ascii_and_dropping_reasons(reason: dict, allow: frozenset, min_chars: int) -> None:
    """The rules of :func:`_public_reasons` for ASCII keys, the allowlist and the length, applied to ``reason``."""
    update, fromkeys = reason.update, dict.fromkeys
    narrow = list(filter(str.isascii, reason))
    update(fromkeys(narrow, "ascii_word"))
    update(fromkeys(_shorter(narrow, 3), "short_ascii"))
    numbers = list(filter(str.isdigit, narrow))
    update(fromkeys(numbers, "number"))
    update(fromkeys(_shorter(numbers, 7), "short_number"))
    update(fromkeys(allow.intersection(reason), "allowlisted"))
    update(fromkeys(_shorter(reason, min_chars), "single_char"))


def _shorter(keys: Iterable[str], n: int) -> Iterator[str]:
    """The keys shorter than ``n`` characters (a C-speed filter)."""
    keys = list(keys)
    return compress(keys, map(n.__gt__, map(len, keys)))


def _everyday_and_trusted_reasons(reason: dict, wide: list[str], trusted_holders: "set[str] | frozenset",
                                  allow: frozenset, common: frozenset) -> None:
    """The rules of :func:`_public_reasons` for non-ASCII keys (``wide``) that need the everyday vocabulary and the
    trusted entries, applied to ``reason`` (last rule first)."""
    update, fromkeys = reason.update, dict.fromkeys
    # everyday_phrase: up to PHRASE_CHECK_MAX_CHARS characters, a function word or a digit, everyday words only
    # (the keys an earlier rule takes are left out first: they spare the slowest test).
    no_mark = _PHRASE_MARKS.isdisjoint
    update(fromkeys([k for k in wide if COMMON_CHECK_MAX_CHARS < len(k) <= PHRASE_CHECK_MAX_CHARS
                     and not no_mark(k) and k not in common and k not in trusted_holders and k not in allow
                     and made_of_common_words(k, common)], "everyday_phrase"))
    # common_words: up to COMMON_CHECK_MAX_CHARS characters, everyday words only. For two characters (nearly
    # all) made_of_common_words, unrolled: two everyday characters (a digit is one: numbers count as "0"), or,
    # holding a digit, an everyday word once its number is "0" (3个 -> 0个).
    chars = _common_chars(common)
    short = [k for k in wide if len(k) <= COMMON_CHECK_MAX_CHARS]
    two = [k for k in short if len(k) == 2]
    update(fromkeys([k for k in two if k[0] in chars and k[1] in chars], "common_words"))
    update(fromkeys([k for k in two if not _DIGIT_CHARS.isdisjoint(k) and _DIGITS_RE.sub("0", k) in common],
                    "common_words"))
    update(fromkeys([k for k in short if len(k) != 2 and made_of_common_words(k, common)], "common_words"))
    update(fromkeys(common.intersection(wide), "common_word"))
    update(fromkeys(trusted_holders.intersection(wide), "contains_trusted"))


def _new_public_keys(keys: list[str], seen: set, allow: frozenset, min_chars: int) -> dict[str, str]:
    """The keys of a public list not ``seen`` before (added to it), each at its first line, with its reason (the
    ASCII, length and allowlist rules; the other entries are deferred: see :class:`_Deferred`)."""
    new = dict.fromkeys(keys, _DEFERRED_REASON)
    new.pop("", None)
    for k in seen.intersection(new):
        del new[k]
    seen.update(new)
    _ascii_and_dropping_reasons(new, allow, min_chars)
    return new


class _Deferred:
    """What :func:`build_matcher` leaves for later, as no masking run needs it all: the class of the non-ASCII
    public entries that no length or allowlist rule drops (it needs the trusted entries and the everyday
    vocabulary: the slow part of a build), and ``info`` (first spelling, source, reason) of the public entries.

    Matching classifies an entry the first time it is found (:func:`classify_public_entry`, remembered): a run
    over a corpus meets a few hundred of the 40k entries of a large public list. ``info`` and ``stats`` (lint,
    tests) are made from the lists' entries when asked for, the rest classified at once (:func:`_public_reasons`,
    the same answers). Pickled with the matcher (the vocabulary and the entries as one string each), so that a
    matcher loaded from the disk cache does all this the same way."""

    def __init__(self, trusted_info: dict, public: list, allow: frozenset, common: frozenset, min_chars: int,
                 entries: int):
        self.trusted_info = trusted_info  # info of the trusted lists (and the entries the user allowlisted)
        self.public = public              # (source, entries packed by _pack_lines) of each public list, in order
        self.allow = allow
        self._common: "frozenset | tuple" = common  # everyday vocabulary; (size, joined words) when pickled
        self.min_chars = min_chars
        self.entries = entries            # stats["entries"]
        self.reasons: dict[str, str] = {}  # key -> reason, for the deferred entries classified so far
        self._trusted_ac: Optional["ahocorasick.Automaton"] = None

    @property
    def common(self) -> frozenset:
        if not isinstance(self._common, frozenset):
            self._common = _unpack_words(self._common)
        return self._common

    @property
    def trusted_ac(self) -> "ahocorasick.Automaton":
        """The trusted keys a public entry may hold (only non-ASCII ones are asked: a character is enough then)."""
        if self._trusted_ac is None:
            ac = ahocorasick.Automaton()
            for k, (strength, *_rest) in self.trusted_info.items():
                if strength == TRUSTED and (len(k) >= 2 or not k.isascii()):
                    ac.add_word(k, k)
            if len(ac):
                ac.make_automaton()
            self._trusted_ac = ac
        return self._trusted_ac

    def reason(self, key: str) -> str:
        """The reason of a deferred entry (the allowlists dropped theirs before: none is in ``allow``)."""
        r = self.reasons.get(key)
        if r is None:
            r = classify_public_entry(key, self.trusted_ac, frozenset(), self.common, self.min_chars).reason
            self.reasons[key] = r
        return r

    def info_and_stats(self) -> tuple[dict, dict]:
        """``info`` of every entry (the public lists' made as build_matcher made their keys) and ``stats``."""
        info = dict(self.trusted_info)
        seen = set(info)
        for source, packed in self.public:
            entries = _unpack_lines(packed)
            keys = canonical_entries(entries)
            reasons = _new_public_keys(keys, seen, self.allow, self.min_chars)
            todo = [k for k, r in reasons.items() if r == _DEFERRED_REASON and k not in self.reasons]
            holders = {todo[i] for i in _lines_holding(self.trusted_ac, todo)}
            classes = dict.fromkeys(todo, "specific")
            _everyday_and_trusted_reasons(classes, todo, holders, frozenset(), self.common)
            self.reasons.update(classes)
            first = dict(zip(reversed(keys), reversed(entries)))  # each key's first spelling (written last)
            for k, r in reasons.items():
                if r == _DEFERRED_REASON:
                    r = self.reasons[k]
                info[k] = (_STRENGTHS[r], r, first[k], source)
        return info, _stats(self.entries, (v[1] for v in info.values()))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_trusted_ac"] = None
        if isinstance(self._common, frozenset):
            state["_common"] = _pack_words(self._common)
        return state


# ---------------------------------------------------------------------------------------------------------------
# The matcher
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SensitiveConfig:
    """Everything that decides a matcher; small, hashable and picklable (what a Beam DoFn carries to workers)."""

    lexicons: tuple[str, ...] = ()          # extra lexicon paths (public unless their header says trusted)
    allowlists: tuple[str, ...] = ()        # extra allowlist paths
    default_lexicons: bool = True           # load the shipped starter lexicons (trusted)
    default_allowlist: bool = True          # load the shipped allowlist
    hygiene: bool = True                    # False: every entry of every list is strong (the naive behaviour)
    min_chars: int = 2                      # public entries shorter than this never match
    max_gap: int = 3                        # separators allowed between two matched characters
    cache_dir: Optional[str] = None         # None: $TUWEN_CACHE_DIR or ~/.cache/tuwen; "" disables the disk cache


class Match(NamedTuple):
    start: int       # code points into the text given to find
    end: int
    key: str         # canonical entry
    strength: int
    masked: bool


class SensitiveMatcher:
    """A built automaton plus, per canonical key, its strength and where it came from."""

    def __init__(self, automaton: "ahocorasick.Automaton", info: Optional[dict], stats: Optional[dict],
                 junction_words: frozenset = frozenset()):
        self.automaton = automaton
        self._info: Optional[dict] = info  # key -> (strength, reason, first original spelling, source)
        self._packed_info: Optional[tuple] = None
        self._stats = stats    # counts by reason, entries loaded
        # Two-character everyday words: a short hit whose first (last) character forms one of them with the
        # character before (after) it belongs to other words (台独 in 舞台独唱, 藏独 in 收藏独特, 赌场 in 打赌场面).
        self.junction_words = junction_words
        self._deferred: Optional[_Deferred] = None  # public entries classified on first use, their info

    @property
    def info(self) -> dict:
        """key -> (strength, reason, first original spelling, source); only ``tuwen lexicon lint`` and tests read
        it, so it is made (or unpacked, from a pickle) on first use."""
        if self._info is None or self._stats is None:
            self._complete()
        return self._info

    @property
    def stats(self) -> dict:
        """Entries loaded (``entries``) and counts by reason, in order of first appearance."""
        if self._stats is None:
            self._complete()
        return self._stats

    def _complete(self) -> None:
        """``info`` unpacked, or made from the lexicons' entries (see :class:`_Deferred`), and ``stats``."""
        if self._info is None and self._packed_info is not None:
            self._info = _unpack_info(self._packed_info)
        elif self._deferred is not None:
            self._info, self._stats = self._deferred.info_and_stats()

    # Pickled (the disk cache) without ``info`` when fresh from build_matcher (its _Deferred holds the lexicons'
    # entries instead), or with ``info`` as a few long strings and byte columns instead of 60k tuples: quick to
    # write, and not unpacked at all by a run that only masks (``info`` is read-only once made). The junction
    # words travel as one string too.
    def __getstate__(self):
        state = dict(self.__dict__)
        if state["_info"] is not None:
            state["_packed_info"] = state["_packed_info"] or _pack_info(state["_info"])
            state["_info"] = None
        state["junction_words"] = _pack_words(self.junction_words)
        return state

    def __setstate__(self, state):
        state["junction_words"] = _unpack_words(state["junction_words"])
        self.__dict__.update(state)

    # A weak (everyday-word) hit is masked only this close (characters) to a strong one: 美女 next to 一夜情 in an
    # advert, not 美国 three sentences after 毒品 in a news story.
    context_window = 8

    # -- matching ---------------------------------------------------------------------------------------------
    def matches(self, text: str, max_gap: int = 3, need_strong: bool = False) -> list[Match]:
        """Every lexicon hit in ``text`` (overlapping ones included), with whether it is masked.
        ``need_strong``: return nothing at once when no hit is strong (then nothing is masked)."""
        if not text or not len(self.automaton):
            return []
        canon = canonical_chars(text)
        stream = _SEPARATORS_RE.sub("", canon)
        hits = list(self.automaton.iter(stream))
        if not hits:  # the common case: no position map needed
            return []
        if self._deferred is not None and not all(code & 12 for _, code in hits):
            hits = self._classified(stream, hits)
        if need_strong and all(code & 12 == _WEAK_BITS for _, code in hits):  # only everyday words: the next
            return []                                                            # common case, on clean text
        # pos[i] = index in the text of the stream's i-th character (None when nothing was left out)
        pos = None if len(stream) == len(canon) else [m.start() for m in _STREAM_CHAR_RE.finditer(canon)]
        found: list[list] = []
        strong_spans: list[tuple[int, int]] = []
        n = len(canon)
        for end, code in hits:
            length, strength = code >> 4, (code >> 2) & 3
            first = end - length + 1
            key = stream[first:end + 1]
            if pos is None:
                s, e = first, end + 1
            else:
                s, e = pos[first], pos[end] + 1
                if e - s != length and any(pos[k + 1] - pos[k] - 1 > max_gap for k in range(first, end)):
                    continue
            # ASCII letters and digits match whole words: not right after (before) another one (tel in hotel)
            if s > 0 and key[0] in _ASCII_ALNUM and canon[s - 1] in _ASCII_ALNUM:
                continue
            if e < n and key[-1] in _ASCII_ALNUM and canon[e] in _ASCII_ALNUM:
                continue
            if length <= JUNCTION_MAX_CHARS and e - s == length and self._across_words(canon, s, e):
                continue
            found.append([s, e, key, strength])
        # A public hit inside a longer everyday-word hit is only part of that word (江泽 in 江泽民): not evidence.
        weak_spans = [(s, e) for s, e, _, st in found if st == WEAK]
        for f in found:
            if f[3] == STRONG and any(ws <= f[0] and f[1] <= we and we - ws > f[1] - f[0] for ws, we in weak_spans):
                f[3] = WEAK
            if f[3] >= STRONG:
                strong_spans.append((f[0], f[1]))
        w = self.context_window
        return [Match(s, e, key, st, st >= STRONG or any(ss - w <= e and s <= se + w for ss, se in strong_spans))
                for s, e, key, st in found]

    def _classified(self, stream: str, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """``hits`` with the strength of every deferred entry in its code (the entry classified if new)."""
        reason, out = self._deferred.reason, []
        for end, code in hits:
            if not code & 12:
                code |= _STRENGTHS[reason(stream[end - (code >> 4) + 1:end + 1])] << 2
            out.append((end, code))
        return out

    def _across_words(self, canon: str, s: int, e: int) -> bool:
        """Is the plain (unseparated) hit ``canon[s:e]`` glued into everyday words: a two-character hit on either
        side, a three-character one (less likely to arise by accident) on both?"""
        jw = self.junction_words
        if not jw:
            return False
        left = s > 0 and canon[s - 1:s + 1] in jw
        right = e < len(canon) and canon[e - 1:e + 1] in jw
        return (left or right) if e - s <= 2 else (left and right)

    def spans(self, text: str, max_gap: int = 3) -> list[tuple[int, int]]:
        """The masked spans of ``text``, overlapping hits merged, sorted."""
        found = self.matches(text, max_gap, need_strong=True)
        if not found:  # most texts
            return []
        spans = sorted((m.start, m.end) for m in found if m.masked)
        merged: list[list[int]] = []
        for s, e in spans:
            if merged and s < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return [(s, e) for s, e in merged]


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


def _entry_code(key: str, strength: int) -> int:
    """What the automaton stores per key (an int keeps it small and quick to load): length and strength (two
    low bits free)."""
    return (len(key) << 4) | (strength << 2)


def build_matcher(lexicons: Sequence[LexiconFile], allowlists: Sequence[LexiconFile], hygiene: bool = True,
                  min_chars: int = 2, user_allowlists: Sequence[LexiconFile] = ()) -> SensitiveMatcher:
    """Classify the entries and build the automaton (see the module docstring for the policy).

    ``allowlists`` (the shipped one) drop entries of public lists; ``user_allowlists`` (``--allowlist``) are the
    user's last word and drop entries of every list, trusted ones included. The non-ASCII public entries that
    these and the length rules keep are classified on first use (see :class:`_Deferred`)."""
    user_allow = frozenset(k for a in user_allowlists for k in canonical_entries(a.entries))
    allow = frozenset(k for a in allowlists for k in canonical_entries(a.entries)) | user_allow
    info: dict[str, tuple] = {}  # of the trusted lists (every list without hygiene)
    entries = 0
    trusted_keys: dict[str, tuple] = {}
    for lex in lexicons:
        if lex.trusted or not hygiene:
            for e, k in zip(lex.entries, canonical_entries(lex.entries)):
                entries += 1
                if not k:
                    continue
                if k in user_allow:
                    info.setdefault(k, (0, "allowlisted", e, lex.source))
                    continue
                trusted_keys.setdefault(k, (TRUSTED, "trusted" if lex.trusted else "no_hygiene", e, lex.source))
    info.update({k: v for k, v in trusted_keys.items() if k not in info})
    common = common_vocabulary() if hygiene else frozenset()
    keys, strengths = list(info), [v[0] for v in info.values()]
    seen = set(info)
    public: list[tuple[str, tuple]] = []  # (source, entries) of the public lists: their info is made on first use
    for lex in lexicons:
        if lex.trusted or not hygiene:
            continue
        entries += len(lex.entries)
        reasons = _new_public_keys(canonical_entries(lex.entries), seen, allow, min_chars)
        keys += reasons
        strengths += map(_STRENGTHS.__getitem__, reasons.values())
        public.append((lex.source, _pack_lines(lex.entries)))
    matcher = SensitiveMatcher(_automaton(keys, strengths), None, None, _two_char_words(common).difference(seen))
    if public:
        matcher._deferred = _Deferred(info, public, allow, common, min_chars, entries)
    else:
        matcher._info, matcher._stats = info, _stats(entries, (v[1] for v in info.values()))
    return matcher


def _stats(entries: int, reasons: Iterable[str]) -> dict[str, int]:
    """``stats``: the entries loaded, then the count of each reason in order of first appearance."""
    stats = {"entries": entries}
    stats.update(Counter(reasons))
    return stats


def _automaton(keys: Sequence[str], strengths: Sequence[int]) -> "ahocorasick.Automaton":
    """The matching automaton: every key of nonzero strength, with its code (see :func:`_entry_code`).

    pyahocorasick finds a node's child by scanning the node's children in the order they were first added, and the
    root has one child per first character of a key (thousands). So the keys that open the root's children are
    added first, the most frequent character first (counted on a sample of the keys: a fair stand-in for text):
    matching the bench captions takes half the time, and adding the keys and making the failure links (which
    often look a character up at the root) are quicker too. The order is kept in the pickled automaton; what is
    found does not depend on it."""
    ac = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    kept = list(compress(keys, strengths))
    codes = [(len(k) << 4) | ((s & 3) << 2)  # _entry_code, inlined (a deferred entry's strength is 0 in its code)
             for k, s in zip(keys, strengths) if s]
    if not kept:
        return ac
    step = 8  # one key in eight: enough to rank the frequent characters, which are all that matter here
    freq = Counter("".join(kept[::step]))
    opener = dict(zip(map(itemgetter(0), kept[::step]), range(0, len(kept), step)))  # first character -> a key
    add = ac.add_word
    for c in sorted(opener, key=freq.__getitem__, reverse=True):
        add(kept[opener[c]], codes[opener[c]])
    deque(map(add, kept, codes), maxlen=0)  # the openers again: same code, nothing changes
    ac.make_automaton()
    return ac


# Parts of the last vocabulary asked about, as (vocabulary, part): the process-wide one is the one always used.
_TWO_CHAR: Optional[tuple] = None
_CHARS: Optional[tuple] = None


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


def _lines_holding(ac: "ahocorasick.Automaton", keys: list[str]) -> set[int]:
    """Indices of the keys that hold a word of ``ac``: one automaton pass over all keys joined by newlines."""
    if not len(ac) or not keys:
        return set()
    ends = list(map(operator.add, accumulate(map(len, keys)), range(len(keys))))  # where each key's newline is
    return {bisect.bisect_right(ends, end) for end, _ in ac.iter("\n".join(keys))}


# ---------------------------------------------------------------------------------------------------------------
# Building from a config: once per process, cached on disk
# ---------------------------------------------------------------------------------------------------------------

CACHE_KEEP = 8  # matcher files kept in the disk cache
_MATCHERS: dict[SensitiveConfig, SensitiveMatcher] = {}
_MATCHERS_LOCK = threading.Lock()


def _inputs(config: SensitiveConfig) -> tuple[list[LexiconFile], list[LexiconFile], list[LexiconFile]]:
    lexicons: list[LexiconFile] = []
    if config.default_lexicons:
        lexicons += [parse_lexicon(_read_package_text(n), f"tuwen.lexicons/{n}", trusted=True)
                     for n in default_lexicon_names()]
    lexicons += [read_lexicon(p) for p in config.lexicons]
    allowlists: list[LexiconFile] = []
    if config.default_allowlist:
        allowlists.append(parse_lexicon(_read_package_text(DEFAULT_ALLOWLIST), f"tuwen.lexicons/{DEFAULT_ALLOWLIST}",
                                        trusted=False))
    user_allowlists = [read_lexicon(p, trusted=False) for p in config.allowlists]
    return lexicons, allowlists, user_allowlists


def _cache_dir(config: SensitiveConfig) -> Optional[Path]:
    root = diskcache.cache_root(config.cache_dir)
    return root / "sensitive" if root is not None else None


def _cache_key(config: SensitiveConfig, lexicons, allowlists, user_allowlists) -> str:
    h = hashlib.sha256()
    jp = _jieba_dictionary_path()
    own_code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()  # any change to this module rebuilds
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
        lexicons, allowlists, user_allowlists = _inputs(config)
        cdir = _cache_dir(config)
        path = cdir / f"{_cache_key(config, lexicons, allowlists, user_allowlists)}.pkl" if cdir else None
        m = diskcache.load(path)
        if m is None:
            m = build_matcher(lexicons, allowlists, config.hygiene, config.min_chars, user_allowlists)
            diskcache.save(path, m, keep=CACHE_KEEP)
        _MATCHERS[config] = m
        return m


# ---------------------------------------------------------------------------------------------------------------
# The text step
# ---------------------------------------------------------------------------------------------------------------

class MaskSensitiveWords:
    """The ``sensitive`` text step: each matched span becomes as many ``*`` as it has characters.

    Cheap to construct and to pickle (it carries only its :class:`SensitiveConfig`); the matcher is built or
    loaded on first use (or by :meth:`setup`, which a Beam DoFn calls in its own ``setup()``)."""

    name = "sensitive"

    def __init__(self, config: Optional[SensitiveConfig] = None, **kwargs):
        if config is None:
            kwargs = {k: tuple(v) if k in ("lexicons", "allowlists") else v for k, v in kwargs.items()}
            config = SensitiveConfig(**kwargs)
        elif kwargs:
            raise TypeError("pass either a SensitiveConfig or keyword options, not both")
        self.config = config
        self._matcher: Optional[SensitiveMatcher] = None

    @classmethod
    def from_paths(cls, lexicons: Iterable[str] = (), allowlists: Iterable[str] = (), **options) -> "MaskSensitiveWords":
        return cls(SensitiveConfig(lexicons=tuple(map(str, lexicons)), allowlists=tuple(map(str, allowlists)),
                                   **options))

    def setup(self) -> "MaskSensitiveWords":
        if self._matcher is None:
            self._matcher = get_matcher(self.config)
        return self

    @property
    def matcher(self) -> SensitiveMatcher:
        return self.setup()._matcher

    def __getstate__(self):
        return {"config": self.config}

    def __setstate__(self, state):
        self.config = state["config"]
        self._matcher = None

    def find(self, text: str) -> list[Replacement]:
        spans = (self._matcher or self.matcher).spans(text, self.config.max_gap)
        return [Replacement(s, e, MASK_CHAR * (e - s)) for s, e in spans] if spans else []

    def mask(self, text: str) -> str:
        """``text`` with its sensitive spans masked (no edit tracking)."""
        out, pos = [], 0
        for s, e in self.matcher.spans(text, self.config.max_gap):
            out += [text[pos:s], MASK_CHAR * (e - s)]
            pos = e
        out.append(text[pos:])
        return "".join(out)
