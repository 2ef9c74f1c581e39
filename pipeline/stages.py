"""The pipeline's stages as composite PTransforms, and the DoFns behind them.

Shape (see ../shared/DESIGN.md for the measurements behind it): image bytes never cross a shuffle. One fused stage
per pair reads, checks, cleans and re-encodes, writes the surviving JPEG to a staging file and emits a small record;
everything after that (duplicate ids, ranks, shard numbers) is decided on small records; the shard writer reads the
bytes back from staging in key order.
"""
from __future__ import annotations

import io
import json
import logging
import os
import time
import uuid
from collections import Counter
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from tuwen.transforms import shards as fmt
from tuwen.transforms.image import ImageConfig, process_image
from tuwen.transforms.reasons import REASONS, stage_of
from tuwen.transforms.sources import InputFile, read_bytes, read_pairs, read_texts
from tuwen.transforms.text import EditedText, Normalize
from tuwen.transforms.text_steps import TextStepsConfig, mask_only

log = logging.getLogger("tuwen")

KEPT, REJECTED = "kept", "rejected"


def _join(*parts: str) -> str:
    return FileSystems.join(*parts)


def _open_read(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _create(path: str):
    return FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _write_atomically(final_path: str, write) -> None:
    """Write through ``write(fileobj)`` to a temporary name beside ``final_path``, then rename over it."""
    tmp = f"{final_path}.tmp-{uuid.uuid4().hex[:12]}"
    with _create(tmp) as fh:
        write(fh)
    FileSystems.rename([tmp], [final_path])


class _Counters:
    """Beam Metrics counters, made once per name, for cluster dashboards."""

    def __init__(self, namespace: str = "tuwen"):
        self.namespace = namespace
        self._counters = {}

    def inc(self, name: str, n: int = 1) -> None:
        c = self._counters.get(name)
        if c is None:
            c = self._counters[name] = Metrics.counter(self.namespace, name)
        c.inc(n)


# Outcome records are plain tuples, as small as they can be: the FnApiRunner holds every record that crosses a
# shuffle in memory, so their size is the pipeline's memory per pair.
#   kept:     (KEPT, key, id, source, row, staging file name, offset, length)
#   rejected: (REJECTED, key, id, source, row, stage, reason, detail)
# Everything else a kept sample needs (cleaned text, sizes, checksum, kept columns) waits in the staging file,
# in front of its JPEG.
OUTCOME, KEY, ID, SOURCE, ROW = range(5)


def reject(pair: dict, reason: str, detail: str = "") -> tuple:
    return (REJECTED, fmt.sample_key(pair["id"]), pair["id"], pair["source"], pair["row"], stage_of(reason), reason,
            detail[:500])


def _reject_outcome(o: tuple, reason: str, detail: str) -> tuple:
    return (REJECTED, o[KEY], o[ID], o[SOURCE], o[ROW], stage_of(reason), reason, detail[:500])


def reject_row(o: tuple) -> dict:
    return {"id": o[ID], "key": o[KEY], "source": o[SOURCE], "row": o[ROW], "stage": o[5], "reason": o[6],
            "detail": o[7]}


# ---------------------------------------------------------------------------------------------------------------
# 1. Read
# ---------------------------------------------------------------------------------------------------------------

class ReadPairs(beam.PTransform):
    """Input files → one dict per pair (inline bytes for Parquet/tar rows, an ``image_ref`` for path rows)."""

    def __init__(self, files: Sequence[InputFile], keep_columns: Sequence[str] = ()):
        super().__init__()
        self.files = list(files)
        self.keep_columns = tuple(keep_columns)

    def expand(self, pbegin):
        return (pbegin
                | "ListInputFiles" >> beam.Create(self.files)
                | "SpreadInputFiles" >> beam.Reshuffle()
                | "ReadRows" >> beam.FlatMap(read_pairs, self.keep_columns))


def _normalized_texts(f: InputFile, max_chars: int):
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
                | "ReadTexts" >> beam.FlatMap(_normalized_texts, self.max_chars))


