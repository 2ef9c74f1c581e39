"""The ``names`` step itself: :class:`PersonNames` runs the passes over jieba's cut in their fixed order, then lets
the learnt character model veto and add (see the package docstring for what each family finds)."""
from __future__ import annotations

from typing import Sequence

from tuwen.transforms.name_tagger import load_tagger
from tuwen.transforms.names.candidates import names_in_context, scored_candidates
from tuwen.transforms.names.chinese import chinese_name
from tuwen.transforms.names.context import Context
from tuwen.transforms.names.famous import famous
from tuwen.transforms.names.foreign import across_joiners, transliterated
from tuwen.transforms.names.grow import conjoined, enumerations, extend_split_names
from tuwen.transforms.names.hmm import hmm_names
from tuwen.transforms.names.knowledge import Knowledge
from tuwen.transforms.names.lexicons import Lexicons
from tuwen.transforms.names.resources import jieba_tables, traditional_to_simplified
from tuwen.transforms.names.tagger_runs import with_model
from tuwen.transforms.names.titles import after_titles, titled_surnames
from tuwen.transforms.text import IDEOGRAPH_RE, NAME_TOKEN, Replacement

# The passes that run after the word-by-word Chinese-name rules (chinese_name), in this order: each adds to the
# spans found so far, and the later ones read them (a shorter find may grow; a covered position is not proposed
# again), so the order is part of the result.
RULE_PASSES = (
    hmm_names,
    names_in_context,
    titled_surnames,
    transliterated,
    after_titles,
    famous,
    # passes that grow what was found
    extend_split_names,
    enumerations,
    conjoined,
    across_joiners,
    scored_candidates,
)


class PersonNames:
    """The ``names`` step: each person name becomes ``<人名>``."""

    name = "names"

    def __init__(self, tagger=None):
        """``tagger``: the character model (a :class:`~tuwen.transforms.name_tagger.ConvNameTagger` or
        :class:`~tuwen.transforms.name_tagger.TaggerEnsemble`); None, the shipped one, loaded once per process."""
        self._lex = Lexicons()
        self._kb = None  # Knowledge, set on first use: the same tables in every call, cheap to pickle
        self._tagger = tagger

    def __getstate__(self):
        # everything else is rebuilt from the package's lexicons and jieba where it is unpickled
        return {} if self._tagger is None else {"tagger": self._tagger}

    def __setstate__(self, state):
        self.__init__(state.get("tagger"))

    # -- public API --------------------------------------------------------------------------------------------
    def find(self, text: str) -> list[Replacement]:
        return self.find_many([text])[0]

    def find_many(self, texts: Sequence[str]) -> list[list[Replacement]]:
        """:meth:`find` for several texts at once (the same result per text; the character model then runs once
        over all of them, which is what makes short captions cheap)."""
        out: list[list[Replacement]] = [[] for _ in texts]
        todo = [i for i, text in enumerate(texts) if text and IDEOGRAPH_RE.search(text) is not None]
        # Traditional script (張偉說): detect on the simplified form, character for character, so offsets hold.
        table = traditional_to_simplified()
        for i, spans in zip(todo, self.spans_many([texts[i].translate(table) for i in todo])):
            reps = out[i]
            for s, e in sorted(spans):
                if reps and s < reps[-1].end:  # overlapping finds are one name
                    if e > reps[-1].end:
                        reps[-1] = Replacement(reps[-1].start, e, NAME_TOKEN)
                    continue
                reps.append(Replacement(s, e, NAME_TOKEN))
        return out

    def spans(self, text: str) -> set[tuple[int, int]]:
        """``(start, end)`` of every person name found (they may overlap; :meth:`find` merges them)."""
        return self.spans_many([text])[0]

    def spans_many(self, texts: Sequence[str]) -> list[set[tuple[int, int]]]:
        ruled = [self._rule_spans(text) for text in texts]
        ctxs = [ctx for ctx, _ in ruled]
        tags, freqs = (ctxs[0].tags, ctxs[0].freqs) if ctxs else ({}, {})
        tagger = self._tagger or load_tagger()
        # a text without a rule's find in which the model proposes nothing has no name (its probabilities, which
        # would only check finds and proposals, may not even be computed)
        read = tagger.read_many(texts, [c.words for c in ctxs], tags, freqs, needed=[bool(f) for _, f in ruled])
        return [set() if probs is None else with_model(self._kb, ctx, found, probs, proposed)
                for (ctx, found), (probs, proposed) in zip(ruled, read)]

    def _rule_spans(self, text: str) -> tuple[Context, set]:
        """jieba's cut of the text and what the written-down rules find in it."""
        tokenizer, tags, scores, model = jieba_tables()
        ctx = Context.cut(self._lex, text, tokenizer, tags)
        if self._kb is None or self._kb.model is not model:
            self._kb = Knowledge(self._lex, model, scores)
        kb = self._kb
        found: set[tuple[int, int]] = set()
        for k in range(len(ctx.words)):
            chinese_name(kb, ctx, k, found)
        for rule_pass in RULE_PASSES:
            rule_pass(kb, ctx, found)
        return ctx, found
