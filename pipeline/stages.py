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
import signal
import uuid
from collections import Counter
from typing import NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from tuwen.pipeline.progress import Progress, ProgressConfig
from tuwen.transforms import shards as fmt
from tuwen.transforms.image import ImageConfig
from tuwen.transforms.reasons import REASONS, stage_of
from tuwen.transforms.sources import InputFile, read_pairs, read_texts
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


def kill_point(name: str) -> None:
    """Fault injection for the kill-and-rerun tests: with ``TUWEN_KILL_AT=name`` the process SIGKILLs itself here
    (the points: ``dedup_index_written`` below; tuwen nightly's in pipeline/nightly.py)."""
    if os.environ.get("TUWEN_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


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


# Outcome records are named tuples, as small as they can be: the FnApiRunner holds every record that crosses a
# shuffle in memory, so their size is the pipeline's memory per pair (a NamedTuple costs what a tuple costs).
# Everything else a kept sample needs (cleaned text, sizes, checksum, kept columns, score) waits in the staging
# file, in front of its JPEG.
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


OUTCOME, KEY, ID, SOURCE, ROW = range(5)
DETAIL_CHARS = 500


def reject(pair: dict, reason: str, detail: str = "", orig_width: int = 0, orig_height: int = 0) -> Rejected:
    return Rejected(REJECTED, fmt.sample_key(pair["id"]), pair["id"], pair["source"], pair["row"], stage_of(reason),
                    reason, detail[:DETAIL_CHARS], orig_width, orig_height)


def _reject_outcome(o, reason: str, detail: str) -> Rejected:
    return Rejected(REJECTED, o.key, o.id, o.source, o.row, stage_of(reason), reason, detail[:DETAIL_CHARS],
                    getattr(o, "orig_width", 0), getattr(o, "orig_height", 0))


def reject_row(o: Rejected) -> dict:
    return {"id": o.id, "key": o.key, "source": o.source, "row": o.row, "stage": o.stage, "reason": o.reason,
            "detail": o.detail, "orig_width": o.orig_width or None, "orig_height": o.orig_height or None}


# ---------------------------------------------------------------------------------------------------------------
# 1. Read
# ---------------------------------------------------------------------------------------------------------------

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

    def __init__(self, files: Sequence[InputFile], max_chars: int, **thresholds):
        super().__init__()
        self.files, self.max_chars, self.thresholds = list(files), max_chars, thresholds

    def expand(self, pbegin):
        from tuwen.pipeline.boilerplate import MineBoilerplate

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


class _CheckPairs(beam.DoFn):
    """Read, clean, check and re-encode each pair (tuwen.transforms.pairs.check_pair): (ident, Checked) on the
    main output, rejects on REJECTED. The decoded image rides along only when the scorer needs it."""

    def __init__(self, image_config: ImageConfig, text_config: TextStepsConfig, progress: ProgressConfig,
                 fragments: Optional[list] = None, keep_decoded: bool = False, perceptual_hash: bool = False,
                 scorer=None, nsfw: bool = False, removed: frozenset = frozenset()):
        self.removed = removed  # ids and image URLs/paths on the removal list (--removed-list)
        self.image_config = image_config
        self.text_config = text_config
        self.progress_config = progress
        self.fragments = fragments  # a reviewed boilerplate list; None: the run's mined list (a side input)
        self.keep_decoded = keep_decoded
        # With a per-process scorer, its preprocessing runs here: the small model input rides to the batch instead
        # of the decoded image, which the SDK would otherwise pickle whenever it samples element sizes.
        self.scorer_cfg = scorer if scorer is not None and not scorer.large_model else None
        self.perceptual_hash = perceptual_hash
        self.nsfw = nsfw  # make the open_nsfw input here, from the written JPEG

    def setup(self):
        # The heavy objects (sensitive-word automaton, jieba) are built once per worker, here.
        self.masking = self.text_config.masking_steps()
        self.cleaner = None
        self.counters = _Counters()
        self.progress = Progress(self.progress_config)
        self.preprocess = None
        if self.scorer_cfg is not None:
            from tuwen.pipeline.relevance import load_checked_scorer  # once per process, shared with the handler

            self.preprocess = load_checked_scorer(self.scorer_cfg).preprocess

    def teardown(self):
        if self.progress_config.seconds and self.progress.seen:
            self.progress.report(final=True)

    def process(self, pair: dict, mined=None):
        from tuwen.transforms.dedup import perceptual_hash
        from tuwen.transforms.pairs import Dropped, check_pair

        if self.cleaner is None:
            fragments = self.fragments if self.fragments is not None else mined
            self.cleaner = self.text_config.build(fragments, self.masking)
        self.progress.tick()
        self.counters.inc("pairs_read")
        if self.removed and (pair["id"] in self.removed or pair.get("image_ref") in self.removed
                             or (pair.get("extra") or {}).get("url") in self.removed):
            self.counters.inc("rejected_removed_on_request")
            yield beam.pvalue.TaggedOutput(REJECTED, reject(pair, "removed_on_request", "on the removal list"))
            return
        out = check_pair(pair, self.cleaner, self.image_config, self.masking, keep_decoded=self.keep_decoded,
                         keep_preview=self.perceptual_hash)
        if isinstance(out, Dropped):
            self.counters.inc(f"rejected_{out.reason}")
            yield beam.pvalue.TaggedOutput(REJECTED, reject(pair, out.reason, out.detail, out.orig_width,
                                                            out.orig_height))
            return
        for name in out.counters:
            self.counters.inc(name)
        if self.nsfw:
            from tuwen.transforms.safety import nsfw_input

            try:
                out.nsfw_input = nsfw_input(out.image.jpeg)
            except Exception as e:  # the written JPEG decoded once already; never the run's crash
                self.counters.inc("rejected_image_decode_error")
                yield beam.pvalue.TaggedOutput(REJECTED, reject(pair, "image_decode_error",
                                                                f"open_nsfw input: {type(e).__name__}: {e}"))
                return
        if self.perceptual_hash:
            out.fields["phash"] = perceptual_hash(out.image.preview)
            out.image.preview = None
        if self.preprocess is not None:
            out.pixels = self.preprocess(out.image.decoded)
            out.image.decoded = None
        self.progress.passed += 1
        yield (pair["id"], pair["source"], pair["row"]), out


class _StageSamples(beam.DoFn):
    """The end of the fused stage: the similarity threshold, then the JPEG (with its metadata) appended to a
    per-bundle staging file and a small ``Kept`` record emitted; below the threshold a ``low_similarity`` reject."""

    def __init__(self, staging_dir: str, threshold: Optional[float], dedup_mode: str, cross_run: bool):
        self.staging_dir = staging_dir
        self.threshold = threshold  # None: no scorer
        self.dedup_mode = dedup_mode
        self.cross_run = cross_run

    def setup(self):
        self.counters = _Counters()

    def start_bundle(self):
        self.staging = _StagingFile(self.staging_dir)

    def finish_bundle(self):
        self.staging.close()

    def process(self, item):
        from tuwen.transforms.dedup import dedup_key, text_image_key

        (pair_id, source, row), checked = item
        pair = {"id": pair_id, "source": source, "row": row}
        score = checked.fields.get("score")
        if self.threshold is not None and score < self.threshold:
            self.counters.inc("rejected_low_similarity")
            yield reject(pair, "low_similarity", f"score {score:.4f} < --similarity-threshold {self.threshold}",
                         checked.image.orig_width, checked.image.orig_height)
            return
        self.counters.inc("pairs_passed")
        cross = text_image_key(checked.text, checked.fields["phash"]) if self.cross_run else None
        file, offset, length = self.staging.append(checked.staged_meta(), checked.image.jpeg)
        yield Kept(KEPT, fmt.sample_key(pair_id), pair_id, source, row, file, offset, length,
                   checked.image.width * checked.image.height, dedup_key(self.dedup_mode, checked.text,
                                                                         checked.fields), cross)


class CheckAndStage(beam.PTransform):
    """Pairs → small outcome records: kept samples (their JPEG in a staging file) or rejects with a reason.

    One fused stage: check → clean → re-encode → image safety (open_nsfw through RunInference, unless
    ``--image-safety=``; then OCR with ``--image-safety ...,ocr``) → score (RunInference, when a scorer is given;
    then the prompts check and the safety head on its image embedding) →
    threshold → stage. Nothing between the decode and the staging file is a shuffle, so image bytes never cross one.
    Pairs that only reference their image are spread across workers first (they are small; not on a one-worker local
    run, where it would only cost memory); pairs that carry their bytes are checked where they were read.
    """

    def __init__(self, image_config: ImageConfig, text_config: TextStepsConfig, staging_dir: str,
                 progress: ProgressConfig = ProgressConfig(), fragments: Optional[list] = None, mined=None,
                 spread_pairs: bool = True, scorer=None, dedup_mode: str = "off", cross_run: bool = False,
                 safety=None, removed: frozenset = frozenset()):
        super().__init__()
        self.removed = removed
        self.check_args = (image_config, text_config, progress, fragments)
        self.staging_dir = staging_dir
        self.mined = mined  # a one-element PCollection: the mined boilerplate list
        # Spreading referenced pairs lets many workers share one big manifest; on a one-worker local run it only
        # costs memory (the FnApiRunner holds a shuffled PCollection whole).
        self.spread_pairs = spread_pairs
        self.scorer = scorer  # a relevance.ScorerConfig, or None
        self.safety = safety  # a transforms.safety.SafetyConfig, or None
        self.dedup_mode = dedup_mode
        self.cross_run = cross_run

    def _one_path(self, pairs, label: str, side: dict):
        phash = self.dedup_mode == "text-image" or self.cross_run
        nsfw = self.safety is not None and self.safety.nsfw
        checked = pairs | f"Check{label}" >> beam.ParDo(
            _CheckPairs(*self.check_args, keep_decoded=self.scorer is not None, perceptual_hash=phash,
                        scorer=self.scorer, nsfw=nsfw, removed=self.removed),
            **side).with_outputs(REJECTED, main="checked")
        passed, rejected = checked.checked, [checked[REJECTED]]
        if nsfw:  # before the scorer: an unsafe image is not scored
            from tuwen.pipeline.safety import JudgeNsfw

            passed, unsafe = passed | f"Safety{label}" >> JudgeNsfw(self.safety)
            rejected.append(unsafe)
        if self.safety is not None and self.safety.ocr:  # after nsfw: OCR costs ten times as much
            from tuwen.pipeline.safety import CheckImageText

            passed, unsafe = passed | f"ImageText{label}" >> CheckImageText(self.safety, self.check_args[1])
            rejected.append(unsafe)
        on_embedding = self.safety is not None and self.safety.on_embedding
        if self.scorer is not None:
            from tuwen.pipeline.relevance import ScorePairs  # imports torch: only when there is a scorer

            passed = passed | f"Score{label}" >> ScorePairs(self.scorer, image_embedding=on_embedding)
        if on_embedding:  # prompts, the safety head (options refuse both without a scorer)
            from tuwen.pipeline.safety import JudgeEmbedding

            passed, unsafe = passed | f"JudgeEmbedding{label}" >> JudgeEmbedding(self.safety, self.scorer)
            rejected.append(unsafe)
        threshold = self.scorer.threshold if self.scorer is not None else None
        staged = passed | f"Stage{label}" >> beam.ParDo(
            _StageSamples(self.staging_dir, threshold, self.dedup_mode, self.cross_run))
        return (*rejected, staged)

    def expand(self, pairs):
        side = {"mined": beam.pvalue.AsSingleton(self.mined)} if self.mined is not None else {}
        by_ref, inline = pairs | "SplitByImageSource" >> beam.Partition(
            lambda pair, n: 1 if "image_bytes" in pair else 0, 2)
        if self.spread_pairs:
            by_ref = by_ref | "SpreadReferencedPairs" >> beam.Reshuffle()
        parts = self._one_path(by_ref, "ReferencedPairs", side) + self._one_path(inline, "InlinePairs", side)
        return parts | "AllOutcomes" >> beam.Flatten()


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


class RunSummary(NamedTuple):
    """What the run was, beyond the counts: written into stats.json and the report."""
    similarity: object  # a dict, or the sentence saying why it was skipped
    dedup: str
    dedup_index: Optional[str]
    scorer_sha256: Optional[str]
    image_safety: object = None  # transforms.safety.SafetyConfig.summary(), or NO_SAFETY
    nightly: Optional[dict] = None  # tuwen nightly's word on the inputs (new_inputs, changed_inputs, ...)
    provenance: Optional[dict] = None  # transforms.provenance.provenance(): version, options, sha256 of the inputs


NO_SCORER = "skipped: no --scorer"
NO_SAFETY = "skipped: --image-safety="


def similarity_summary(scorer) -> object:
    if scorer is None:
        return NO_SCORER
    return {"scorer": scorer.spec, "scorer_sha256": scorer.weights_sha256, "threshold": scorer.threshold,
            "batch_size": scorer.batch_size, "precision": scorer.precision, "device": scorer.device}


def report_text(stats: dict, output: str) -> str:
    lines = [f"tuwen run: {stats['read']} pairs read, {stats['kept']} kept in {stats['shards']} shards, "
             f"{stats['rejected']} rejected."]
    sim = stats.get("similarity")
    if sim == NO_SCORER:
        lines.append(f"similarity: {NO_SCORER} (pairs were not judged as pairs; pass --scorer SPEC and "
                     "--similarity-threshold T, from tuwen calibrate)")
    elif isinstance(sim, dict):
        lines.append(f"similarity: scorer {sim['scorer']} (weights sha256 {sim['scorer_sha256'][:12]}), "
                     f"threshold {sim['threshold']}: "
                     f"{stats['rejected_by_reason'].get('low_similarity', 0)} pairs below it")
    safety = stats.get("image_safety")
    if safety == NO_SAFETY:
        lines.append(f"image safety: {NO_SAFETY} (what the images show was not checked)")
    elif isinstance(safety, dict):
        checks = []
        for name in safety["checks"]:
            about = safety.get(name) or {}
            said = [about.get("model", "")]
            if about.get("threshold") is not None:
                said.append(f"threshold {about['threshold']}")
            if about.get("max_text_share") is not None:
                said.append(f"max text share {about['max_text_share']}")
            if about.get("keep_image_text"):
                said.append("image text kept")
            checks.append(f"{name} ({', '.join(x for x in said if x)})")
        dropped = stats.get("rejected_by_stage", {}).get("safety", 0)
        lines.append(f"image safety: {', '.join(checks)}: {dropped} images rejected")
    if "dedup" in stats:
        lines.append(f"dedup: {stats['dedup']}" + (f", cross-run index {stats['dedup_index']}"
                                                  if stats.get("dedup_index") else ""))
    nightly = stats.get("nightly")
    if nightly:
        lines.append(f"nightly: {nightly['new_inputs']} new input files"
                     + (f", {nightly['reprocessed_changed']} changed ones reprocessed" if nightly["reprocessed_changed"]
                        else ""))
        for c in nightly["changed_inputs"]:
            lines.append(f"  changed_input {c['path']}: {c['change']}"
                         + ("" if nightly["reprocessed_changed"] else " (not reprocessed; --reprocess-changed)"))
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
        f"report:     {_join(output, 'report.html')}, {_join(output, 'stats.json')}, {_join(output, 'report.txt')}",
    ]
    if "boilerplate_mined" in stats:
        lines.append(f"boilerplate: {stats['boilerplate_mined']} fragments mined, listed in "
                     f"{_join(output, 'boilerplate_mined.tsv')} (reuse a reviewed copy with --boilerplate-list)")
    return "\n".join(lines) + "\n"