class MineRunBoilerplate(beam.PTransform):
    """Texts pass: the run's boilerplate fragments, a one-element PCollection for a side input. Each of the two
    mining passes reads the texts itself, so memory stays flat on the FnApiRunner."""

    def __init__(self, files: Sequence[InputFile], max_chars: int, **thresholds):
        super().__init__()
        self.files, self.max_chars, self.thresholds = list(files), max_chars, thresholds

    def expand(self, pbegin):
        from tuwen.transforms.boilerplate_beam import MineBoilerplate

        sample_texts = pbegin | "TextsForSample" >> ReadTexts(self.files, self.max_chars)
        recount_texts = pbegin | "TextsForRecount" >> ReadTexts(self.files, self.max_chars)
        return sample_texts | "Mine" >> MineBoilerplate(recount_texts=recount_texts, **self.thresholds)


# ---------------------------------------------------------------------------------------------------------------
# 2. Check, clean, re-encode, stage (one fused stage: the bytes never leave it)
# ---------------------------------------------------------------------------------------------------------------

class _StagingFile:
    """Appends kept samples (metadata, then JPEG) to one staging file per bundle; the shard writer reads them back
    by offset."""

    def __init__(self, folder: str):
        self.folder = folder
        self.path: Optional[str] = None
        self.fh = None
        self.offset = 0

    def append(self, meta: dict, jpeg: bytes) -> tuple[str, int, int]:
        if self.fh is None:
            self.name = f"{uuid.uuid4().hex[:16]}.bin"
            self.path = _join(self.folder, self.name)
            self.fh = _create(self.path)
            self.offset = 0
        data = fmt.pack_staged(meta, jpeg)
        location = (self.name, self.offset, len(data))
        self.fh.write(data)
        self.offset += len(data)
        return location

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
        self.fh, self.path = None, None


class _CheckAndStage(beam.DoFn):
    def __init__(self, image_config: ImageConfig, text_config: TextStepsConfig, staging_dir: str,
                 progress_seconds: float, fragments: Optional[list] = None):
        self.image_config = image_config
        self.text_config = text_config
        self.staging_dir = staging_dir
        self.progress_seconds = progress_seconds
        self.fragments = fragments  # a reviewed boilerplate list; None: the run's mined list (a side input)

    def setup(self):
        # The heavy objects (sensitive-word automaton, jieba) are built once per worker, here.
        self.masking = self.text_config.masking_steps()
        self.cleaner = None
        self.counters = _Counters()
        self.seen = self.passed = 0
        self.started = self.last_report = time.monotonic()

    def start_bundle(self):
        self.staging = _StagingFile(self.staging_dir)

    def finish_bundle(self):
        self.staging.close()

    def teardown(self):
        if self.progress_seconds and self.seen:
            self._report(final=True)

    def _report(self, final: bool = False) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        log.info("tuwen: %s%d pairs checked, %d passed the filters (%.0f pairs/s)",
                 "worker done: " if final else "", self.seen, self.passed, self.seen / elapsed)

    def _reject(self, pair: dict, reason: str, detail: str = "") -> tuple:
        self.counters.inc(f"rejected_{reason}")
        return reject(pair, reason, detail)

    def process(self, pair: dict, mined=None):
        if self.cleaner is None:
            fragments = self.fragments if self.fragments is not None else mined
            self.cleaner = self.text_config.build(fragments, self.masking)
        self.seen += 1
        self.counters.inc("pairs_read")
        if self.progress_seconds and time.monotonic() - self.last_report >= self.progress_seconds:
            self.last_report = time.monotonic()
            self._report()
        out = self._check(pair)
        if out[OUTCOME] == KEPT:
            self.passed += 1
            self.counters.inc("pairs_passed")
        yield out

    def _check(self, pair: dict) -> tuple:
        if "reason" in pair:  # the reader already knows (malformed line, missing field, ...)
            return self._reject(pair, pair["reason"], pair.get("detail", ""))
        # Cheap text checks first: no image is read for a pair whose text fails.
        text = self.cleaner.clean(pair["text"])
        if text.dropped:
            return self._reject(pair, text.dropped[1], text.detail)
        data = pair.get("image_bytes")
        if data is None:
            limit = self.image_config.max_image_bytes
            try:
                data = read_bytes(pair["image_ref"], limit)
            except FileNotFoundError as e:
                return self._reject(pair, "image_missing", f"{pair['image_ref']}: {e.strerror or e}")
            except Exception as e:  # BeamIOError, permissions, a folder: one reason, the message as detail
                missing = "not found" in str(e).lower() or "no such file" in str(e).lower()
                return self._reject(pair, "image_missing" if missing else "image_read_error",
                                    f"{pair['image_ref']}: {type(e).__name__}: {e}")
            if len(data) > limit:
                return self._reject(pair, "image_file_too_large", f"more than {limit} bytes")
        image = process_image(data, self.image_config)
        if not image.ok:
            return self._reject(pair, image.reason, image.detail)
        gen_text = pair.get("gen_text")
        if isinstance(gen_text, str) and gen_text.strip():
            gen = self.cleaner.clean(gen_text)
            if gen.dropped:
                self.counters.inc(f"gen_text_dropped_{gen.dropped[1]}")
                gen_text = None
            else:
                gen_text = gen.text
        else:
            gen_text = None
        extra = {k: mask_only(v, self.masking) if isinstance(v, str) else v
                 for k, v in (pair.get("extra") or {}).items()}
        meta = {"text": text.text, "gen_text": gen_text, "extra": extra, "width": image.width,
                "height": image.height, "orig_width": image.orig_width, "orig_height": image.orig_height,
                "sha256": image.sha256}
        return (KEPT, fmt.sample_key(pair["id"]), pair["id"], pair["source"], pair["row"],
                *self.staging.append(meta, image.jpeg))


