"""The read stages: the run's input files spread over workers and read into pairs (ReadPairs), or into their
normalised texts alone for the corpus-wide passes (ReadTexts, and MineRunBoilerplate, which mines the run's
boilerplate from them). The readers themselves are in ``tuwen.pipeline.inputs``.
"""
from __future__ import annotations

from typing import Sequence

import apache_beam as beam

from tuwen.pipeline.inputs import read_pairs, read_texts
from tuwen.transforms.boilerplate import MiningThresholds
from tuwen.transforms.image import ImageConfig
from tuwen.transforms.sources import InputFile
from tuwen.transforms.text import EditedText, Normalize


class ReadPairs(beam.PTransform):
    """Input files → one dict per pair (inline bytes for Parquet/tar rows, an ``image_ref`` for path rows)."""

    def __init__(self, files: Sequence[InputFile], keep_columns: Sequence[str] = (),
                 max_image_bytes: int = ImageConfig.max_image_bytes):
        super().__init__()
        self.files = list(files)
        self.keep_columns = tuple(keep_columns)
        self.max_image_bytes = max_image_bytes  # tar members over it are skipped unread

    def expand(self, pbegin):
        return (pbegin
                | "ListInputFiles" >> beam.Create(self.files)
                | "SpreadInputFiles" >> beam.Reshuffle()
                | "ReadRows" >> beam.FlatMap(read_pairs, self.keep_columns, self.max_image_bytes))


def normalized_texts(f: InputFile, max_chars: int):
    normalize = Normalize()
    for raw in read_texts(f):
        if len(raw) <= max_chars:
            et = EditedText(raw)
            et.apply(normalize.name, normalize.find(raw))
            if et.text:
                yield et.text


class ReadTexts(beam.PTransform):
    """Input files → the normalised texts alone (what the boilerplate step sees), for corpus-wide passes."""

    def __init__(self, files: Sequence[InputFile], max_chars: int):
        super().__init__()
        self.files = list(files)
        self.max_chars = max_chars

    def expand(self, pbegin):
        return (pbegin
                | "ListInputFiles" >> beam.Create(self.files)
                | "SpreadInputFiles" >> beam.Reshuffle()
                | "ReadTexts" >> beam.FlatMap(normalized_texts, self.max_chars))


class MineRunBoilerplate(beam.PTransform):
    """Texts pass: the run's boilerplate fragments, a one-element PCollection for a side input. Each of the two
    mining passes reads the texts itself, so memory stays flat on the FnApiRunner."""

    def __init__(self, files: Sequence[InputFile], max_chars: int, thresholds: MiningThresholds):
        super().__init__()
        self.files, self.max_chars, self.thresholds = list(files), max_chars, thresholds

    def expand(self, pbegin):
        from tuwen.pipeline.boilerplate import MineBoilerplate

        sample_texts = pbegin | "TextsForSample" >> ReadTexts(self.files, self.max_chars)
        recount_texts = pbegin | "TextsForRecount" >> ReadTexts(self.files, self.max_chars)
        return sample_texts | "Mine" >> MineBoilerplate(recount_texts=recount_texts, thresholds=self.thresholds)
