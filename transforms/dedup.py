"""Pair dedup, Beam-free: the keys that make two pairs the same, which one of a group is kept, the cross-run index.

The seed's rule: identical (cleaned text, similarity score) are duplicates (``text-score``). Without a scorer the
image side of the key is a perceptual hash of the decoded image (``text-image``). Same text with a different image
is never a duplicate. Scores change when the scorer is retrained, so the key that crosses runs (``--dedup-index``)
is always cleaned text + perceptual hash; the score key and the scorer's weights sha256 are stored beside it.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Optional

import numpy as np
from PIL import Image

DEDUP_MODES = ("text-score", "text-image", "off")
KEY_HEX = 32  # 128 bits of sha256: collisions are never a practical concern, records stay small

INDEX_PART_GLOB = "part-*.parquet"
INDEX_COLUMNS = ("key", "score_key", "scorer_sha256", "run", "id")


PHASH_BITS = 8  # a side of the hash's square of low frequencies: 64 bits
PHASH_INPUT = 32  # the grey image the DCT reads is this square (imagehash's hash_size 8 x highfreq_factor 4)
PHASH_DECIMALS = 6  # coefficients are rounded before the median compares them (see perceptual_hash)
# The first PHASH_BITS rows of the unnormalised DCT-II of PHASH_INPUT points (scipy.fftpack.dct's default):
# y[k] = 2 sum_n x[n] cos(pi k (2n + 1) / 2N).
_DCT_ROWS = 2.0 * np.cos(np.pi * np.arange(PHASH_BITS)[:, None] * (2 * np.arange(PHASH_INPUT)[None, :] + 1)
                         / (2 * PHASH_INPUT))


def perceptual_hash(im) -> str:
    """64-bit DCT perceptual hash of a decoded image, as 16 hex characters: ``str(imagehash.phash(im))``, the
    same bits (tests/test_dedup.py checks them on photos), computed here because imagehash's costs twice as much a
    pair and its import of scipy 0.2 s a worker. Grey, 32x32 by Lanczos, 2-D DCT, the 8x8 lowest frequencies, a
    bit per coefficient above their median. The coefficients are rounded before the comparison, so that the last
    bits of a matrix product (which differ between CPUs) decide no bit of the hash: a flat image's coefficients
    but the mean are then exactly zero."""
    pixels = np.asarray(im.convert("L").resize((PHASH_INPUT, PHASH_INPUT), Image.Resampling.LANCZOS),
                        dtype=np.float64)
    low = np.round(_DCT_ROWS @ pixels @ _DCT_ROWS.T, PHASH_DECIMALS)
    return np.packbits(low > np.median(low)).tobytes().hex()


def _key(kind: str, *parts: str) -> str:
    return hashlib.sha256("\x00".join((kind, *parts)).encode("utf-8")).hexdigest()[:KEY_HEX]


def text_score_key(text: str, score: float) -> str:
    return _key("text-score", text, f"{score:.4f}")


def text_image_key(text: str, phash: str) -> str:
    return _key("text-image", text, phash)


def dedup_key(mode: str, text: str, fields: dict) -> Optional[str]:
    """The in-run key of a kept pair under ``mode`` (None for ``off``)."""
    if mode == "text-score":
        return text_score_key(text, fields["score"])
    if mode == "text-image":
        return text_image_key(text, fields["phash"])
    return None


def keep_order(area: int, pair_id: str) -> tuple:
    """Sort key of a duplicate group: the first is kept (the larger image by area, then the smaller id)."""
    return (-area, pair_id)


def index_part_name(output: str) -> str:
    """The part a run adds to the dedup index: named after its output folder, so a rerun replaces its own."""
    return f"part-{hashlib.sha256(output.encode('utf-8')).hexdigest()[:16]}.parquet"


def index_schema():
    import pyarrow as pa

    return pa.schema([("key", pa.string()), ("score_key", pa.string()), ("scorer_sha256", pa.string()),
                      ("run", pa.string()), ("id", pa.string())])


def index_rows(samples: Iterable[dict], run: str, scorer_sha256: Optional[str]) -> list[dict]:
    """Dedup-index rows for kept samples (dicts with ``id``, ``text``, ``phash`` and, when scored, ``score``)."""
    rows = []
    for s in samples:
        score = s.get("score")
        rows.append({"key": text_image_key(s["text"], s["phash"]),
                     "score_key": None if score is None else text_score_key(s["text"], score),
                     "scorer_sha256": scorer_sha256, "run": run, "id": s["id"]})
    return rows


def compact_rows(rows: Iterable[dict]) -> list[dict]:
    """One row per cross-run key (the first run that kept it, by run then id), sorted by key."""
    best: dict[str, dict] = {}
    for r in rows:
        old = best.get(r["key"])
        if old is None or (r["run"], r["id"]) < (old["run"], old["id"]):
            best[r["key"]] = r
    return [best[k] for k in sorted(best)]
