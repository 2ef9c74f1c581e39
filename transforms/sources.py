"""Inputs, Beam-free: what an input file is, the id of every pair, how a manifest's row (a JSONL line, a Parquet
row, a tar's members) becomes a pair or the reason it cannot be one, and a local image file read safely.

A pair is a dict with its identity (``id``, ``source``, ``row``), its text fields and either an image reference
(``image_ref``, resolved against the manifest's folder) or inline bytes (``image_bytes``). A row that cannot be a
pair still becomes a dict, with ``reason`` set: nothing is dropped silently. Opening files is the pipeline's:
the readers, which go through Beam's ``FileSystems`` so ``gs://`` and ``s3://`` work on a cluster, are in
``tuwen.pipeline.inputs``.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Sequence

from tuwen.transforms.image import ImageConfig

KINDS = {".jsonl": "jsonl", ".json": "jsonl", ".jsonl.gz": "jsonl", ".parquet": "parquet", ".tar": "tar"}
IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff")
DETAIL_CHARS = 500  # a reject's detail is cut to this many characters
_WILDCARD = re.compile(r"[*?\[{]")


class InputError(ValueError):
    """A start-up problem with --input: no match, unknown kind, clashing relative paths."""


@dataclass(frozen=True)
class InputFile:
    path: str    # full path or URI
    source: str  # path relative to its input's root: the stable part of every id
    kind: str    # jsonl | parquet | tar


def has_scheme(path: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path) is not None


def absolute_path(pattern: str) -> str:
    if pattern.startswith("file://"):
        pattern = pattern[len("file://"):]
    return pattern if has_scheme(pattern) else os.path.abspath(os.path.expanduser(pattern))


def input_root(pattern: str) -> str:
    """The directory part of a pattern before its first wildcard (with a trailing separator)."""
    m = _WILDCARD.search(pattern)
    head = pattern[: m.start()] if m else pattern
    cut = head.rfind("/")
    return head[: cut + 1] if cut >= 0 else ""


def kind_of(path: str) -> Optional[str]:
    lower = path.lower()
    for ext in sorted(KINDS, key=len, reverse=True):
        if lower.endswith(ext):
            return KINDS[ext]
    return None


_LINE_END = re.compile(rb"[^\n]\n")
COUNT_MAX_BYTES = 4 << 30  # count_pairs reads local JSONL inputs up to this much in all (about 2 s)


def count_pairs(files: Sequence[InputFile]) -> Optional[int]:
    """The run's pairs, for the progress lines, when cheap to know: local JSONL (non-empty lines) and Parquet (row
    counts in the footer) inputs; None when any input is a tar, compressed, remote or the JSONL is too big to scan."""
    total, scanned = 0, 0
    for f in files:
        if has_scheme(f.path) or f.path.endswith(".gz") or f.kind == "tar":
            return None
        try:
            if f.kind == "parquet":
                import pyarrow.parquet as pq

                total += pq.ParquetFile(f.path).metadata.num_rows
                continue
            scanned += os.path.getsize(f.path)
            if scanned > COUNT_MAX_BYTES:
                return None
            with open(f.path, "rb") as fh:
                last = b"\n"
                for block in iter(lambda: fh.read(1 << 22), b""):
                    total += len(_LINE_END.findall(last + block))  # each newline ending a non-empty line
                    last = block[-1:]
                total += last != b"\n"  # a last line without a newline
        except Exception:  # unreadable here: the run says why, row by row; the progress just has no total
            return None
    return total


def resolve_image_ref(manifest_path: str, ref: str) -> str:
    """An image reference relative to its manifest's folder, absolute, a file:// URL or another URI."""
    if ref.startswith("file://"):
        return ref[len("file://"):]
    if has_scheme(ref) or ref.startswith("/"):
        return ref
    if has_scheme(manifest_path):
        return posixpath.join(posixpath.dirname(manifest_path), ref)
    return os.path.join(os.path.dirname(manifest_path), ref)


# ---------------------------------------------------------------------------------------------------------------
# Image files
# ---------------------------------------------------------------------------------------------------------------

ReadFile = Callable[[str, int], bytes]  # (path, limit) -> the file's bytes, at most limit + 1 of them


class NotARegularFile(OSError):
    """An image path that names a folder, FIFO, socket or device: never opened for reading."""


class NeedsFilesystem(OSError):
    """A URI (gs://, s3://) handed to the local reader: the pipeline's reader (tuwen.pipeline.inputs.read_bytes)
    opens those."""


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a file"


def read_local_bytes(path: str, limit: int) -> bytes:
    """Read a whole local file, at most ``limit`` + 1 bytes (so a caller can tell it is too large); anything but a
    regular file is :class:`NotARegularFile`, unopened."""
    if has_scheme(path):
        raise NeedsFilesystem(f"{path.split('://', 1)[0]}:// is read through tuwen.pipeline.inputs.read_bytes")
    kind = os.stat(path).st_mode  # FileNotFoundError for a missing file
    if not stat.S_ISREG(kind):  # a FIFO would block the worker forever; a device never ends
        raise NotARegularFile(f"not a regular file ({_file_kind(kind)})")
    with open(path, "rb") as f:
        # read(n) allocates n bytes up front: ask for the file's size, not the limit
        return f.read(min(os.fstat(f.fileno()).st_size, limit) + 1)


def is_missing_file(error: BaseException) -> bool:
    """Whether a read failed because the file does not exist, judged by the exception's type, never its message:
    FileNotFoundError (local files; Beam's S3 reader raises it for a 404 too), a filesystem client's HTTP 404
    (``code`` 404: GCS's ``google.api_core.exceptions.NotFound``; ``status_code`` 404: Azure's
    ``ResourceNotFoundError``), or Beam's ``BeamIOError`` whose every per-path failure (``exception_details``) is
    one of these."""
    if isinstance(error, FileNotFoundError):
        return True
    if getattr(error, "code", None) == 404 or getattr(error, "status_code", None) == 404:
        return True
    details = getattr(error, "exception_details", None)
    return isinstance(details, dict) and bool(details) and all(is_missing_file(e) for e in details.values())


