"""Sensitive-word masking: lexicons of tens of thousands of entries, matched with Aho-Corasick, evasions included.

What this room is for: the ``sensitive`` text step. :class:`MaskSensitiveWords` finds lexicon entries in a text
and replaces every matched span with as many ``*`` as it has characters; the rest of the text is untouched.

Evasion. Text and entries are both mapped to one *canonical stream* before matching (:mod:`~tuwen.transforms.sensitive_canonical`): one 1:1
character table (traditional → simplified, full-width → ASCII, upper → lower case, compatibility ideographs →
unified), separators left out. So 賭場, 赌 场, 赌.场, 赌\\u200b场 and ＦａＬｕｎ all match their plain entry, and the
span masked is the *original* text from the first to the last matched character, separators included (at most
``max_gap`` of them between two matched characters).

Hygiene. Public lists are noisy (一个, 女人, 黑狗 and hundreds of single characters). Lexicons are *trusted* (our
starter lists in ``tuwen.lexicons``, or any file whose header says ``# tuwen-lexicon: trusted``: every entry is
masked) or *public* (everything else passed with ``--lexicon``), whose entries are dropped, *weak* (everyday
vocabulary, judged on jieba's general dictionary: masked only next to a strong hit) or *strong* (:mod:`~tuwen.transforms.sensitive_hygiene`).
An allowlisted entry is dropped (a user's ``--allowlist`` also drops entries of trusted lists: it is the user's
last word). Sensitive words that are also common words (色情, 毒品, 赌场) are therefore caught through the trusted
starter lexicons, which is what they are for; extend those (or mark your own list trusted) rather than loosening
the policy for a whole public list.

Word junctions and whole words. A short hit written plainly is dropped when it is glued into everyday words
around it (台独 in 舞台独唱); ASCII entries match whole words only (``tel`` is not found in ``hotel``)
(:mod:`~tuwen.transforms.sensitive_matcher`). Matchers are built once per process and configuration (:func:`get_matcher`), and cached on disk
keyed by the content of every input (:mod:`~tuwen.transforms.sensitive_cache`).

The work is done in sibling modules, each importing only those before it: ``sensitive_lexicons`` (reading
the lists), ``sensitive_canonical``, ``sensitive_vocabulary`` (everyday words), ``sensitive_packing`` (compact
pickles for the disk cache), ``sensitive_hygiene`` (the policy for public lists), ``sensitive_matcher`` (building
and matching), ``sensitive_cache`` (the config, and matchers once per process and on disk). This module is the
text step and the public face: everything public is re-exported here, so import from
``tuwen.transforms.sensitive``.
"""
from __future__ import annotations

from typing import Iterable, Optional

from tuwen.transforms.sensitive_lexicons import (DEFAULT_ALLOWLIST, DEFAULT_LEXICON_PREFIX, TRUSTED_DIRECTIVE,
                                                 LexiconFile, default_lexicon_names, load_lexicons, parse_lexicon,
                                                 read_lexicon)
from tuwen.transforms.sensitive_canonical import (SEPARATOR_RE, canonical_chars, canonical_entries, canonical_entry,
                                                  char_table)
from tuwen.transforms.sensitive_vocabulary import (COMMON_CHAR_MIN_FREQ, COMMON_WORD_MIN_FREQ, MAX_WORD_CHARS,
                                                   common_vocabulary, made_of_common_words)
from tuwen.transforms.sensitive_hygiene import (COMMON_CHECK_MAX_CHARS, DEFERRED, FUNCTION_CHARS,
                                                MIN_ASCII_WORD_CHARS, MIN_ENTRY_CHARS, MIN_NUMBER_DIGITS,
                                                PHRASE_CHECK_MAX_CHARS, STRONG, TRUSTED, WEAK, EntryClass,
                                                classify_public_entries, classify_public_entry)
from tuwen.transforms.sensitive_matcher import (CONTEXT_WINDOW, JUNCTION_MAX_CHARS, MAX_GAP, Match, SensitiveMatcher,
                                                build_matcher)
from tuwen.transforms.sensitive_cache import CACHE_KEEP, POLICY_VERSION, SensitiveConfig, get_matcher
from tuwen.transforms.text import MASK_CHAR, Replacement

__all__ = [
    "CACHE_KEEP", "COMMON_CHAR_MIN_FREQ", "COMMON_CHECK_MAX_CHARS", "COMMON_WORD_MIN_FREQ", "CONTEXT_WINDOW",
    "DEFAULT_ALLOWLIST", "DEFAULT_LEXICON_PREFIX", "DEFERRED", "FUNCTION_CHARS", "JUNCTION_MAX_CHARS", "MAX_GAP",
    "MAX_WORD_CHARS", "MIN_ASCII_WORD_CHARS", "MIN_ENTRY_CHARS", "MIN_NUMBER_DIGITS", "PHRASE_CHECK_MAX_CHARS",
    "POLICY_VERSION", "SEPARATOR_RE", "STRONG", "TRUSTED", "TRUSTED_DIRECTIVE", "WEAK",
    "EntryClass", "LexiconFile", "MaskSensitiveWords", "Match", "SensitiveConfig", "SensitiveMatcher",
    "build_matcher", "canonical_chars", "canonical_entries", "canonical_entry", "char_table",
    "classify_public_entries", "classify_public_entry", "common_vocabulary", "default_lexicon_names", "get_matcher",
    "load_lexicons", "made_of_common_words", "parse_lexicon", "read_lexicon",
]


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
