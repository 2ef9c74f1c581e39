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

import hashlib
import io
import logging
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tuwen.pipeline.files import _write_atomically
from tuwen.pipeline.records import KEPT, REJECTED, reject_outcome
from tuwen.transforms import dedup as rules

log = logging.getLogger("tuwen")


def _resolve_duplicates(item):
    """One dedup key's kept samples: the first by (larger area, smaller id) stays, the others are
    ``duplicate_pair`` with the kept id as detail."""
    _, group = item
    group = sorted(group, key=lambda o: rules.keep_order(o.area, o.id))
    yield beam.pvalue.TaggedOutput(KEPT, group[0])
    for o in group[1:]:
        yield beam.pvalue.TaggedOutput(REJECTED, reject_outcome(o, "duplicate_pair", group[0].id))


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


def read_part(path: str):
    """One index part as a pyarrow Table of the index columns."""
    import pyarrow.parquet as pq

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return pq.read_table(io.BytesIO(fh.read()), columns=list(rules.INDEX_COLUMNS))


def _index_entries(path: str, output: str):
    """(key, (run, id)) of each index row another run wrote. The value stays a plain tuple: it crosses the join,
    where Beam encodes a tuple natively but pickles a NamedTuple (twice the bytes, ten times the time)."""
    table = read_part(path)
    for key, run, pair_id in zip(*(table.column(c).to_pylist() for c in ("key", "run", "id"))):
        if run != output:
            yield key, (run, pair_id)


def _split_seen(item):
    _, grouped = item
    earlier = min(grouped["index"], default=None)  # (run, id): the smallest run, then id
    for o in grouped["kept"]:
        if earlier is not None:
            run, pair_id = earlier
            yield beam.pvalue.TaggedOutput(REJECTED, reject_outcome(o, "seen_in_earlier_run",
                                                                    f"kept as {pair_id} by {run}"))
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


# ---------------------------------------------------------------------------------------------------------------
# tuwen dedup-index: look at and compact the index
# ---------------------------------------------------------------------------------------------------------------

def compact_index(index_dir: str, write_atomically) -> tuple[int, int, Optional[str]]:
    """Merge every part into one (one row per key: the smallest run, then id), written atomically before the merged
    parts are deleted. Returns (rows before, rows after, the new part). Run it while no run uses the index."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parts = list_index_parts(index_dir, output="")
    if not parts:
        return 0, 0, None
    table = pa.concat_tables([read_part(p) for p in parts]).cast(rules.index_schema())
    before = table.num_rows
    table = table.sort_by([("key", "ascending"), ("run", "ascending"), ("id", "ascending")])
    keys = table.column("key").combine_chunks()
    if table.num_rows > 1:
        changed = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
        table = table.filter(pa.concat_arrays([pa.array([True]), changed]))
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    data = buf.getvalue()
    name = f"part-compacted-{hashlib.sha256(data).hexdigest()[:16]}.parquet"
    path = FileSystems.join(index_dir, name)
    write_atomically(path, lambda fh: fh.write(data))
    stale = [p for p in parts if p != path]
    if stale:
        FileSystems.delete(stale)
    return before, table.num_rows, path


def main(argv=None) -> int:
    """``tuwen dedup-index {stats,compact} DIR``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="tuwen dedup-index",
                                     description="Look at or compact a cross-run dedup index (--dedup-index DIR). "
                                                 "Compact while no run or nightly refresh uses it.")
    parser.add_argument("action", choices=("stats", "compact"))
    parser.add_argument("index", metavar="DIR")
    args = parser.parse_args(argv)
    parts = list_index_parts(args.index, output="")
    if args.action == "stats":
        rows = sum(read_part(p).num_rows for p in parts)
        print(f"tuwen dedup-index: {len(parts)} parts, {rows} rows in {args.index}")
        return 0
    before, after, path = compact_index(args.index, _write_atomically)
    if path is None:
        print(f"tuwen dedup-index: no parts in {args.index}", file=sys.stderr)
        return 0
    print(f"tuwen dedup-index: {len(parts)} parts, {before} rows -> 1 part, {after} rows ({path})")
    return 0
