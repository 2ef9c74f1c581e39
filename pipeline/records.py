"""The small records that flow between the stages, the ways a reject is made, and the stages' counters.

Everything after the fused per-pair stage decides on these records alone (image bytes wait in staging files), so
their size is the pipeline's memory per pair: the FnApiRunner holds every record that crosses a shuffle in memory.
They are named tuples, as small as they can be: in memory a NamedTuple costs what a tuple costs (between stages
Beam pickles it, about 50 bytes more than a plain tuple, so records that come by the million, the dedup index's
entries, stay plain tuples). Everything else a kept sample needs (cleaned text, sizes, checksum, kept columns,
score) waits in the staging file, in front of its JPEG.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from apache_beam.metrics import Metrics

from tuwen.transforms import shards as fmt
from tuwen.transforms.reasons import stage_of
from tuwen.transforms.sources import DETAIL_CHARS

KEPT, REJECTED = "kept", "rejected"  # the outcomes, and the tags of the stages' two outputs


class Ident(NamedTuple):
    """Who a pair is, riding beside its ``Checked`` through the fused stage: the elements there are (Ident, Checked)."""
    id: str
    source: str
    row: int


class Kept(NamedTuple):
    outcome: str  # KEPT
    key: str
    id: str
    source: str
    row: int
    file: str  # staging file name, offset and length of the staged sample
    offset: int
    length: int
    area: int  # width x height of the kept JPEG: of duplicates, the larger image is kept
    dedup_key: Optional[str] = None  # the in-run dedup key (--dedup), None when off
    cross_key: Optional[str] = None  # text + perceptual hash: the key that crosses runs (--dedup-index)


class Rejected(NamedTuple):
    outcome: str  # REJECTED
    key: str
    id: str
    source: str
    row: int
    stage: str
    reason: str
    detail: str
    orig_width: int = 0  # the image's size when the image was read before the pair failed (0: unknown)
    orig_height: int = 0


def reject(pair: dict, reason: str, detail: str = "", orig_width: int = 0, orig_height: int = 0) -> Rejected:
    """A reader's pair (``id``, ``source``, ``row``) rejected for ``reason``."""
    return Rejected(REJECTED, fmt.sample_key(pair["id"]), pair["id"], pair["source"], pair["row"], stage_of(reason),
                    reason, detail[:DETAIL_CHARS], orig_width, orig_height)


def reject_outcome(o, reason: str, detail: str) -> Rejected:
    """An outcome (Kept or Rejected) rejected for ``reason`` by a later decision (duplicates, earlier runs)."""
    return Rejected(REJECTED, o.key, o.id, o.source, o.row, stage_of(reason), reason, detail[:DETAIL_CHARS],
                    getattr(o, "orig_width", 0), getattr(o, "orig_height", 0))


def reject_row(o: Rejected) -> dict:
    """A reject as a row of the reject log."""
    return {"id": o.id, "key": o.key, "source": o.source, "row": o.row, "stage": o.stage, "reason": o.reason,
            "detail": o.detail, "orig_width": o.orig_width or None, "orig_height": o.orig_height or None}


class Counters:
    """Beam Metrics counters, made once per name, for cluster dashboards."""

    def __init__(self, namespace: str = "tuwen"):
        self.namespace = namespace
        self._counters = {}

    def inc(self, name: str, n: int = 1) -> None:
        c = self._counters.get(name)
        if c is None:
            c = self._counters[name] = Metrics.counter(self.namespace, name)
        c.inc(n)
