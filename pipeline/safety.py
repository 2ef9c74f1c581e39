"""The image-safety stage's Beam side, inside the fused per-pair stage: open_nsfw as a ``ModelHandler`` for
``RunInference``, then the text check (OCR) as a DoFn that reads one image at a time, and after the scorer the
checks on its image embedding (prompts, the safety head).

The model, its preprocessing and the fixed-size batches live Beam-free in ``tuwen.transforms.safety``; the check
stage makes each pair's model input (``Checked.nsfw_input``), so only that small array rides to the batch. The
handler takes the (ident, Checked) elements whole, so nothing in them is pickled to size a batch (Beam's
KeyedModelHandler pickles its keys for that). Batches are of one fixed size and never use
``max_batch_duration_secs`` (it would make batching a keyed, stateful, shuffling step in Beam 2.77).
"""
from __future__ import annotations

import importlib
import logging
import sys
import threading
import types
from typing import Iterable, Sequence

import apache_beam as beam

_MODEL_MANAGER = "apache_beam.ml.inference.model_manager"


def _run_inference_without_torch():
    """Beam 2.77's ``ml.inference.base`` imports its ModelManager whenever it can, and that imports torch and scipy
    (2.3 s, and their memory) for a GPU-memory option tuwen never uses (``use_model_manager``). A run without a
    scorer must not load torch: import ``base`` while that one module is a stand-in whose ``ModelManager`` is None
    (what ``base`` itself falls back to), then take the stand-in away so the real module stays importable."""
    if "apache_beam.ml.inference.base" not in sys.modules and _MODEL_MANAGER not in sys.modules:
        stand_in = types.ModuleType(_MODEL_MANAGER)
        stand_in.ModelManager = None
        sys.modules[_MODEL_MANAGER] = stand_in
        try:
            importlib.import_module("apache_beam.ml.inference.base")
        finally:
            del sys.modules[_MODEL_MANAGER]
    return importlib.import_module("apache_beam.ml.inference.base")


_base = _run_inference_without_torch()
ModelHandler, PredictionResult, RunInference = _base.ModelHandler, _base.PredictionResult, _base.RunInference

from tuwen.pipeline.records import REJECTED, Counters, Ident, reject
from tuwen.transforms.safety import (NSFW_BATCH_SIZE, SafetyConfig, class_embeddings, load_nsfw, load_ocr,
                                     image_text_categories, nsfw_scores, prompt_verdict, read_image_text)
from tuwen.transforms.safety_head import head_probabilities
from tuwen.transforms.text_steps import TextStepsConfig, mask_only

log = logging.getLogger("tuwen")

_MODELS: dict = {}
_LOADING = threading.Lock()


def load_shared_nsfw(threads: int):
    """One open_nsfw session per process and thread count: both fused paths of a worker share it."""
    with _LOADING:
        if ("nsfw", threads) not in _MODELS:
            _MODELS["nsfw", threads] = load_nsfw(threads)
            log.info("tuwen: open_nsfw loaded (onnxruntime, %d thread(s), batch %d)", threads, NSFW_BATCH_SIZE)
        return _MODELS["nsfw", threads]


def load_shared_ocr(threads: int):
    """One OCR engine per process and thread count."""
    with _LOADING:
        if ("ocr", threads) not in _MODELS:
            _MODELS["ocr", threads] = load_ocr(threads)
            log.info("tuwen: PP-OCRv4 loaded (rapidocr-onnxruntime, %d thread(s))", threads)
        return _MODELS["ocr", threads]


def _reject(counters, ident: Ident, checked, reason: str, detail: str):
    """A reject for REJECTED (with the image's size), its ``rejected_<reason>`` counter bumped."""
    counters.inc(f"rejected_{reason}")
    who = {"id": ident.id, "source": ident.source, "row": ident.row}
    return beam.pvalue.TaggedOutput(REJECTED, reject(who, reason, detail, checked.image.orig_width,
                                                     checked.image.orig_height))


class NsfwModelHandler(ModelHandler):
    """(ident, Checked with ``nsfw_input``) → its rounded open_nsfw probability, in batches of one fixed size."""

    def __init__(self, cfg: SafetyConfig):
        super().__init__()
        self.cfg = cfg

    def load_model(self):
        return load_shared_nsfw(self.cfg.threads)

    def run_inference(self, batch: Sequence[tuple], model, inference_args=None) -> Iterable[PredictionResult]:
        scores = nsfw_scores(model, [checked.nsfw_input for _, checked in batch])
        return [PredictionResult(element, score) for element, score in zip(batch, scores)]

    def batch_elements_kwargs(self):
        # min = max: every batch but a bundle's last has this size, and nsfw_scores pads that one.
        return {"min_batch_size": NSFW_BATCH_SIZE, "max_batch_size": NSFW_BATCH_SIZE}

    def get_metrics_namespace(self) -> str:
        return "tuwen_nsfw"

    def get_num_bytes(self, batch) -> int:
        return sum(checked.nsfw_input.nbytes for _, checked in batch)