class CheckAndStage(beam.PTransform):
    """Pairs → small outcome records: kept samples (their JPEG in a staging file) or rejects with a reason.

    Pairs that only reference their image are spread across workers first (they are small; not on a one-worker
    local run, where it would only cost memory); pairs that carry their bytes are checked where they were read, so
    the bytes never cross a shuffle.
    """

    def __init__(self, image_config: ImageConfig, text_config: TextStepsConfig, staging_dir: str,
                 progress_seconds: float = 15.0, fragments: Optional[list] = None, mined=None,
                 spread_pairs: bool = True):
        super().__init__()
        self.fn_args = (image_config, text_config, staging_dir, progress_seconds, fragments)
        self.mined = mined  # a one-element PCollection: the mined boilerplate list
        # Spreading referenced pairs lets many workers share one big manifest; on a one-worker local run it only
        # costs memory (the FnApiRunner holds a shuffled PCollection whole).
        self.spread_pairs = spread_pairs

    def expand(self, pairs):
        side = {"mined": beam.pvalue.AsSingleton(self.mined)} if self.mined is not None else {}
        by_ref, inline = pairs | "SplitByImageSource" >> beam.Partition(
            lambda pair, n: 1 if "image_bytes" in pair else 0, 2)
        if self.spread_pairs:
            by_ref = by_ref | "SpreadReferencedPairs" >> beam.Reshuffle()
        from_refs = by_ref | "CheckReferencedPairs" >> beam.ParDo(_CheckAndStage(*self.fn_args), **side)
        from_inline = inline | "CheckInlinePairs" >> beam.ParDo(_CheckAndStage(*self.fn_args), **side)
        return (from_refs, from_inline) | "AllOutcomes" >> beam.Flatten()


# ---------------------------------------------------------------------------------------------------------------
# 3. Decide on small records: one pair per id (and per key), then ranks and shard numbers
# ---------------------------------------------------------------------------------------------------------------

def _resolve_key_group(item):
    """All outcomes sharing a sample key: the smallest (source, row) of each id keeps its fate; later rows with
    the same id are ``duplicate_id``; a different id with the same key (a sha256-prefix collision) is
    ``key_collision``."""
    key, outcomes = item
    outcomes = sorted(outcomes, key=lambda o: (o[SOURCE], o[ROW], o[ID]))
    if len(outcomes) == 1:
        yield beam.pvalue.TaggedOutput(outcomes[0][OUTCOME], outcomes[0])
        return
    first_of_id: dict[str, tuple] = {}
    winner_id = min(o[ID] for o in outcomes)
    for o in outcomes:
        if o[ID] in first_of_id:
            first = first_of_id[o[ID]]
            yield beam.pvalue.TaggedOutput(REJECTED, _reject_outcome(
                o, "duplicate_id", f"same id as {first[SOURCE]} row {first[ROW]}"))
        elif o[ID] != winner_id:
            first_of_id[o[ID]] = o
            yield beam.pvalue.TaggedOutput(REJECTED, _reject_outcome(o, "key_collision",
                                                                     f"key {key} is also id {winner_id!r}"))
        else:
            first_of_id[o[ID]] = o
            yield beam.pvalue.TaggedOutput(o[OUTCOME], o)


