"""One pair's checks, Beam-free: the text cleaned, the image read, checked and re-encoded, or the reason it dropped.

The pipeline's fused per-pair stage and ``tuwen calibrate`` both call :func:`check_pair`, so calibration scores
exactly what a run would (the cleaned text, the checked image). The decoded image is handed on for the scorer and
the perceptual hash, so nothing decodes the file twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from tuwen.transforms.image import ImageConfig, ImageResult, process_image
from tuwen.transforms.sources import NotARegularFile, ReadFile, is_missing_file, read_local_bytes
from tuwen.transforms.text import TextCleaner
from tuwen.transforms.text_steps import mask_only


@dataclass
class Dropped:
    """A pair that failed a check: the reason code and a detail that says what was wrong."""
    reason: str
    detail: str = ""
    orig_width: int = 0  # the image's size when it was read before the check failed (0: unknown), for the report
    orig_height: int = 0


@dataclass
class Checked:
    """A pair that passed every check of the fused stage so far: what the shard needs, and the decoded image."""
    text: str
    gen_text: Optional[str]
    extra: dict
    image: ImageResult  # .jpeg, sizes, sha256, and .decoded/.preview (RGB PIL images) until used
    fields: dict = field(default_factory=dict)  # values for KEY.json and the index (jpeg, phash, score)
    index_fields: dict = field(default_factory=dict)  # float16 vectors for the index alone (--write-embeddings)
    pixels: Any = None  # the scorer's preprocessed input, when made in the check stage (instead of .image.decoded)
    nsfw_input: Any = None  # open_nsfw's preprocessed input (tuwen.transforms.safety), until the safety stage
    image_embedding: Any = None  # the scorer's image embedding, for the prompts check
    counters: list = field(default_factory=list)  # counter names to bump (gen_text drops)

    def staged_meta(self) -> dict:
        im = self.image
        meta = {"text": self.text, "gen_text": self.gen_text, "extra": self.extra, "width": im.width,
                "height": im.height, "orig_width": im.orig_width, "orig_height": im.orig_height,
                "sha256": im.sha256}
        if self.fields:
            meta["fields"] = dict(sorted(self.fields.items()))
        if self.index_fields:  # JSON carries the float16 bytes as hex; the shard writer turns them back
            meta["index_fields"] = {k: v.astype("<f2").tobytes().hex() for k, v in sorted(self.index_fields.items())}
        return meta


def read_image_bytes(pair: dict, limit: int, read_file: ReadFile = read_local_bytes) -> Any:
    """The pair's image bytes, or a :class:`Dropped` saying why they could not be had. ``read_file`` reads an
    ``image_ref``: local files alone by default; the pipeline hands its reader of local and remote files
    (``tuwen.pipeline.inputs.read_bytes``)."""
    data = pair.get("image_bytes")
    if data is not None:
        return data
    try:
        data = read_file(pair["image_ref"], limit)
    except FileNotFoundError as e:
        return Dropped("image_missing", f"{pair['image_ref']}: {e.strerror or e}")
    except NotARegularFile as e:
        return Dropped("image_read_error", f"{pair['image_ref']}: {e}")
    except Exception as e:  # a remote 404, permissions, a filesystem's error: the type decides, the message is detail
        return Dropped("image_missing" if is_missing_file(e) else "image_read_error",
                       f"{pair['image_ref']}: {type(e).__name__}: {e}")
    if len(data) > limit:
        return Dropped("image_file_too_large", f"more than {limit} bytes")
    return data


def check_pair(pair: dict, cleaner: TextCleaner, image_config: ImageConfig, masking=(),
               keep_decoded: bool = False, keep_preview: bool = False, read_file: ReadFile = read_local_bytes,
               decoded_side: int = 0):
    """A reader's pair → :class:`Checked` or :class:`Dropped`. Cheap text checks come first: no image is read
    for a pair whose text fails. ``keep_decoded`` keeps the decoded RGB image on the result for the scorer (no
    larger than ``decoded_side`` needs where it can: :func:`~tuwen.transforms.image.process_image`),
    ``keep_preview`` the 1/8-scale one for the perceptual hash. ``fields["jpeg"]`` (KEY.json, index) says whether
    the source JPEG was ``kept`` (metadata stripped) or ``reencoded``. ``read_file`` reads an ``image_ref``
    (:func:`read_image_bytes`)."""
    if "reason" in pair:  # the reader already knows (malformed line, missing field, ...)
        return Dropped(pair["reason"], pair.get("detail", ""))
    text = cleaner.clean(pair["text"])
    if text.dropped:
        return Dropped(text.dropped[1], text.detail)
    data = read_image_bytes(pair, image_config.max_image_bytes, read_file)
    if isinstance(data, Dropped):
        return data
    image = process_image(data, image_config, keep_decoded=keep_decoded, keep_preview=keep_preview,
                          decoded_side=decoded_side)
    if not image.ok:
        return Dropped(image.reason, image.detail, image.orig_width, image.orig_height)
    written = "kept" if image.kept else "reencoded"
    counters = [f"jpeg_{written}"]
    gen_text = pair.get("gen_text")
    if isinstance(gen_text, str) and gen_text.strip():
        gen = cleaner.clean(gen_text)
        if gen.dropped:
            counters.append(f"gen_text_dropped_{gen.dropped[1]}")
            gen_text = None
        else:
            gen_text = gen.text
    else:
        gen_text = None
    extra = {k: mask_only(v, masking) if isinstance(v, str) else v for k, v in (pair.get("extra") or {}).items()}
    return Checked(text=text.text, gen_text=gen_text, extra=extra, image=image, counters=counters,
                   fields={"jpeg": written})
