"""From outcome records to files, on small records alone: one pair per id and per sample key (ResolveDuplicates),
shard numbers by key rank (AssignShards), then each shard written with its index (WriteShards, reading the JPEGs
back from staging in key order) and the reject log (WriteRejects).
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import apache_beam as beam

from tuwen.pipeline.files import _join, _open_read, _write_atomically
from tuwen.pipeline.records import KEPT, REJECTED, Counters, reject_outcome, reject_row
from tuwen.transforms import shards as fmt


def _resolve_key_group(item):
    """All outcomes sharing a sample key: the smallest (source, row) of each id keeps its fate; later rows with
    the same id are ``duplicate_id``; a different id with the same key (a sha256-prefix collision) is
    ``key_collision``."""
    key, outcomes = item
    outcomes = sorted(outcomes, key=lambda o: (o.source, o.row, o.id))
    if len(outcomes) == 1:
        yield beam.pvalue.TaggedOutput(outcomes[0].outcome, outcomes[0])
        return
    first_of_id: dict = {}
    winner_id = min(o.id for o in outcomes)
    for o in outcomes:
        if o.id in first_of_id:
            first = first_of_id[o.id]
            yield beam.pvalue.TaggedOutput(REJECTED, reject_outcome(
                o, "duplicate_id", f"same id as {first.source} row {first.row}"))
        elif o.id != winner_id:
            first_of_id[o.id] = o
            yield beam.pvalue.TaggedOutput(REJECTED, reject_outcome(o, "key_collision",
                                                                    f"key {key} is also id {winner_id!r}"))
        else:
            first_of_id[o.id] = o
            yield beam.pvalue.TaggedOutput(o.outcome, o)


class ResolveDuplicates(beam.PTransform):
    """Outcomes → (kept, rejected), with at most one pair per id and per sample key."""

    def expand(self, outcomes):
        results = (outcomes
                   | "KeyBySampleKey" >> beam.Map(lambda o: (o.key, o))
                   | "GroupBySampleKey" >> beam.GroupByKey()
                   | "KeepFirstOfEachId" >> beam.FlatMap(_resolve_key_group).with_outputs(KEPT, REJECTED))
        return results[KEPT], results[REJECTED]


def _rank_bucket(item, counts: dict, shard_size: int):
    bucket, samples = item
    start = fmt.rank_buckets(counts)[bucket]
    for i, sample in enumerate(sorted(samples, key=lambda s: s.key)):
        yield (start + i) // shard_size, sample


class AssignShards(beam.PTransform):
    """Kept samples → (shard number, sample): shard n holds the samples ranked n·N to (n+1)·N−1 by key.

    Ranks without a global sort: samples are bucketed by key prefix, bucket sizes give each bucket's first rank
    (prefix sums over a small side input), and each bucket is sorted on its own.
    """

    def __init__(self, shard_size: int):
        super().__init__()
        self.shard_size = shard_size

    def expand(self, kept):
        keyed = kept | "KeyByBucket" >> beam.Map(lambda s: (fmt.bucket_of(s.key), s))
        counts = (keyed
                  | "BucketOnly" >> beam.Map(lambda kv: (kv[0], 1))
                  | "CountPerBucket" >> beam.CombinePerKey(sum))
        return (keyed
                | "GroupByBucket" >> beam.GroupByKey()
                | "RankInBucket" >> beam.FlatMap(_rank_bucket, counts=beam.pvalue.AsDict(counts),
                                                 shard_size=self.shard_size))


class _WriteShard(beam.DoFn):
    def __init__(self, output: str, staging_dir: str, keep_columns: Sequence[str]):
        self.output = output
        self.staging_dir = staging_dir
        self.keep_columns = tuple(keep_columns)

    def setup(self):
        self.counters = Counters()

    def process(self, item):
        number, kept = item
        kept = sorted(kept, key=lambda o: o.key)
        name = fmt.shard_name(number)
        handles: dict = {}
        samples: list[dict] = []

        def members():
            for o in kept:
                location = (_join(self.staging_dir, o.file), o.offset, o.length)
                meta, jpeg = fmt.unpack_staged(fmt.read_staged(handles, location, _open_read))
                sample = {**meta, "key": o.key, "id": o.id, "source": o.source}
                samples.append(sample)
                yield from fmt.sample_members(sample, jpeg)

        try:
            _write_atomically(_join(self.output, "shards", name), lambda fh: fmt.write_tar(fh, members()))
        finally:
            for fh in handles.values():
                fh.close()
        rows = [fmt.index_row(s, name, self.keep_columns) for s in samples]
        table = fmt.index_table(rows, self.keep_columns)
        data = fmt.parquet_bytes(table)
        _write_atomically(_join(self.output, "index", fmt.INDEX_NAME.format(number)), lambda fh: fh.write(data))
        self.counters.inc("samples_written", len(samples))
        self.counters.inc("shards_written")
        yield {"shard": name, "index": fmt.INDEX_NAME.format(number), "count": len(samples)}


class WriteShards(beam.PTransform):
    def __init__(self, output: str, staging_dir: str, keep_columns: Sequence[str] = ()):
        super().__init__()
        self.output = output
        self.staging_dir = staging_dir
        self.keep_columns = tuple(keep_columns)

    def expand(self, numbered):
        return (numbered
                | "GroupByShard" >> beam.GroupByKey()
                | "WriteShardAndIndex" >> beam.ParDo(_WriteShard(self.output, self.staging_dir, self.keep_columns)))


def _write_reject_part(item, output: str):
    part, outcomes = item
    rows = sorted((reject_row(o) for o in outcomes), key=lambda r: (r["source"], r["row"], r["id"]))
    name = f"part-{part}.parquet"
    data = fmt.parquet_bytes(fmt.reject_table(rows))
    _write_atomically(_join(output, "rejects", name), lambda fh: fh.write(data))
    yield {"file": name, "count": len(rows),
           "by_reason": dict(Counter(r["reason"] for r in rows)),
           "by_stage": dict(Counter(r["stage"] for r in rows))}


class WriteRejects(beam.PTransform):
    """The reject log: ``rejects/part-X.parquet`` (X = first hex digit of the key), rows sorted by source, row."""

    def __init__(self, output: str):
        super().__init__()
        self.output = output

    def expand(self, rejected):
        return (rejected
                | "KeyByPart" >> beam.Map(lambda o: (o.key[0], o))
                | "GroupByPart" >> beam.GroupByKey()
                | "WriteRejectPart" >> beam.FlatMap(_write_reject_part, output=self.output))