class ResolveDuplicates(beam.PTransform):
    """Outcomes → (kept, rejected), with at most one pair per id and per sample key."""

    def expand(self, outcomes):
        results = (outcomes
                   | "KeyBySampleKey" >> beam.Map(lambda o: (o[KEY], o))
                   | "GroupBySampleKey" >> beam.GroupByKey()
                   | "KeepFirstOfEachId" >> beam.FlatMap(_resolve_key_group).with_outputs(KEPT, REJECTED))
        return results[KEPT], results[REJECTED]


def _rank_bucket(item, counts: dict, shard_size: int):
    bucket, samples = item
    start = fmt.rank_buckets(counts)[bucket]
    for i, sample in enumerate(sorted(samples, key=lambda s: s[KEY])):
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
        keyed = kept | "KeyByBucket" >> beam.Map(lambda s: (fmt.bucket_of(s[KEY]), s))
        counts = (keyed
                  | "BucketOnly" >> beam.Map(lambda kv: (kv[0], 1))
                  | "CountPerBucket" >> beam.CombinePerKey(sum))
        return (keyed
                | "GroupByBucket" >> beam.GroupByKey()
                | "RankInBucket" >> beam.FlatMap(_rank_bucket, counts=beam.pvalue.AsDict(counts),
                                                 shard_size=self.shard_size))


# ---------------------------------------------------------------------------------------------------------------
# 4. Write: shards with their index, the reject log, then the run's summary and _SUCCESS
# ---------------------------------------------------------------------------------------------------------------

class _WriteShard(beam.DoFn):
    def __init__(self, output: str, staging_dir: str, keep_columns: Sequence[str]):
        self.output = output
        self.staging_dir = staging_dir
        self.keep_columns = tuple(keep_columns)

    def setup(self):
        self.counters = _Counters()

    def process(self, item):
        number, kept = item
        kept = sorted(kept, key=lambda o: o[KEY])
        name = fmt.shard_name(number)
        handles: dict = {}
        samples: list[dict] = []

        def members():
            for o in kept:
                location = (_join(self.staging_dir, o[5]), o[6], o[7])
                meta, jpeg = fmt.unpack_staged(fmt.read_staged(handles, location, _open_read))
                sample = {**meta, "key": o[KEY], "id": o[ID], "source": o[SOURCE]}
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
                | "KeyByPart" >> beam.Map(lambda o: (o[KEY][0], o))
                | "GroupByPart" >> beam.GroupByKey()
                | "WriteRejectPart" >> beam.FlatMap(_write_reject_part, output=self.output))


def summarize(read: int, shard_results: list, reject_results: list) -> dict:
    by_reason, by_stage = Counter(), Counter()
    for r in reject_results:
        by_reason.update(r["by_reason"])
        by_stage.update(r["by_stage"])
    kept = sum(s["count"] for s in shard_results)
    rejected = sum(r["count"] for r in reject_results)
    return {
        "read": read,
        "kept": kept,
        "rejected": rejected,
        "rejected_by_reason": dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        "rejected_by_stage": dict(sorted(by_stage.items(), key=lambda kv: (-kv[1], kv[0]))),
        "shards": len(shard_results),
    }


def report_text(stats: dict, output: str) -> str:
    lines = [f"tuwen run: {stats['read']} pairs read, {stats['kept']} kept in {stats['shards']} shards, "
             f"{stats['rejected']} rejected."]
    if stats["rejected_by_reason"]:
        lines.append("rejected by reason:")
        width = max(len(r) for r in stats["rejected_by_reason"])
        for reason, n in stats["rejected_by_reason"].items():
            meaning = REASONS.get(reason, ("", ""))[1]
            lines.append(f"  {reason:<{width}} {n:>8}  {meaning}")
    lines += [
        f"shards:     {_join(output, 'shards')}/  (sizes.json lists the sample counts)",
        f"index:      {_join(output, 'index')}/",
        f"reject log: {_join(output, 'rejects')}/",
        f"report:     {_join(output, 'stats.json')}, {_join(output, 'report.txt')}",
    ]
    if "boilerplate_mined" in stats:
        lines.append(f"boilerplate: {stats['boilerplate_mined']} fragments mined, listed in "
                     f"{_join(output, 'boilerplate_mined.tsv')} (reuse a reviewed copy with --boilerplate-list)")
    return "\n".join(lines) + "\n"


