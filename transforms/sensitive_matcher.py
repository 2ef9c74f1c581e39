"""The matcher: an Aho-Corasick automaton over the canonical keys of every list, and the rules that decide which
of its hits are masked.

A hit's span is the *original* text from its first to its last matched character, separators included; at most
``max_gap`` separators may sit between two matched characters, so two words in different clauses do not join into
one entry. ASCII entries match whole words only (``tel`` is not found in ``hotel``). A short hit written plainly is
dropped when it is glued into everyday two-character words around it: a two-character hit on either side, a
three-character hit on both (台独 in 舞台独唱, 藏独 in 收藏独特, 色情 in 彩色情侣装, 大麻 in 大麻烦); written with
separators between its letters it is deliberate and stays masked. A weak hit is masked only within
``CONTEXT_WINDOW`` characters of a strong one, and a public strong hit lying inside a longer weak hit is only part
of an everyday word (江泽 inside 江泽民) and counts as weak.
"""
from __future__ import annotations

from collections import Counter, deque
from itertools import compress
from operator import itemgetter
from typing import NamedTuple, Optional, Sequence

import ahocorasick

from tuwen.transforms.sensitive_canonical import _SEPARATORS_RE, _STREAM_CHAR_RE, canonical_chars, canonical_entries
from tuwen.transforms.sensitive_hygiene import (MIN_ENTRY_CHARS, STRONG, TRUSTED, WEAK, _STRENGTHS, _Deferred,
                                                _new_public_keys, _stats)
from tuwen.transforms.sensitive_lexicons import LexiconFile
from tuwen.transforms.sensitive_packing import _pack_info, _pack_lines, _pack_words, _unpack_info, _unpack_words
from tuwen.transforms.sensitive_vocabulary import _two_char_words, common_vocabulary

# Separators allowed between two matched characters (the default of SensitiveConfig.max_gap).
MAX_GAP = 3
# A weak (everyday-word) hit is masked only this close (characters) to a strong one: 美女 next to 一夜情 in an
# advert, not 美国 three sentences after 毒品 in a news story.
CONTEXT_WINDOW = 8
# Hits up to this many characters, written plainly, are checked for being glued into neighbouring words.
JUNCTION_MAX_CHARS = 3
# An automaton code (see _entry_code) is the key's length << 4 | its strength << 2.
_STRENGTH_BITS = 3 << 2  # the strength bits of a code: 0 while a deferred entry is not classified
_WEAK_BITS = WEAK << 2  # the strength bits of a weak entry's code
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


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

    context_window = CONTEXT_WINDOW

    # -- matching ---------------------------------------------------------------------------------------------
    def matches(self, text: str, max_gap: int = MAX_GAP, need_strong: bool = False) -> list[Match]:
        """Every lexicon hit in ``text`` (overlapping ones included), with whether it is masked.
        ``need_strong``: return nothing at once when no hit is strong (then nothing is masked)."""
        if not text or not len(self.automaton):
            return []
        canon = canonical_chars(text)
        stream = _SEPARATORS_RE.sub("", canon)
        hits = list(self.automaton.iter(stream))
        if not hits:  # the common case: no position map needed
            return []
        if self._deferred is not None and not all(code & _STRENGTH_BITS for _, code in hits):
            hits = self._classified(stream, hits)
        # Only everyday words: the next common case, on clean text.
        if need_strong and all(code & _STRENGTH_BITS == _WEAK_BITS for _, code in hits):
            return []
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
            if not code & _STRENGTH_BITS:
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

    def spans(self, text: str, max_gap: int = MAX_GAP) -> list[tuple[int, int]]:
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



def _entry_code(key: str, strength: int) -> int:
    """What the automaton stores per key (an int keeps it small and quick to load): length and strength (two
    low bits free)."""
    return (len(key) << 4) | (strength << 2)


def build_matcher(lexicons: Sequence[LexiconFile], allowlists: Sequence[LexiconFile], hygiene: bool = True,
                  min_chars: int = MIN_ENTRY_CHARS, user_allowlists: Sequence[LexiconFile] = ()) -> SensitiveMatcher:
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
