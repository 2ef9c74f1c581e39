"""The written-down knowledge of names: the package's lexicon files and the word classes the rules test against.

Read once per :class:`Lexicons`; nothing here touches jieba, so :mod:`tuwen.transforms.name_tagger` can use it too.
"""
from __future__ import annotations

import re
from importlib import resources
from typing import Iterable

# jieba dictionary tags that mean "person name": nr (Chinese), nrt (transliterated), nrfg (famous people).
PERSON_TAGS = frozenset({"nr", "nrfg", "nrt"})
# A transliterated name's parts are joined by one of these (约翰·克里, 约翰—格伦).
JOINERS = frozenset("·•‧・∙－—-")
# Function characters jieba's HMM tends to glue to a following name (致牟小东, 向学昭) or to a preceding one
# (赵华说, 郑咏是).
GLUE_BEFORE = frozenset("致向以当胜令这在和与对给把被让跟同由将为及据称请找叫经但而却就连比像替托派是有从")
# Function characters that end a word: a familiar prefix + surname followed by one of them is a name (小李和).
BOUNDARY_AFTER = frozenset("的了是在和与说也都就还又把被对给跟同去来呢吗吧啊呀等及或")
GLUE_AFTER = frozenset("说是到等在的了和也都就还又称讲对把被与及曾已将")
# Adverbs jieba's dictionary does not tag d (很 is zg there): with the d words, a word after one is a predicate,
# not a noun (很顾家: family-minded, not the Gu family).
UNTAGGED_ADVERBS = frozenset({"很"})
# Characters that join two names (张三和李四, 张三与李四, 张三、李四).
JOINING = frozenset("和与及、")
# jieba tags of a word after a one-character verb that make it a verb there, not a place suffix (站在, 站着, 站了).
VERB_GOES_ON = frozenset({"p", "uz", "ul", "ug", "uv"})
# jieba tags of a one-character word that never starts or ends a transliterated name (于, 和, 的; not 约, an adverb too).
EDGE_FUNCTION_TAGS = frozenset({"p", "c", "u", "uj", "ul", "uz", "ug", "uv"})
# Verbs of saying: what follows a person, not a place or a thing.
SAYING = frozenset({"说", "表示", "指出", "认为", "强调", "透露", "坦言", "告诉", "说道", "笑道", "问道", "答道"})
# jieba tags of words that are not part of a name: verbs, prepositions, conjunctions, particles, adverbs, pronouns,
# numerals, measure words, time and place words.
FUNCTION_TAGS = frozenset({"v", "p", "c", "u", "d", "r", "f", "m", "q", "t", "ns", "nt", "vn", "ad", "uj", "ul",
                           "a", "s"})


def lexicon_lines(name: str) -> list[str]:
    """Non-comment lines of a package lexicon file."""
    text = resources.files("tuwen.lexicons").joinpath(name).read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _words(lines: Iterable[str]) -> list[str]:
    return [w for ln in lines for w in ln.split()]


def _chars(lines: Iterable[str]) -> frozenset:
    return frozenset(c for ln in lines for c in ln if not c.isspace())


class Lexicons:
    """The written-down knowledge, read once from ``tuwen.lexicons``."""

    def __init__(self):
        surnames, ambiguous, common, function = set(), set(), set(), set()
        for ln in lexicon_lines("surnames_chinese.txt"):
            if ln.startswith("AMBIGUOUS:"):
                ambiguous.update(ln[len("AMBIGUOUS:"):].split())
            elif ln.startswith("FUNCTION:"):
                function.update(ln[len("FUNCTION:"):].split())
            elif ln.startswith("COMMON:"):
                common.update(ln[len("COMMON:"):].split())
            else:
                surnames.update(ln.split())
        ambiguous |= function
        self.single_surnames = frozenset(s for s in surnames | ambiguous if len(s) == 1)
        self.compound_surnames = frozenset(s for s in surnames if len(s) == 2)
        self.ambiguous_surnames = frozenset(ambiguous)  # function surnames included
        self.function_surnames = frozenset(function)
        self.common_surnames = frozenset(common - ambiguous)
        self.not_person = frozenset(_words(lexicon_lines("name_not_person.txt")))
        self.hmm_surname_chars = frozenset(s[0] for s in self.single_surnames | self.compound_surnames
                                           if s not in self.ambiguous_surnames)
        # where a name can start: the first character of any surname that is not a function word
        starts = {s[0] for s in self.single_surnames | self.compound_surnames if s not in function}
        self.surname_char_re = re.compile("[" + "".join(sorted(starts)) + "]")
        self.japanese_surnames = frozenset(_words(lexicon_lines("surnames_japanese.txt")))
        sections: dict[str, list[str]] = {}
        current = None
        for ln in lexicon_lines("name_titles.txt"):
            if ln.startswith("[") and ln.endswith("]"):
                current = sections.setdefault(ln[1:-1], [])
            elif current is not None:
                current.extend(ln.split())
        self.titles_after = frozenset(sections.get("after", ()))
        self.titles_before = frozenset(sections.get("before", ()))
        self.titles_before_last = frozenset(t[-1] for t in self.titles_before)
        self.name_prefixes = frozenset(sections.get("prefix", ()))
        self.context_after = frozenset(_words(lexicon_lines("name_context.txt")))
        self.given_stopchars = _chars(lexicon_lines("name_given_stopchars.txt"))
        self.translit_chars = _chars(lexicon_lines("name_translit_chars.txt"))
        self.famous = frozenset(_words(lexicon_lines("name_famous.txt")))
        self.famous_max = max(map(len, self.famous), default=0)
        self.famous_heads = frozenset(w[:2] for w in self.famous)
        self.place_suffixes = frozenset(_words(lexicon_lines("name_place_suffixes.txt")))
        self.max_title_after = max(map(len, self.titles_after), default=1)

    def surname_at(self, text: str, i: int) -> str:
        """The surname a name starting at ``i`` would have: a compound one when the two characters are one, else
        the single character (which may be no surname at all: the caller checks)."""
        return text[i:i + 2] if text[i:i + 2] in self.compound_surnames else text[i]
