"""Dedup stages, on small records after the fused stage: duplicates within the run, pairs seen in earlier runs,
and the run's own part of the cross-run dedup index (``--dedup-index DIR``).

The index is a folder of Parquet parts (``transforms.dedup.index_schema``: key, score_key, scorer_sha256, run, id).
A run reads every part but its own (``part-<sha256(output)[:16]>.parquet``, which a rerun into the same output
replaces) and ignores rows whose ``run`` is its own output (a compacted part may hold them), so a killed run or a
rerun never rejects its own pairs. The join is a CoGroupByKey on small records, never a side-input dictionary; on
the FnApiRunner a join buffers both inputs in memory, so the index's size sets a floor under the run's memory
(see the README for the measured ceiling, and ``tuwen dedup-index compact``).
"""
from __future__ import annotations

import io
import logging
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tuwen.transforms import dedup as rules

log = logging.getLogger("tuwen")

KEPT, REJECTED = "kept", "rejected"


def _reject(o, reason: str, detail: str):
    from tuwen.pipeline.stages import _reject_outcome

    return _reject_outcome(o, reason, detail)


def _resolve_duplicates(item):
    """One dedup key's kept samples: the first by (larger area, smaller id) stays, the others are
    ``duplicate_pair`` with the kept id as detail."""
    _, group = item
    group = sorted(group, key=lambda o: rules.keep_order(o.area, o.id))
    yield beam.pvalue.TaggedOutput(KEPT, group[0])
    for o in group[1:]:
        yield beam.pvalue.TaggedOutput(REJECTED, _reject(o, "duplicate_pair", group[0].id))


class DropDuplicatePairs(beam.PTransform):
    """Kept samples → (kept, rejected): one sample per in-run dedup key (``--dedup text-score|text-image``)."""

    def expand(self, kept):
        results = (kept
                   | "KeyByDedupKey" >> beam.Map(lambda o: (o.dedup_key, o))
                   | "GroupByDedupKey" >> beam.GroupByKey()
                   | "KeepOneOfEach" >> beam.FlatMap(_resolve_duplicates).with_outputs(KEPT, REJECTED))
        return results[KEPT], results[REJECTED]


def list_index_parts(index_dir: str, output: str) -> list[str]:
    """Every part of the index but this output's own (a rerun replaces it), sorted."""
    own = rules.index_part_name(output)
    pattern = FileSystems.join(index_dir, rules.INDEX_PART_GLOB)
    found = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    return sorted(p for p in found if p.rsplit("/", 1)[-1] != own)


def read_part(path: str) -> "pyarrow.Table":
    import pyarrow.parquet as pq

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return pq.read_table(io.BytesIO(fh.read()), columns=list(rules.INDEX_COLUMNS))


def _index_entries(path: str, output: str):
    table = read_part(path)
    for key, run, pair_id in zip(*(table.column(c).to_pylist() for c in ("key", "run", "id"))):
        if run != output:
            yield key, (run, pair_id)


def _split_seen(item):
    _, grouped = item
    earlier = sorted(grouped["index"])
    for o in grouped["kept"]:
        if earlier:
            run, pair_id = earlier[0]
            yield beam.pvalue.TaggedOutput(REJECTED, _reject(o, "seen_in_earlier_run", f"kept as {pair_id} by {run}"))
        else:
            yield beam.pvalue.TaggedOutput(KEPT, o)


class DropSeenInEarlierRuns(beam.PTransform):
    """Kept samples → (kept, rejected): a sample whose cross-run key an earlier run kept is ``seen_in_earlier_run``."""

    def __init__(self, parts: list[str], output: str):
        super().__init__()
        self.parts = list(parts)
        self.output = output

    def expand(self, kept):
        index = (kept.pipeline
                 | "ListIndexParts" >> beam.Create(self.parts)
                 | "ReadIndexParts" >> beam.FlatMap(_index_entries, self.output))
        keyed = kept | "KeyByCrossRunKey" >> beam.Map(lambda o: (o.cross_key, o))
        results = ({"kept": keyed, "index": index}
                   | "JoinWithIndex" >> beam.CoGroupByKey()
                   | "SplitSeen" >> beam.FlatMap(_split_seen).with_outputs(KEPT, REJECTED))
        return results[KEPT], results[REJECTED]


def write_index_part(index_dir: str, output: str, index_files: list[str], scorer_sha256: Optional[str],
                     write_atomically) -> str:
    """The run's own part, from the phash/score columns of its index files, streamed file by file; written to a
    temporary name and renamed (the caller does this just before ``_SUCCESS``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = rules.index_schema()
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, schema, compression="zstd") as writer:
        for path in sorted(index_files):
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                table = pq.read_table(io.BytesIO(fh.read()))
            columns = ["id", "text", "phash"] + (["score"] if "score" in table.column_names else [])
            rows = rules.index_rows(table.select(columns).to_pylist(), output, scorer_sha256)
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    data = buf.getvalue()
    path = FileSystems.join(index_dir, rules.index_part_name(output))
    if not FileSystems.exists(index_dir):
        FileSystems.mkdirs(index_dir)
    write_atomically(path, lambda fh: fh.write(data))
    return path
