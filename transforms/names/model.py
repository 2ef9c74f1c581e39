"""The name statistics: how much more a character looks like part of a name than like running text.

Both tables come from jieba's dictionary alone (its ~100,000 listed Chinese names and ~6,000 transliterated ones
against every other word); :mod:`tuwen.transforms.names.resources` computes them once per machine and caches them.
"""
from __future__ import annotations

import math

from tuwen.transforms.names.lexicons import JOINERS, PERSON_TAGS, Lexicons


class NameModel:
    """A character model of Chinese names against ordinary text, from jieba's dictionary alone.

    Log-likelihood ratios, in nats: ``surname[c]`` = log P(c starts a name) - log P(c in running text), and
    ``given[c]`` = log P(c in a given name) - log P(c in running text). Names are the ~100,000 three-character
    names jieba lists (tag nr); running text is every other dictionary word weighted by its count. The sum over a
    candidate (张 + 洁 + 清) says how much more a name it looks than ordinary words: 方炳祯 11.7, 张洁清 6.9, but
    白色的 -1.1, 方面 -2.1. Rare characters get a mild default: unknown to both sides says little.
    """

    def __init__(self, tags: dict, freqs: dict):
        lex = Lexicons()
        text_count: dict[str, int] = {}
        total_text = 0
        for w, f in freqs.items():
            if not f or tags.get(w) in PERSON_TAGS:
                continue
            for c in w:
                text_count[c] = text_count.get(c, 0) + f
            total_text += f * len(w)
        given_count: dict[str, int] = {}
        sur_count: dict[str, int] = {}
        total_given = total_sur = 0
        for w, tag in tags.items():
            if tag == "nr" and len(w) == 3 and w[0] in lex.single_surnames:
                sur_count[w[0]] = sur_count.get(w[0], 0) + 1
                total_sur += 1
                for c in w[1:]:
                    given_count[c] = given_count.get(c, 0) + 1
                    total_given += 1
        log_text = math.log(max(1, total_text))

        def ratio(count, total, c):
            return math.log((count.get(c, 0) + 0.1) / max(1, total)) - (math.log(text_count.get(c, 0) + 1) - log_text)

        self.given = {c: ratio(given_count, total_given, c) for c in set(given_count) | set(text_count)}
        # the same for the characters of the ~6,000 transliterated foreign names jieba lists (tag nrt)
        translit_count: dict[str, int] = {}
        total_translit = 0
        for w, tag in tags.items():
            if tag == "nrt":
                for c in w:
                    translit_count[c] = translit_count.get(c, 0) + 1
                    total_translit += 1
        self.translit = {c: ratio(translit_count, total_translit, c) for c in translit_count}
        self.surname = {c: ratio(sur_count, total_sur, c) for c in set(sur_count)}
        for s in lex.compound_surnames:  # rare in jieba's list, but a compound surname is a strong sign
            self.surname[s] = 4.0

    def tables(self) -> dict:
        return {"given": self.given, "translit": self.translit, "surname": self.surname}

    @classmethod
    def from_tables(cls, tables: dict) -> "NameModel":
        model = cls.__new__(cls)
        model.given, model.translit, model.surname = tables["given"], tables["translit"], tables["surname"]
        return model

    def translit_score(self, run: str) -> float:
        """Mean per-character log-likelihood ratio of a transliterated name against running text."""
        letters = [c for c in run if c not in JOINERS]
        return sum(self.translit.get(c, -3.0) for c in letters) / max(1, len(letters))

    def score(self, sur: str, given: str) -> float:
        return self.surname.get(sur, 0.0) + sum(self.given.get(c, 1.0) for c in given)


def given_name_char_scores(tags: dict) -> dict:
    """How much more often a character appears in the given names of jieba's dictionary than in its other words.

    jieba's dictionary lists about 100,000 three-character Chinese names (tag nr); the other 250,000 words give
    the character's ordinary use. 伟, 钧, 明 score high; 的, 票, 料 near zero.
    """
    lex = Lexicons()
    in_names: dict[str, int] = {}
    elsewhere: dict[str, int] = {}
    for w, tag in tags.items():
        if tag == "nr" and len(w) == 3 and w[0] in lex.single_surnames:
            for c in w[1:]:
                in_names[c] = in_names.get(c, 0) + 1
        else:
            for c in set(w):
                elsewhere[c] = elsewhere.get(c, 0) + 1
    return {c: n / (elsewhere.get(c, 0) + 5) for c, n in in_names.items()}
