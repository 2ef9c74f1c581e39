"""What is known of names before any text is read, and the questions about a string that need only that.

:class:`Knowledge` bundles the lexicons, the name model and the given-name character scores (all built once per
process, see :mod:`tuwen.transforms.names.resources`); every pass takes one.
"""
from __future__ import annotations

from typing import Optional

from tuwen.transforms.names.lexicons import JOINERS, Lexicons
from tuwen.transforms.names.model import NameModel
from tuwen.transforms.text import IDEOGRAPH_RE


class Knowledge:
    """The lexicons, the name model and the given-name character scores, with the string tests built on them."""

    __slots__ = ("lex", "model", "scores")

    def __init__(self, lex: Lexicons, model: NameModel, scores: dict):
        self.lex, self.model, self.scores = lex, model, scores

    def surname_of(self, w: str) -> Optional[str]:
        lex = self.lex
        if len(w) >= 3 and w[:2] in lex.compound_surnames:
            return w[:2]
        if w[:1] in lex.single_surnames:
            return w[:1]
        return None

    def given_ok(self, given: str) -> bool:
        lex = self.lex
        return 1 <= len(given) <= 2 and all(IDEOGRAPH_RE.match(c) and c not in lex.given_stopchars for c in given)

    def name_shape(self, w: str) -> Optional[str]:
        """The surname when ``w`` looks like surname + 1-2 given-name characters, else None."""
        sur = self.surname_of(w)
        if sur is None or not self.given_ok(w[len(sur):]):
            return None
        return sur

    def given_score(self, given: str, mean: bool = False) -> float:
        """The weakest (or the mean) character's given-name score (see
        :func:`~tuwen.transforms.names.model.given_name_char_scores`)."""
        scores = [self.scores.get(c, 0.0) for c in given]
        if not scores:
            return 0.0
        return sum(scores) / len(scores) if mean else min(scores)

    def model_score(self, name: str) -> float:
        """The name model's score of a surname + given-name string (see NameModel)."""
        sur = self.surname_of(name) or name[:1]
        return self.model.score(sur, name[len(sur):])

    def is_title_word(self, w: str, sur: str) -> bool:
        return w[len(sur):] in self.lex.titles_after

    def name_chars(self, run: str) -> bool:
        """Only a name's kind of characters (ideographs, the joiners of transliterations), and not a word
        written down as no person."""
        return all(IDEOGRAPH_RE.match(c) or c in JOINERS for c in run) and run not in self.lex.not_person
