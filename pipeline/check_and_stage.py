"""The fused per-pair stage (CheckAndStage): read, check, clean and re-encode each pair, judge its image's safety
and score it when asked, then append the surviving JPEG to a staging file and emit a small ``Kept`` record (or a
``Rejected`` one with the reason). Nothing between an image's read and its staging file is a shuffle, so image bytes
never cross one (see ../shared/DESIGN.md for the measurements behind that shape); the shard writer reads the bytes
back from staging.
"""
from __future__ import annotations

import uuid
from typing import Optional

import apache_beam as beam

from tuwen.pipeline.files import _create, _join
from tuwen.pipeline.inputs import read_bytes
from tuwen.pipeline.progress import Progress, ProgressConfig
from tuwen.pipeline.records import KEPT, REJECTED, Ident, Kept, Counters, reject
from tuwen.transforms import shards as fmt
from tuwen.transforms.image import ImageConfig
from tuwen.transforms.text_steps import TextStepsConfig


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
    """Read, clean, check and re-encode each pair (tuwen.transforms.pairs.check_pair): (Ident, Checked) on the
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
        self.decoded_side = scorer.image_size if scorer is not None else 0  # decoded no larger than the model needs
        # With a per-process scorer, its preprocessing runs here: the small model input rides to the batch instead
        # of the decoded image, which the SDK would otherwise pickle whenever it samples element sizes.
        self.scorer_cfg = scorer if scorer is not None and not scorer.large_model else None
        self.perceptual_hash = perceptual_hash
        self.nsfw = nsfw  # make the open_nsfw input here, from the written JPEG

    def setup(self):
        # The heavy objects (sensitive-word automaton, jieba) are built once per worker, here.
        self.masking = self.text_config.masking_steps()
        self.cleaner = None
        self.counters = Counters()
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
                         keep_preview=self.perceptual_hash, read_file=read_bytes, decoded_side=self.decoded_side)
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
        yield Ident(pair["id"], pair["source"], pair["row"]), out


class _StageSamples(beam.DoFn):
    """The end of the fused stage: the similarity threshold, then the JPEG (with its metadata) appended to a
    per-bundle staging file and a small ``Kept`` record emitted; below the threshold a ``low_similarity`` reject."""

    def __init__(self, staging_dir: str, threshold: Optional[float], dedup_mode: str, cross_run: bool):
        self.staging_dir = staging_dir
        self.threshold = threshold  # None: no scorer
        self.dedup_mode = dedup_mode
        self.cross_run = cross_run

    def setup(self):
        self.counters = Counters()

    def start_bundle(self):
        self.staging = _StagingFile(self.staging_dir)

    def finish_bundle(self):
        self.staging.close()

    def process(self, item):
        from tuwen.transforms.dedup import dedup_key, text_image_key

        ident, checked = item
        score = checked.fields.get("score")
        if self.threshold is not None and score < self.threshold:
            self.counters.inc("rejected_low_similarity")
            yield reject(ident._asdict(), "low_similarity",
                         f"score {score:.4f} < --similarity-threshold {self.threshold}",
                         checked.image.orig_width, checked.image.orig_height)
            return
        self.counters.inc("pairs_passed")
        cross = text_image_key(checked.text, checked.fields["phash"]) if self.cross_run else None
        file, offset, length = self.staging.append(checked.staged_meta(), checked.image.jpeg)
        yield Kept(KEPT, fmt.sample_key(ident.id), ident.id, ident.source, ident.row, file, offset, length,
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