def list_files(pattern: str) -> list[str]:
    """The paths matching ``pattern``, sorted; none when nothing matches. A listing that fails raises: Finalize must
    not take "could not list" for "nothing stale" (a rerun with --overwrite would keep the stale shards)."""
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


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
    def __init__(self, output: str, staging_dir: str, text_config: Optional[TextStepsConfig] = None,
                 summary: Optional[RunSummary] = None):
        self.output = output
        self.staging_dir = staging_dir
        self.text_config = text_config
        self.summary = summary

    def process(self, _, read, shard_results, reject_results, mined=None):
        stats = summarize(read, shard_results, reject_results)
        if mined is not None:
            stats["boilerplate_mined"] = len(mined)
        if self.summary is not None:
            stats["similarity"] = self.summary.similarity
            stats["image_safety"] = self.summary.image_safety
            stats["dedup"] = self.summary.dedup
            stats["dedup_index"] = self.summary.dedup_index
            if self.summary.nightly is not None:
                stats["nightly"] = self.summary.nightly
            if self.summary.provenance is not None:
                stats["provenance"] = self.summary.provenance
        if stats["read"] != stats["kept"] + stats["rejected"]:
            raise RuntimeError(f"counts do not add up: read {stats['read']} != kept {stats['kept']} + "
                               f"rejected {stats['rejected']}")
        out = self.output
        sizes = {s["shard"]: s["count"] for s in sorted(shard_results, key=lambda s: s["shard"])}
        # A rerun with --overwrite: whatever this run did not write is stale (e.g. extra shards of a larger run).
        wanted = {_join(out, "shards", s["shard"]) for s in shard_results}
        wanted |= {_join(out, "index", s["index"]) for s in shard_results}
        wanted |= {_join(out, "rejects", r["file"]) for r in reject_results}
        stale = [p for folder in ("shards", "index", "rejects") for p in list_files(_join(out, folder, "*"))
                 if p not in wanted and not p.endswith(fmt.SIZES_NAME)]
        if stale:
            FileSystems.delete(stale)
        data = fmt.sizes_json(sizes)
        _write_atomically(_join(out, "shards", fmt.SIZES_NAME), lambda fh: fh.write(data))
        stats_bytes = (json.dumps(stats, indent=2, ensure_ascii=False) + "\n").encode()
        _write_atomically(_join(out, "stats.json"), lambda fh: fh.write(stats_bytes))
        if mined is not None:
            write_mined_boilerplate(out, mined, self.text_config)
        report = report_text(stats, out).encode()
        _write_atomically(_join(out, "report.txt"), lambda fh: fh.write(report))
        staged = list_files(_join(self.staging_dir, "*"))
        if staged:
            FileSystems.delete(staged)
        if not self.staging_dir.startswith(("gs://", "s3://")) and os.path.isdir(self.staging_dir):
            os.rmdir(self.staging_dir)
        if self.summary is not None and self.summary.dedup_index:
            from tuwen.pipeline.dedup import write_index_part

            index_files = [_join(out, "index", s["index"]) for s in shard_results]
            write_index_part(self.summary.dedup_index, out, index_files, self.summary.scorer_sha256,
                             _write_atomically)
            kill_point("dedup_index_written")
        with _create(_join(out, "_SUCCESS")) as fh:
            fh.write(b"")
        yield stats


class Finalize(beam.PTransform):
    """After every shard and reject part is written: check the counts add up, write sizes.json, stats.json and
    report.txt, delete stale files and staging, and write ``_SUCCESS`` last."""

    def __init__(self, output: str, staging_dir: str, text_config: Optional[TextStepsConfig] = None, mined=None,
                 summary: Optional[RunSummary] = None):
        super().__init__()
        self.output = output
        self.staging_dir = staging_dir
        self.text_config = text_config
        self.mined = mined
        self.summary = summary

    def expand(self, inputs):
        read_count, shard_results, reject_results = inputs
        side = {"mined": beam.pvalue.AsSingleton(self.mined)} if self.mined is not None else {}
        return (read_count.pipeline
                | "Once" >> beam.Create([None])
                | "WriteSummaryAndSuccess" >> beam.ParDo(
                    _Finalize(self.output, self.staging_dir, self.text_config, self.summary),
                    read=beam.pvalue.AsSingleton(read_count),
                    shard_results=beam.pvalue.AsList(shard_results),
                    reject_results=beam.pvalue.AsList(reject_results), **side))