def _list(pattern: str) -> list[str]:
    try:
        return [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except Exception:
        return []


def write_mined_boilerplate(output: str, fragments: list, text_config: TextStepsConfig) -> str:
    """boilerplate_mined.tsv, each fragment first masked for names and sensitive words (a fragment is corpus text:
    it must not carry a removed original into the output)."""
    from tuwen.transforms.boilerplate import Fragment, write_tsv

    masking = text_config.masking_steps()
    masked = [Fragment(mask_only(f.fragment, masking), f.position, f.doc_count) for f in fragments]
    buf = io.StringIO()
    write_tsv(buf, masked)
    data = buf.getvalue().encode("utf-8")
    path = _join(output, "boilerplate_mined.tsv")
    _write_atomically(path, lambda fh: fh.write(data))
    return path


class _Finalize(beam.DoFn):
    def __init__(self, output: str, staging_dir: str, text_config: Optional[TextStepsConfig] = None):
        self.output = output
        self.staging_dir = staging_dir
        self.text_config = text_config

    def process(self, _, read, shard_results, reject_results, mined=None):
        stats = summarize(read, shard_results, reject_results)
        if mined is not None:
            stats["boilerplate_mined"] = len(mined)
        if stats["read"] != stats["kept"] + stats["rejected"]:
            raise RuntimeError(f"counts do not add up: read {stats['read']} != kept {stats['kept']} + "
                               f"rejected {stats['rejected']}")
        out = self.output
        sizes = {s["shard"]: s["count"] for s in sorted(shard_results, key=lambda s: s["shard"])}
        # A rerun with --overwrite: whatever this run did not write is stale (e.g. extra shards of a larger run).
        wanted = {_join(out, "shards", s["shard"]) for s in shard_results}
        wanted |= {_join(out, "index", s["index"]) for s in shard_results}
        wanted |= {_join(out, "rejects", r["file"]) for r in reject_results}
        stale = [p for folder in ("shards", "index", "rejects") for p in _list(_join(out, folder, "*"))
                 if p not in wanted and not p.endswith("sizes.json")]
        if stale:
            FileSystems.delete(stale)
        data = json.dumps(sizes, indent=1, sort_keys=True).encode()
        _write_atomically(_join(out, "shards", "sizes.json"), lambda fh: fh.write(data))
        stats_bytes = (json.dumps(stats, indent=2, ensure_ascii=False) + "\n").encode()
        _write_atomically(_join(out, "stats.json"), lambda fh: fh.write(stats_bytes))
        if mined is not None:
            write_mined_boilerplate(out, mined, self.text_config)
        report = report_text(stats, out).encode()
        _write_atomically(_join(out, "report.txt"), lambda fh: fh.write(report))
        staged = _list(_join(self.staging_dir, "*"))
        if staged:
            FileSystems.delete(staged)
        if not self.staging_dir.startswith(("gs://", "s3://")) and os.path.isdir(self.staging_dir):
            os.rmdir(self.staging_dir)
        with _create(_join(out, "_SUCCESS")) as fh:
            fh.write(b"")
        yield stats


class Finalize(beam.PTransform):
    """After every shard and reject part is written: check the counts add up, write sizes.json, stats.json and
    report.txt, delete stale files and staging, and write ``_SUCCESS`` last."""

    def __init__(self, output: str, staging_dir: str, text_config: Optional[TextStepsConfig] = None, mined=None):
        super().__init__()
        self.output = output
        self.staging_dir = staging_dir
        self.text_config = text_config
        self.mined = mined

    def expand(self, inputs):
        read_count, shard_results, reject_results = inputs
        side = {"mined": beam.pvalue.AsSingleton(self.mined)} if self.mined is not None else {}
        return (read_count.pipeline
                | "Once" >> beam.Create([None])
                | "WriteSummaryAndSuccess" >> beam.ParDo(
                    _Finalize(self.output, self.staging_dir, self.text_config),
                    read=beam.pvalue.AsSingleton(read_count),
                    shard_results=beam.pvalue.AsList(shard_results),
                    reject_results=beam.pvalue.AsList(reject_results), **side))
