"""The hygiene policy for public lists: which entries are dropped, which are weak (masked only next to a strong
hit) and which are strong, and why (the ``reason`` that ``tuwen lexicon lint`` and ``stats`` report).

- a single character never matches alone; nor do ASCII words under ``MIN_ASCII_WORD_CHARS`` letters or digit
  strings under ``MIN_NUMBER_DIGITS`` digits;
- an allowlisted entry is dropped;
- an entry that is, or contains, a trusted entry is *strong*;
- an entry written entirely in everyday vocabulary (:mod:`~tuwen.transforms.sensitive_vocabulary`) is *weak*: a
  common dictionary word (一个, 女人), a two-character entry made of common words and characters (黑狗 = 黑 + 狗),
  or a phrase of common words that holds a function word or a number (哭泣的女人, 1978年);
- everything else (援交, 雏妓, 出售冰毒, 六四惨案, spam domains) is strong.

:func:`classify_public_entry` is the rule for one entry; :func:`classify_public_entries` gives the same answers for
a 60k list at once. A build settles only the length, allowlist and ASCII rules; :class:`_Deferred` classifies the
rest on first use.
"""
from __future__ import annotations

import bisect
import operator
from collections import Counter
from itertools import accumulate, compress, filterfalse
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence

import ahocorasick

from tuwen.transforms.sensitive_canonical import canonical_entries
from tuwen.transforms.sensitive_packing import _pack_words, _unpack_lines, _unpack_words
from tuwen.transforms.sensitive_vocabulary import _DIGIT_CHARS, _DIGITS_RE, _common_chars, made_of_common_words

TRUSTED, STRONG, WEAK = 3, 2, 1  # match strengths: trusted-list entry, public specific entry, everyday word
# The strength build_matcher gives a public entry whose class is settled on first use (see _Deferred): its
# automaton code holds strength 0 until then.
DEFERRED = 4

# Public entries shorter than this never match (the default of SensitiveConfig.min_chars): single characters.
MIN_ENTRY_CHARS = 2
# ASCII words shorter than this are dropped (ab; tel is kept), and so are digit strings shorter than
# MIN_NUMBER_DIGITS (12; 13800138000 is kept).
MIN_ASCII_WORD_CHARS = 3
MIN_NUMBER_DIGITS = 7
# Entries up to this many characters are weak when made of everyday words and characters (黑狗 = 黑 + 狗).
COMMON_CHECK_MAX_CHARS = 2
# Longer entries made of everyday words are weak too when they hold a function word: they are pieces of ordinary
# sentences (哭泣的女人, 为人民服务, 1978年), where a sensitive phrase is a compound (六四惨案, 考试作弊).
PHRASE_CHECK_MAX_CHARS = 8
FUNCTION_CHARS = frozenset("的地得了着过和与及或是在有为被把对从向也都就还又很这那其之于")


class EntryClass(NamedTuple):
    strength: int  # 0 = dropped, WEAK, STRONG (TRUSTED is for trusted lists only)
    reason: str


def classify_public_entry(key: str, trusted_keys: "ahocorasick.Automaton | None", allow: frozenset,
                          common: frozenset, min_chars: int = MIN_ENTRY_CHARS,
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
            return EntryClass(STRONG, "number") if len(key) >= MIN_NUMBER_DIGITS else EntryClass(0, "short_number")
        return EntryClass(STRONG, "ascii_word") if len(key) >= MIN_ASCII_WORD_CHARS else EntryClass(0, "short_ascii")
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
                            common: frozenset, min_chars: int = MIN_ENTRY_CHARS) -> list[EntryClass]:
    """:func:`classify_public_entry` of many canonical keys at once, with the same answers (a test holds them
    equal on the 61k public list). ``trusted_holders``: the keys that hold a trusted entry."""
    reasons = _public_reasons(keys, trusted_holders, allow, common, min_chars)
    return [_CLASSES[reasons[k]] for k in keys]


_PHRASE_MARKS = FUNCTION_CHARS | _DIGIT_CHARS  # a function word or a digit: the key may be a piece of a sentence


def _public_reasons(keys: Iterable[str], trusted_holders: "set[str] | frozenset", allow: frozenset,
                    common: frozenset, min_chars: int = MIN_ENTRY_CHARS) -> dict[str, str]:
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
    update(fromkeys(_shorter(narrow, MIN_ASCII_WORD_CHARS), "short_ascii"))
    numbers = list(filter(str.isdigit, narrow))
    update(fromkeys(numbers, "number"))
    update(fromkeys(_shorter(numbers, MIN_NUMBER_DIGITS), "short_number"))
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



def _lines_holding(ac: "ahocorasick.Automaton", keys: list[str]) -> set[int]:
    """Indices of the keys that hold a word of ``ac``: one automaton pass over all keys joined by newlines."""
    if not len(ac) or not keys:
        return set()
    ends = list(map(operator.add, accumulate(map(len, keys)), range(len(keys))))  # where each key's newline is
    return {bisect.bisect_right(ends, end) for end, _ in ac.iter("\n".join(keys))}


def _stats(entries: int, reasons: Iterable[str]) -> dict[str, int]:
    """``stats``: the entries loaded, then the count of each reason in order of first appearance."""
    stats = {"entries": entries}
    stats.update(Counter(reasons))
    return stats


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
