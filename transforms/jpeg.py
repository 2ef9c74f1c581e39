"""JPEG passthrough, Beam-free: keep a crawled JPEG's compressed data when it already is what a re-encode would make.

Most crawled images are JPEGs already. Re-encoding one costs more than decoding it, loses a little quality each time
and, done naively, keeps nothing worse than what it was given. A JPEG *conforms* when keeping its coded data gives the
same kind of file the re-encode would: baseline or progressive Huffman coding, 8-bit, grey or YCbCr (no CMYK, no
Adobe RGB transform), no EXIF rotation left to apply, within ``--max-side``, and an estimated quality (read from its
luminance and chrominance quantisation tables, as libjpeg scales them) at or below ``--jpeg-quality``.

A conforming file is rewritten losslessly with only what decoding needs: a fresh JFIF header, the quantisation and
Huffman tables, the frame, restart interval and scans. Every other segment is dropped: EXIF (GPS positions, camera,
thumbnail), XMP, ICC profiles (the re-encode drops them too: both paths leave pixels uninterpreted), comments, vendor
APPn blocks and whatever trails the end-of-image marker. Decoded pixels are unchanged, bit for bit.
"""
from __future__ import annotations

import re
from typing import Optional

import numpy as np

# Markers (the byte after 0xFF).
SOI, EOI, SOS, DQT, DHT, DRI, DNL = 0xD8, 0xD9, 0xDA, 0xDB, 0xC4, 0xDD, 0xDC
APP0, APP14, COM = 0xE0, 0xEE, 0xFE
# Huffman-coded frames: baseline, extended sequential, progressive (8-bit only, checked below).
HUFFMAN_FRAMES = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
# Segments a decoder needs and that say nothing about the photo's origin.
KEPT_SEGMENTS = {DQT, DHT, DRI, DNL} | set(HUFFMAN_FRAMES)
STANDALONE = {0x01} | set(range(0xD0, 0xD8))  # TEM, RST0-7: no length field

# A fresh JFIF 1.01 header: no density (aspect 1:1), no thumbnail.
JFIF_APP0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"

# The next marker after a scan's coded data: 0xFF followed by neither a stuffed zero nor a restart marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")

# ITU-T T.81 Annex K tables in natural (row-major) order; libjpeg scales them by quality.
_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
         14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
         49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
           47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32


def _scaled(table, quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (v * scale + 50) // 100)) for v in table]


# Row i: the luminance then chrominance table of quality 100 - i (highest first, so argmin's first-found tie is the
# higher quality).
_STANDARD = np.array([_scaled(_LUMA, q) + _scaled(_CHROMA, q) for q in range(100, 0, -1)], dtype=np.int32)


def estimate_quality(quantization: dict) -> int:
    """The libjpeg quality (1-100) whose standard tables are nearest (L1) to these (Pillow's ``im.quantization``,
    natural order); ties go to the higher quality, so an estimate never flatters a file. Non-standard tables (camera
    firmware, editors) get the nearest standard quality, as ImageMagick's estimate does."""
    luma = np.asarray(list(quantization.get(0, ()))[:64], dtype=np.int32)
    chroma = list(quantization.get(1, ()))
    err = np.abs(_STANDARD[:, :len(luma)] - luma).sum(axis=1)
    if len(chroma) == 64:
        err += np.abs(_STANDARD[:, 64:] - np.asarray(chroma, dtype=np.int32)).sum(axis=1)
    return 100 - int(np.argmin(err))


class NotKept(Exception):
    """Why a JPEG is re-encoded instead of kept (the message is the reason, for counters and tests)."""


def stripped(data: bytes) -> bytes:
    """The JPEG with every segment a decoder does not need dropped, its coded data untouched; :class:`NotKept` when
    the file uses anything outside baseline/progressive Huffman 8-bit grey or YCbCr (it is then re-encoded)."""
    if data[:2] != b"\xff\xd8":
        raise NotKept("not a JPEG")
    out = [b"\xff\xd8", JFIF_APP0]
    pos, n, components, adobe_transform = 2, len(data), 0, None
    while True:
        # Markers may be preceded by any number of 0xFF fill bytes.
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n or data[pos - 1] != 0xFF:
            raise NotKept("bad marker")
        marker = data[pos]
        start = pos - 1
        pos += 1
        if marker == EOI:
            if not components:
                raise NotKept("no frame")
            if components == 3 and adobe_transform not in (None, 1):
                raise NotKept("Adobe colour transform")  # 0: RGB, 2: YCCK; 1 is YCbCr, as JFIF says too
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in STANDALONE:
            raise NotKept(f"marker 0x{marker:02X} outside a scan")
        if pos + 2 > n:
            raise NotKept("truncated segment")
        length = int.from_bytes(data[pos:pos + 2], "big")
        end = pos + length
        if length < 2 or end > n:
            raise NotKept("truncated segment")
        body = data[pos + 2:end]
        if marker in HUFFMAN_FRAMES:
            if components:
                raise NotKept("two frames")
            if len(body) < 6 or body[0] != 8:
                raise NotKept("not 8-bit")
            if body[5] not in (1, 3):
                raise NotKept(f"{body[5]} components")
            components = body[5]
        elif marker == APP14 and body[:5] == b"Adobe" and len(body) >= 12:
            adobe_transform = body[11]
        elif marker not in KEPT_SEGMENTS and marker != SOS and not (0xE0 <= marker <= 0xEF or marker == COM):
            raise NotKept(f"segment 0x{marker:02X}")  # SOF3/5-15 (lossless, hierarchical, arithmetic), DAC, ...
        if marker in KEPT_SEGMENTS or marker == SOS:
            out.append(data[start:end])
        pos = end
        if marker == SOS:
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                raise NotKept("scan runs to the end of the file")
            out.append(data[pos:found.start()])
            pos = found.start()

