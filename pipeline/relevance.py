"""The relevance stage's Beam side: the scorer as a ``ModelHandler`` for ``RunInference``, inside the fused stage.

Loading, preprocessing and embedding live Beam-free in ``tuwen.trainer.scoring`` (``tuwen calibrate`` and the
trainer use them without Beam). This module only adapts them: a handler that loads the scorer once per worker
(or once per machine with ``--scorer-large-model``), batches of one fixed size (the last one padded) so a pair
scores the same bits whatever its neighbours, and no ``max_batch_duration_secs`` (which would make batching a keyed,
stateful, shuffling step in Beam 2.77).
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from tuwen.transforms.relevance import ScorerConfig, score_batch

log = logging.getLogger("tuwen")


def _copy(uri: str, local: str) -> None:
    os.makedirs(os.path.dirname(local), exist_ok=True)
    tmp = f"{local}.tmp-{os.getpid()}"
    with FileSystems.open(uri) as src, open(tmp, "wb") as dst:
        while True:
            chunk = src.read(1 << 22)
            if not chunk:
                break
            dst.write(chunk)
    os.replace(tmp, local)


def fetch_once(uri: str) -> str:
    """A remote checkpoint (gs://, s3://) copied once per worker into the local temp folder, through Beam's
    FileSystems: a file, or a folder (a tuwen run or model folder) with everything under it. Later calls on the same
    machine reuse the copy."""
    uri = uri.rstrip("/")
    local = os.path.join(tempfile.gettempdir(), "tuwen-scorer",
                         hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16] + "-" + os.path.basename(uri))
    done = local + ".complete"
    if os.path.exists(done):
        return local
    inside = [m.path for m in FileSystems.match([uri + "/**"])[0].metadata_list]
    if inside:  # a folder
        for path in inside:
            _copy(path, os.path.join(local, os.path.relpath(path, uri)))
    else:
        _copy(uri, local)
    open(done, "w").close()
    return local


_LOADED: dict = {}
_LOADING = threading.Lock()


def load_checked_scorer(cfg: ScorerConfig):
    """The scorer, loaded once per process (the launching machine's check, and both fused paths of a worker
    share it); raises ``ScorerError`` with one line."""
    from tuwen.trainer.scoring import load_scorer

    key = (cfg.spec, cfg.device, cfg.precision, cfg.threads)
    with _LOADING:
        if key not in _LOADED:
            _LOADED[key] = load_scorer(cfg.spec, device=cfg.device, precision=cfg.precision, threads=cfg.threads,
                                       fetch=fetch_once)
        return _LOADED[key]


class ScorerModelHandler(ModelHandler):
    """(decoded RGB image or its preprocessed array, cleaned text) → (score, embeddings or None), in batches of one
    fixed size."""

    def __init__(self, cfg: ScorerConfig, embeddings: bool = False):
        super().__init__()
        self.cfg = cfg
        self.embeddings = embeddings or cfg.write_embeddings  # the prompts check needs the image embedding too

    def load_model(self):
        scorer = load_checked_scorer(self.cfg)
        log.info("tuwen: scorer %s loaded (%s, batch %d)", self.cfg.spec, scorer.kind, self.cfg.batch_size)
        return scorer

    def run_inference(self, batch: Sequence[tuple], model, inference_args=None) -> Iterable[PredictionResult]:
        images, texts = [b[0] for b in batch], [b[1] for b in batch]
        results = score_batch(model, images, texts, self.cfg.batch_size, self.embeddings)
        return [PredictionResult(example, result) for example, result in zip(batch, results)]

    def batch_elements_kwargs(self):
        # min = max: every batch but a bundle's last has this size, and the handler pads that one.
        return {"min_batch_size": self.cfg.batch_size, "max_batch_size": self.cfg.batch_size}

    def share_model_across_processes(self) -> bool:
        return self.cfg.large_model

    def model_copies(self) -> int:
        return self.cfg.model_copies or 1

    def get_metrics_namespace(self) -> str:
        return "tuwen_scorer"

    def get_num_bytes(self, batch) -> int:
        return sum(getattr(b[0], "nbytes", None) or b[0].width * b[0].height * 3 for b in batch)


def _as_example(item):
    # The decoded image goes into the example alone: KeyedModelHandler pickles the keys of every batch to count
    # their bytes (Beam 2.77), which with the image inside cost ~10 % of a tiny model's scoring time.
    ident, checked = item
    image = checked.pixels if checked.pixels is not None else checked.image.decoded
    checked.pixels = checked.image.decoded = None
    return ((ident, checked), (image, checked.text))


def _attach_score(keyed, with_embeddings: bool, image_embedding: bool):
    (ident, checked), prediction = keyed
    score, emb = prediction.inference
    checked.fields["score"] = score
    if with_embeddings:
        checked.index_fields = {"image_embedding": emb[0], "text_embedding": emb[1]}
    if image_embedding:  # for the prompts check, which comes next
        checked.image_embedding = emb[0]
    return ident, checked


class ScorePairs(beam.PTransform):
    """(ident, Checked) → the same, with ``score`` set: RunInference batching inside the fused per-pair stage."""

    def __init__(self, cfg: ScorerConfig, image_embedding: bool = False):
        super().__init__()
        self.cfg = cfg
        self.image_embedding = image_embedding  # keep it on the pair (Checked.image_embedding)

    def expand(self, checked):
        handler = ScorerModelHandler(self.cfg, embeddings=self.image_embedding)
        return (checked
                | "AsExamples" >> beam.Map(_as_example)
                | "Score" >> RunInference(KeyedModelHandler(handler))
                | "AttachScore" >> beam.Map(_attach_score, self.cfg.write_embeddings, self.image_embedding))