class _JudgeNsfw(beam.DoFn):
    """The score onto the pair (``nsfw`` in KEY.json and the index); at or above the threshold an
    ``unsafe_image_nsfw`` reject on REJECTED."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def setup(self):
        self.counters = Counters()

    def process(self, prediction: PredictionResult):
        (ident, checked), score = prediction.example, prediction.inference
        checked.nsfw_input = None
        if score >= self.threshold:
            yield _reject(self.counters, ident, checked, "unsafe_image_nsfw",
                          f"nsfw {score:.4f} >= --nsfw-threshold {self.threshold}")
            return
        checked.fields["nsfw"] = score
        yield ident, checked


class JudgeNsfw(beam.PTransform):
    """(ident, Checked) → (the safe ones, with ``nsfw`` set; ``unsafe_image_nsfw`` rejects)."""

    def __init__(self, cfg: SafetyConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, checked):
        judged = (checked
                  | "Nsfw" >> RunInference(NsfwModelHandler(self.cfg))
                  | "JudgeNsfw" >> beam.ParDo(_JudgeNsfw(self.cfg.nsfw_threshold)).with_outputs(REJECTED,
                                                                                             main="safe"))
        return judged.safe, judged[REJECTED]


class _CheckImageText(beam.DoFn):
    """OCR of the written JPEG: a sensitive word in it is ``unsafe_image_text`` (detail: the lexicon category, never
    the word), text covering more than ``--max-image-text-share`` is ``text_heavy_image``. Kept samples get
    ``image_text_share``, and with ``--keep-image-text`` the recognised text, masked like a caption."""

    def __init__(self, cfg: SafetyConfig, text_config: TextStepsConfig):
        self.cfg = cfg
        self.text_config = text_config

    def setup(self):
        self.engine = load_shared_ocr(self.cfg.threads)
        self.sensitive = self.text_config.sensitive_words()  # the captions' lexicons, alone
        self.masking = self.text_config.masking_steps() if self.cfg.keep_image_text else None
        self.counters = Counters()

    def process(self, item):
        ident, checked = item
        try:
            found = read_image_text(self.engine, checked.image.jpeg)
        except Exception as e:  # the written JPEG decoded once already; never the run's crash
            yield _reject(self.counters, ident, checked, "image_decode_error", f"OCR input: {type(e).__name__}: {e}")
            return
        categories = image_text_categories(self.sensitive.matcher, found, self.sensitive.config.max_gap)
        if categories:
            yield _reject(self.counters, ident, checked, "unsafe_image_text", ",".join(categories))
            return
        limit = self.cfg.max_text_share
        if limit is not None and found.share > limit:
            yield _reject(self.counters, ident, checked, "text_heavy_image",
                          f"text covers {found.share:.4f} of the image > --max-image-text-share {limit}")
            return
        checked.fields["image_text_share"] = found.share
        if self.cfg.keep_image_text:
            checked.fields["image_text"] = mask_only(found.text, self.masking)
        yield ident, checked


class CheckImageText(beam.PTransform):
    """(ident, Checked) → (those whose image carries no sensitive text; ``unsafe_image_text`` and
    ``text_heavy_image`` rejects)."""

    def __init__(self, cfg: SafetyConfig, text_config: TextStepsConfig):
        super().__init__()
        self.cfg, self.text_config = cfg, text_config

    def expand(self, checked):
        read = checked | "ImageText" >> beam.ParDo(_CheckImageText(self.cfg, self.text_config)).with_outputs(
            REJECTED, main="clean")
        return read.clean, read[REJECTED]


class _JudgeEmbedding(beam.DoFn):
    """The checks on the scorer's image embedding. prompts: nearer an unsafe class than any safe one by more than
    ``--prompt-safety-margin`` is ``unsafe_image_prompt``. The safety head: P(unsafe) at least its threshold is
    ``unsafe_image_head``; kept samples get ``safety_head`` (that probability) in KEY.json and the index."""

    def __init__(self, cfg: SafetyConfig, scorer_cfg):
        self.cfg, self.scorer_cfg = cfg, scorer_cfg

    def setup(self):
        self.prompts = self.cfg.prompts if "prompts" in self.cfg.checks else None
        if self.prompts is not None:
            from tuwen.pipeline.relevance import load_checked_scorer  # once per process, shared with the scorer

            scorer = load_checked_scorer(self.scorer_cfg)
            self.unsafe = class_embeddings(scorer, self.prompts.unsafe, self.prompts.templates)
            self.safe = class_embeddings(scorer, self.prompts.safe, self.prompts.templates)
        self.counters = Counters()

    def process(self, item):
        ident, checked = item
        embedding, checked.image_embedding = checked.image_embedding, None
        if self.prompts is not None:
            margin, unsafe, safe = prompt_verdict(embedding, self.unsafe, self.safe, self.prompts)
            if margin > self.cfg.prompt_margin:
                yield _reject(self.counters, ident, checked, "unsafe_image_prompt", f"nearer '{unsafe}' than '{safe}' by "
                              f"{margin:.4f} > --prompt-safety-margin {self.cfg.prompt_margin}")
                return
        if self.cfg.head is not None:
            p, cut = head_probabilities(self.cfg.head, embedding)[0], self.cfg.head_cut
            if p >= cut:
                yield _reject(self.counters, ident, checked, "unsafe_image_head", f"safety head P(unsafe) {p:.4f} >= {cut}")
                return
            checked.fields["safety_head"] = p
        yield ident, checked


class JudgeEmbedding(beam.PTransform):
    """(ident, Checked with the scorer's image embedding) → (the rest; ``unsafe_image_prompt`` and
    ``unsafe_image_head`` rejects)."""

    def __init__(self, cfg: SafetyConfig, scorer_cfg):
        super().__init__()
        self.cfg, self.scorer_cfg = cfg, scorer_cfg

    def expand(self, checked):
        judged = checked | "JudgeEmbedding" >> beam.ParDo(_JudgeEmbedding(self.cfg, self.scorer_cfg)).with_outputs(
            REJECTED, main="safe")
        return judged.safe, judged[REJECTED]