# ---------------------------------------------------------------------------------------------------------------
# Rows to pairs
# ---------------------------------------------------------------------------------------------------------------

def row_reject(f: InputFile, row: int, reason: str, detail: str, pair_id: Optional[str] = None) -> dict:
    """A row that cannot be a pair, as the reader yields it (the fused stage rejects it with this reason)."""
    return {"id": pair_id or f"{f.source}#{row}", "source": f.source, "row": row, "reason": reason,
            "detail": detail[:DETAIL_CHARS]}


def _extra(record: dict, keep_columns: Sequence[str]) -> dict:
    return {c: record[c] for c in keep_columns if c in record and record[c] is not None}


def pair_from_record(f: InputFile, row: int, record: dict, keep_columns: Sequence[str]) -> dict:
    """One manifest record (a JSONL object, a Parquet row) → a pair, or a reject for a missing text or image."""
    pair_id = record.get("id")
    pair_id = f"{f.source}#{row}" if pair_id is None or pair_id == "" else str(pair_id)
    pair = {"id": pair_id, "source": f.source, "row": row}
    if "text" not in record:
        return {**pair, "reason": "missing_text", "detail": f"fields: {sorted(record)[:20]}"}
    image_bytes = record.get("image_bytes")
    image = record.get("image")
    if isinstance(image, dict):  # Hugging Face style {"bytes": ..., "path": ...}
        image_bytes = image_bytes or image.get("bytes")
        image = image.get("path")
    if not image_bytes and not image:
        return {**pair, "reason": "missing_image", "detail": "no `image` or `image_bytes`"}
    pair["text"] = record["text"]
    pair["gen_text"] = record.get("gen_text")
    pair["extra"] = _extra(record, keep_columns)
    if image_bytes:
        pair["image_bytes"] = bytes(image_bytes)
    else:
        if not isinstance(image, str):
            return {**pair, "reason": "missing_image", "detail": f"`image` is a {type(image).__name__}"}
        pair["image_ref"] = resolve_image_ref(f.path, image)
    return pair


def pair_from_line(f: InputFile, row: int, raw: bytes, keep_columns: Sequence[str] = ()) -> Optional[dict]:
    """One JSONL line → a pair, a reject (not UTF-8, not JSON, not an object), or None for a blank line."""
    if not raw.strip():
        return None
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return row_reject(f, row, "invalid_utf8", str(e))
    try:
        record = json.loads(line)
    except ValueError as e:
        # The error's position only: a reject log never repeats the text (it may hold what masking would remove).
        return row_reject(f, row, "malformed_line", f"{type(e).__name__}: {e}")
    if not isinstance(record, dict):
        return row_reject(f, row, "malformed_line", f"a JSON {type(record).__name__}, not an object")
    return pair_from_record(f, row, record, keep_columns)


TEXT_MEMBER_LIMIT = 1 << 20  # a tar's txt/json member larger than this is never read (text_too_long)
DEFAULT_MAX_IMAGE_BYTES = ImageConfig.max_image_bytes  # --max-image-bytes' default
TEXT_MEMBERS = ("txt", "gen.txt", "json")
# webdataset's own rule: the key is everything before the first dot of the file name.
TAR_KEY = re.compile(r"^((?:.*/|)[^./]+)[.]([^/]*)$")


class Unread(NamedTuple):
    """A tar member skipped unread because of its size."""
    size: int


def pair_from_members(f: InputFile, key: str, parts: dict, row: int, keep_columns: Sequence[str] = (),
                      max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES, texts_only: bool = False) -> dict:
    """The members of one tar sample (extension → bytes, or :class:`Unread`; ``has_image`` when a texts-only pass
    skipped its image) → a pair or a reject. The id is ``source#key``."""
    pair_id = f"{f.source}#{key}"
    meta = {}
    if "json" in parts and not isinstance(parts["json"], Unread):
        try:
            meta = json.loads(parts["json"].decode("utf-8"))
            meta = meta if isinstance(meta, dict) else {}
        except (UnicodeDecodeError, ValueError):
            meta = {}
    record = {k: v for k, v in meta.items() if k in keep_columns}
    record["id"] = pair_id
    if isinstance(parts.get("txt"), Unread):
        return row_reject(f, row, "text_too_long", f"text member of {parts['txt'].size} bytes > "
                          f"{TEXT_MEMBER_LIMIT} (not read)", pair_id=pair_id)
    for name in ("txt", "gen.txt"):
        if name in parts and not isinstance(parts[name], Unread):
            try:
                record["text" if name == "txt" else "gen_text"] = parts[name].decode("utf-8")
            except UnicodeDecodeError as e:
                if name == "txt":
                    return row_reject(f, row, "invalid_utf8", str(e), pair_id=pair_id)
    image = next((parts[e] for e in IMAGE_EXTS if e in parts), None)
    if isinstance(image, Unread):
        if "text" not in record:
            return row_reject(f, row, "missing_text", "no txt member", pair_id=pair_id)
        return row_reject(f, row, "image_file_too_large", f"image member of {image.size} bytes > "
                          f"--max-image-bytes {max_image_bytes} (not read)", pair_id=pair_id)
    if image is not None:
        record["image_bytes"] = image
    elif texts_only and parts.get("has_image"):
        record["image_bytes"] = b"(not read)"
    pair = pair_from_record(f, row, record, keep_columns)
    pair["id"] = pair_id
    return pair
