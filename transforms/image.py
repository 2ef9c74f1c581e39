"""Image checks and re-encoding, Beam-free: bytes in, a JPEG (or the reason it was dropped) out.

Cheap checks come first and use only the header: pixel count (decompression-bomb guard), aspect ratio and minimum
side, all measured after EXIF orientation. Only images that pass are decoded (first frame of animations): decoding
is how truncated and corrupt data show. Then either
- the JPEG is *kept* (``--reencode auto``, the default, when it conforms: see tuwen.transforms.jpeg): its coded data
  losslessly stripped of every metadata segment. Nothing needs its full-size pixels, so the check decodes it at 1/8
  scale (libjpeg's DCT scaling still reads every coded bit, so truncation and corrupt data fail exactly as in a
  full decode), or
- it is *re-encoded*: decoded at full size, turned into 8-bit RGB (CMYK, palette, alpha on white, 16-bit, grey),
  EXIF rotation applied, and saved as baseline JPEG at ``--jpeg-quality`` with no metadata at all (before this was
  made explicit, Pillow carried the source's JPEG comment over; EXIF and ICC profiles it writes only when asked).
The *preview*, for the perceptual hash, is the upright source at 1/8 scale, made from the one decode each path has
anyway: libjpeg's DCT scaling for a kept JPEG, a box filter of the full decode for a re-encoded image (a second,
1/8-scale decode would cost 40 % of the full one). The two differ in the last bits: the same picture's 64-bit hash
under ``--reencode auto`` and ``always`` is equal for 89 % of photos and at most 4 bits apart for the rest; each path
is deterministic, so reruns with the same options hash the same.

Whatever a decoder raises is the pair's reject reason, never the run's failure, and what decoders say about a bad
file (libtiff's errors, Pillow's warnings and log lines) stays off the user's stderr (quiet_decoders). A format that
Pillow decodes by running another program on the file (EPS: Ghostscript) is never decoded (NOT_DECODED).
"""
from __future__ import annotations

import hashlib
import io
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Optional

from PIL import Image, ImageOps

from tuwen.transforms.jpeg import NotKept, estimate_quality, stripped

REENCODE_MODES = ("auto", "always")
PREVIEW_SCALE = 8  # the preview is the source at 1/8 scale: libjpeg's smallest DCT scaling, plenty for a 32x32 hash
# EXIF orientations that swap width and height.
_TRANSPOSED = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageConfig:
    min_side: int = 256
    max_aspect_ratio: float = 2.0
    jpeg_quality: int = 90
    max_side: int = 0  # 0: keep the size; else downscale so the longer side is at most this
    max_pixels: int = 89_478_485  # Pillow's own bomb limit
    max_image_bytes: int = 64 * 1024 * 1024
    reencode: str = "auto"  # auto: keep conforming JPEGs (stripped of metadata); always: re-encode every image


@dataclass
class ImageResult:
    reason: Optional[str] = None
    detail: str = ""
    jpeg: bytes = b""
    width: int = 0
    height: int = 0
    orig_width: int = 0
    orig_height: int = 0
    sha256: str = ""
    decoded: Optional[Image.Image] = None  # the RGB image, when asked for (the scorer): see process_image
    preview: Optional[Image.Image] = None  # the upright RGB source at 1/8 scale, when asked for (perceptual hash)
    kept: bool = False  # True: the source JPEG's coded data, metadata stripped; False: re-encoded

    @property
    def ok(self) -> bool:
        return self.reason is None


def _fail(reason: str, detail: str, w: int = 0, h: int = 0) -> ImageResult:
    return ImageResult(reason=reason, detail=detail, orig_width=w, orig_height=h)


_ADDRESS = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")


def _describe(e: BaseException) -> str:
    """``Type: message`` without object reprs (``<_io.BytesIO object at 0x7f...>`` differs in every run)."""
    message = _ADDRESS.sub(r"<\1>", str(e))
    return f"{type(e).__name__}: {message}"


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # a broken EXIF block is not a broken image
        return 1


