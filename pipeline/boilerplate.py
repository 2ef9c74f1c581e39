"""Boilerplate mining in Beam: the two passes of :mod:`tuwen.transforms.boilerplate` as CombineFns.

``texts | MineBoilerplate(min_doc_count=..., ...)`` (texts as the boilerplate step sees them: normalised, as
``tuwen text`` does) is a one-element PCollection holding the mined
``list[Fragment]``, meant as a side input (``beam.pvalue.AsSingleton``) of the stripping step. Both passes are
global combines whose accumulators are bounded (a bottom-k document sample; per candidate a count and a bottom-k
sketch), mergeable, and independent of the order and partitioning of the input, so the list is the same with one
worker or many.
"""
from __future__ import annotations

from typing import Optional

import apache_beam as beam

from tuwen.transforms.boilerplate import CandidateCounter, DocumentSample, Fragment, MiningThresholds


def _merge_all(accs):
    """Merge accumulators (mergeable objects with ``merge``) into the first."""
    accs = iter(accs)
    first = next(accs)
    for a in accs:
        first.merge(a)
    return first


class SampleDocumentsFn(beam.CombineFn):
    """Pass 1: bottom-k sample of distinct documents by SHA-1 → the candidate fragments (sorted)."""

    def __init__(self, thresholds: MiningThresholds):
        self.th = thresholds

    def create_accumulator(self):
        return DocumentSample(self.th.sample_size)

    def add_input(self, acc, text):
        return acc.add(text)

    def merge_accumulators(self, accs):
        return _merge_all(accs)

    def extract_output(self, acc):
        return acc.extract(self.th)


class CountCandidatesFn(beam.CombineFn):
    """Pass 2: exact counts and remainder sketches of the candidates, from each text's hits → the fragments."""

    def __init__(self, thresholds: MiningThresholds):
        self.th = thresholds

    def create_accumulator(self):
        return CandidateCounter.for_thresholds((), self.th)

    def add_input(self, acc, hits):
        return acc.add_hits(hits)

    def merge_accumulators(self, accs):
        return _merge_all(accs)

    def extract_output(self, acc) -> list[Fragment]:
        return acc.extract(self.th)


class _CandidateHits(beam.DoFn):
    """For each text, the candidates it carries and the hash of what remains (candidates: a side input)."""

    def __init__(self, thresholds: MiningThresholds):
        self.th = thresholds
        self._counter = None
        self._key = None

    def process(self, text, candidates):
        if self._counter is None or candidates is not self._key:  # a new side-input value: build its matcher
            key = tuple(map(tuple, candidates))
            if self._counter is None or key != getattr(self, "_tuple_key", None):
                self._counter, self._tuple_key = CandidateCounter.for_thresholds(key, self.th), key
            self._key = candidates
        hits = self._counter.hits(text)
        if hits:
            yield hits


class MineBoilerplate(beam.PTransform):
    """PCollection[str] → one-element PCollection[list[Fragment]]. Options: :class:`MiningThresholds`."""

    def __init__(self, label=None, recount_texts=None, thresholds: Optional[MiningThresholds] = None, **options):
        super().__init__(label)
        self.th = thresholds or MiningThresholds.of(**options)
        # The same texts again, read a second time: then neither pass waits on the other's input, and the
        # FnApiRunner never holds the texts of the whole corpus in memory.
        self.recount_texts = recount_texts

    def expand(self, texts):
        candidates = texts | "SampleDocuments" >> beam.CombineGlobally(SampleDocumentsFn(self.th))
        return ((self.recount_texts if self.recount_texts is not None else texts)
                | "FindCandidates" >> beam.ParDo(_CandidateHits(self.th),
                                                 beam.pvalue.AsSingleton(candidates))
                | "CountCandidates" >> beam.CombineGlobally(CountCandidatesFn(self.th)))
