"""The image-safety stage's Beam side: open_nsfw as a ``ModelHandler`` for ``RunInference``, inside the fused stage.

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
from typing import Iterable, Sequence

import apache_beam as beam

_MODEL_MANAGER = "apache_beam.ml.inference.model_manager"


def _run_inference_without_torch():
    """Beam 2.77's ``ml.inference.base`` imports its ModelManager whenever it can, and that imports torch and scipy
    (2.3 s, and their memory) for a GPU-memory option tuwen never uses (``use_model_manager``). A run without a
    scorer must not load torch: import ``base`` with that one module unavailable, so it takes its own fallback
    (``ModelManager = None``), then make the module importable again."""
    if "apache_beam.ml.inference.base" not in sys.modules and _MODEL_MANAGER not in sys.modules:
        sys.modules[_MODEL_MANAGER] = None  # `import` of a None entry raises ImportError
        try:
            importlib.import_module("apache_beam.ml.inference.base")
        finally:
            del sys.modules[_MODEL_MANAGER]
    return importlib.import_module("apache_beam.ml.inference.base")


_base = _run_inference_without_torch()
ModelHandler, PredictionResult, RunInference = _base.ModelHandler, _base.PredictionResult, _base.RunInference

from tuwen.pipeline.stages import REJECTED, _Counters, reject
from tuwen.transforms.safety import NSFW_BATCH_SIZE, SafetyConfig, load_nsfw, nsfw_scores

log = logging.getLogger("tuwen")

_SESSIONS: dict = {}
_LOADING = threading.Lock()


def load_shared_nsfw(threads: int):
    """One open_nsfw session per process and thread count: both fused paths of a worker share it."""
    with _LOADING:
        if threads not in _SESSIONS:
            _SESSIONS[threads] = load_nsfw(threads)
            log.info("tuwen: open_nsfw loaded (onnxruntime, %d thread(s), batch %d)", threads, NSFW_BATCH_SIZE)
        return _SESSIONS[threads]


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
        self.counters = _Counters()

    def process(self, prediction: PredictionResult):
        (ident, checked), score = prediction.example, prediction.inference
        checked.nsfw_input = None
        if score >= self.threshold:
            self.counters.inc("rejected_unsafe_image_nsfw")
            pair = {"id": ident[0], "source": ident[1], "row": ident[2]}
            yield beam.pvalue.TaggedOutput(REJECTED, reject(
                pair, "unsafe_image_nsfw", f"nsfw {score:.4f} >= --nsfw-threshold {self.threshold}"))
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