def to_rgb(im: Image.Image) -> Image.Image:
    """8-bit RGB: transparency composited on white, 16/32-bit grey scaled down (not clipped)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        import numpy as np

        arr = np.asarray(im)
        top = 65535 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255
        scaled = (arr.astype(np.float64) * (255.0 / top)).clip(0, 255).astype(np.uint8)
        return Image.fromarray(scaled, "L").convert("RGB")
    if mode == "F":
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=1.0))
        scaled = ((arr - lo) * (255.0 / max(hi - lo, 1e-12))).clip(0, 255).astype(np.uint8)
        return Image.fromarray(scaled, "L").convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def keepable(im: Image.Image, data: bytes, cfg: ImageConfig, orientation: int, long_side: int) -> Optional[bytes]:
    """The stripped JPEG when the source may be kept as it is coded (see tuwen.transforms.jpeg), else None."""
    if cfg.reencode != "auto" or im.format != "JPEG" or im.mode not in ("RGB", "L") or orientation != 1:
        return None
    if cfg.max_side and long_side > cfg.max_side:
        return None
    try:
        if estimate_quality(getattr(im, "quantization", None) or {}) > cfg.jpeg_quality:
            return None
        return stripped(data)
    except NotKept:
        return None


# Formats Pillow can open but that are never decoded here, and why. The data is untrusted.
NOT_DECODED = {
    "EPS": "Pillow would run Ghostscript, a separate program, on it",
}
_quiet = False


def quiet_decoders() -> None:
    """Keep the decoders' own messages about a bad file out of what the user reads; the file's reject detail says
    what went wrong. Process-wide and idempotent: process_image calls it on its first image in each worker process
    (a Beam worker has no other setup path in this Beam-free module). Python warnings are scoped per call instead
    (see process_image).

    - libtiff prints its errors ("_tiffReadProc: Invalid Read at loc ...", "TIFFFillStrip: Read error on strip 3",
      "WEBP compression support is not configured") to stderr through its default error handler, which Pillow
      leaves in place (it only removes the warning handler). Removing that handler silences libtiff alone: not the
      process's stderr (fd 2), which still carries every other error, from any thread. ``dlsym`` on Pillow's own
      extension finds the libtiff it is linked against, bundled or the system's.
    - Pillow logs a few rejections as errors ("More samples per pixel than can be decoded") before raising, and the
      CLI prints log records; the exception that follows is the reject detail.
    """
    global _quiet
    if _quiet:
        return
    logging.getLogger("PIL").setLevel(logging.CRITICAL)
    try:
        import ctypes

        from PIL import _imaging

        imaging = ctypes.CDLL(_imaging.__file__)
        for name in ("TIFFSetErrorHandler", "TIFFSetErrorHandlerExt"):
            set_handler = getattr(imaging, name)
            set_handler.argtypes, set_handler.restype = [ctypes.c_void_p], ctypes.c_void_p
            set_handler(None)
    except (OSError, AttributeError, ImportError):  # Pillow without libtiff, or a platform without dlsym's search
        pass
    _quiet = True


def _preview(data: bytes, orientation: int) -> Image.Image:
    """The source JPEG decoded at 1/8 scale by libjpeg, upright, RGB."""
    im = Image.open(io.BytesIO(data))
    im.draft(im.mode, (max(1, im.width // PREVIEW_SCALE), max(1, im.height // PREVIEW_SCALE)))
    im.load()
    if orientation != 1:
        im = ImageOps.exif_transpose(im)
    return to_rgb(im)


def process_image(data: bytes, cfg: ImageConfig, keep_decoded: bool = False,
                  keep_preview: bool = False, decoded_side: int = 0) -> ImageResult:
    """Check one image and keep or re-encode it as JPEG; never raises for bad input. ``keep_decoded`` keeps the
    upright RGB image on the result (``decoded``, for the scorer), ``keep_preview`` the 1/8-scale one
    (``preview``, for the perceptual hash). ``decoded_side``: the decoded image is a model's input and needs only
    this many pixels on each side, so a kept JPEG (nothing else needs its pixels) is decoded at the smallest DCT
    scale that keeps them, as the trainer and the open_nsfw input do; a re-encoded image is decoded in full for its
    encode and handed on at that size; 0: full size."""
    quiet_decoders()
    # Pillow warns about a bad file (DecompressionBombWarning: we judge the size ourselves; "Corrupt EXIF data",
    # "Truncated File Read", "malformed MPO file"): its reason, if any, is the pair's, never the user's stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _process(data, cfg, keep_decoded, keep_preview, decoded_side)


def _process(data: bytes, cfg: ImageConfig, keep_decoded: bool, keep_preview: bool,
             decoded_side: int = 0) -> ImageResult:
    if not data:
        return _fail("image_empty", "0 bytes")
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        return _fail("image_too_large", str(e))
    except Exception as e:  # whatever a decoder plugin raises (NotImplementedError from DDS, ...) is this pair's
        return _fail("image_decode_error", _describe(e))
    w, h = im.size
    if im.format in NOT_DECODED:
        return _fail("image_decode_error", f"{im.format} is not decoded: {NOT_DECODED[im.format]}", w, h)
    if w <= 0 or h <= 0:
        return _fail("image_decode_error", f"size {w}x{h}")
    if w * h > cfg.max_pixels:
        return _fail("image_too_large", f"{w}x{h} = {w * h} pixels > --max-pixels {cfg.max_pixels}", w, h)
    orientation = _orientation(im)
    ow, oh = (h, w) if orientation in _TRANSPOSED else (w, h)
    short, long_ = min(ow, oh), max(ow, oh)
    if long_ > cfg.max_aspect_ratio * short:
        return _fail("aspect_ratio", f"{ow}x{oh}: {long_ / short:.3f} > {cfg.max_aspect_ratio}", ow, oh)
    if short < cfg.min_side:
        return _fail("image_too_small", f"{ow}x{oh}: shorter side {short} < {cfg.min_side}", ow, oh)
    kept = keepable(im, data, cfg, orientation, long_)
    preview = decoded = None
    try:
        if kept is not None and (keep_preview or not keep_decoded):
            preview = _preview(data, orientation)  # without the scorer, the only decode of a kept JPEG
        if kept is None or keep_decoded:
            if kept is not None and decoded_side:  # only the model's input: libjpeg's DCT scaling, no smaller
                im.draft("RGB", (decoded_side, decoded_side))
            elif cfg.max_side and long_ > cfg.max_side and im.format == "JPEG":
                # Let libjpeg decode at a reduced scale (no smaller than the target) before the exact resize.
                scale = cfg.max_side / long_
                im.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
            im.load()  # the first frame of an animation
            if orientation != 1:
                im = ImageOps.exif_transpose(im)
            decoded = im = to_rgb(im)
            if keep_preview and preview is None:  # re-encoded: 1/8 of the source by box filter, not a second decode
                preview = im.reduce(max(1, round(PREVIEW_SCALE * im.width / ow)))
        if kept is None:
            if cfg.max_side and max(im.size) > cfg.max_side:
                scale = cfg.max_side / max(im.size)
                size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
                decoded = im = im.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
            out = io.BytesIO()
            # Pillow carries some of the source's metadata over from im.info (its comment, for one): none of it.
            im.info = {}
            im.save(out, format="JPEG", quality=cfg.jpeg_quality)
            jpeg, width, height = out.getvalue(), im.width, im.height
        else:
            jpeg, width, height = kept, ow, oh
    except Image.DecompressionBombError as e:  # a size only the decode tells (ICNS picks its largest icon then)
        return _fail("image_too_large", str(e), ow, oh)
    except OSError as e:
        msg = str(e)
        reason = "image_truncated" if "truncated" in msg or "broken data stream" in msg else "image_decode_error"
        return _fail(reason, _describe(e), ow, oh)
    except Exception as e:  # any other decoder failure is this pair's reason, never the run's crash
        return _fail("image_decode_error", _describe(e), ow, oh)
    return ImageResult(jpeg=jpeg, width=width, height=height, orig_width=ow, orig_height=oh,
                       sha256=hashlib.sha256(jpeg).hexdigest(), decoded=decoded if keep_decoded else None,
                       preview=preview if keep_preview else None, kept=kept is not None)
