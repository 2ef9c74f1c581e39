"""Inputs: which files a run reads, the id of every pair, and the readers for JSONL, Parquet and tar manifests.

Readers yield one dict per pair, in file order, with the pair's identity (``id``, ``source``, ``row``), its text
fields and either an image reference (``image_ref``, resolved against the manifest's folder) or inline bytes
(``image_bytes``). A row that cannot be a pair still yields a dict, with ``reason`` set: nothing is dropped silently.
All file access goes through Beam's ``FileSystems`` so ``gs://`` and ``s3://`` work on a cluster.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import stat
import tarfile
import zlib
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Optional, Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tuwen.transforms.image import ImageConfig

KINDS = {".jsonl": "jsonl", ".json": "jsonl", ".jsonl.gz": "jsonl", ".parquet": "parquet", ".tar": "tar"}
IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff")
_WILDCARD = re.compile(r"[*?\[{]")
# webdataset's own rule: the key is everything before the first dot of the file name.
_TAR_KEY = re.compile(r"^((?:.*/|)[^./]+)[.]([^/]*)$")


class InputError(ValueError):
    """A start-up problem with --input: no match, unknown kind, clashing relative paths."""


@dataclass(frozen=True)
class InputFile:
    path: str    # full path or URI
    source: str  # path relative to its input's root: the stable part of every id
    kind: str    # jsonl | parquet | tar


def _has_scheme(path: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path) is not None


# A scheme whose Beam filesystem needs a client library that plain apache-beam lacks: (tuwen's extra, the library)
SCHEME_EXTRAS = {"gs": ("gcp", "google.cloud.storage", "GCS"), "s3": ("aws", "boto3", "S3")}


def check_filesystem(path: str) -> None:
    """InputError naming the extra to install when ``path``'s scheme (gs://, s3://) needs a client library that is
    not installed; Beam's own message comes later and less clearly (a failed exists(), after retries)."""
    import importlib.util

    scheme = path.split("://", 1)[0].lower() if _has_scheme(path) else ""
    if scheme in SCHEME_EXTRAS:
        extra, module, name = SCHEME_EXTRAS[scheme]
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise InputError(f"{path}: {scheme}:// needs Beam's {name} filesystem, which is not installed: "
                             f"pip install 'tuwen[{extra}]' (or apache-beam[{extra}])")


def _absolute(pattern: str) -> str:
    if pattern.startswith("file://"):
        pattern = pattern[len("file://"):]
    return pattern if _has_scheme(pattern) else os.path.abspath(os.path.expanduser(pattern))


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


def expand_inputs(patterns: Sequence[str]) -> list[InputFile]:
    """Resolve every --input glob; fail with one clear line on anything that would make ids ambiguous."""
    files: list[InputFile] = []
    seen_source: dict[str, str] = {}
    seen_path: dict[str, str] = {}
    for pattern in patterns:
        absolute = _absolute(pattern)
        root = input_root(absolute)
        try:
            matches = FileSystems.match([absolute])[0].metadata_list
        except Exception as e:  # BeamIOError for a missing bucket or folder
            raise InputError(f"no input matched {pattern!r} ({e})") from None
        paths = sorted(m.path for m in matches if not m.path.endswith("/"))
        if not paths:
            raise InputError(f"no input matched {pattern!r}")
        for path in paths:
            kind = kind_of(path)
            if kind is None:
                raise InputError(f"{path}: unknown input kind (expected {', '.join(sorted(KINDS))})")
            source = path[len(root):] if path.startswith(root) else posixpath.basename(path)
            if path in seen_path:
                raise InputError(f"{path} is matched by both {seen_path[path]!r} and {pattern!r}")
            if source in seen_source:
                raise InputError(f"two inputs hold the same relative path {source!r}: {seen_source[source]} and "
                                 f"{path}; ids would clash (give each crawl its own folder name)")
            seen_path[path] = pattern
            seen_source[source] = path
            files.append(InputFile(path=path, source=source, kind=kind))
    return files


_LINE_END = re.compile(rb"[^\n]\n")
COUNT_MAX_BYTES = 4 << 30  # count_pairs reads local JSONL inputs up to this much in all (about 2 s)


def count_pairs(files: Sequence[InputFile]) -> Optional[int]:
    """The run's pairs, for the progress lines, when cheap to know: local JSONL (non-empty lines) and Parquet (row
    counts in the footer) inputs; None when any input is a tar, compressed, remote or the JSONL is too big to scan."""
    total, scanned = 0, 0
    for f in files:
        if _has_scheme(f.path) or f.path.endswith(".gz") or f.kind == "tar":
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
    if _has_scheme(ref) or ref.startswith("/"):
        return ref
    if _has_scheme(manifest_path):
        return posixpath.join(posixpath.dirname(manifest_path), ref)
    return os.path.join(os.path.dirname(manifest_path), ref)


class NotARegularFile(OSError):
    """An image path that names a folder, FIFO, socket or device: never opened for reading."""


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a file"


def read_bytes(path: str, limit: int) -> bytes:
    """Read a whole file, at most ``limit`` + 1 bytes (so a caller can tell it is too large)."""
    if not _has_scheme(path):  # the common local case, without FileSystems' wrapper
        kind = os.stat(path).st_mode  # FileNotFoundError for a missing file
        if not stat.S_ISREG(kind):  # a FIFO would block the worker forever; a device never ends
            raise NotARegularFile(f"not a regular file ({_file_kind(kind)})")
        with open(path, "rb") as f:
            # read(n) allocates n bytes up front: ask for the file's size, not the limit
            return f.read(min(os.fstat(f.fileno()).st_size, limit) + 1)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read(limit + 1)


# ---------------------------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------------------------

def _reject(f: InputFile, row: int, reason: str, detail: str, pair_id: Optional[str] = None) -> dict:
    return {"id": pair_id or f"{f.source}#{row}", "source": f.source, "row": row, "reason": reason,
            "detail": detail[:500]}


def _extra(record: dict, keep_columns: Sequence[str]) -> dict:
    return {c: record[c] for c in keep_columns if c in record and record[c] is not None}


def _pair_from_record(f: InputFile, row: int, record: dict, keep_columns: Sequence[str]) -> dict:
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


def read_jsonl(f: InputFile, keep_columns: Sequence[str] = ()) -> Iterator[dict]:
    """One pair per non-blank line; ``row`` is the 0-based line number. Blank lines are not pairs."""
    row = 0
    try:
        with FileSystems.open(f.path) as fh:
            for row, raw in enumerate(fh):
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield _reject(f, row, "invalid_utf8", str(e))
                    continue
                try:
                    record = json.loads(line)
                except ValueError as e:
                    # The error's position only: a reject log never repeats the text (it may hold what
                    # masking would remove).
                    yield _reject(f, row, "malformed_line", f"{type(e).__name__}: {e}")
                    continue
                if not isinstance(record, dict):
                    yield _reject(f, row, "malformed_line", f"a JSON {type(record).__name__}, not an object")
                    continue
                yield _pair_from_record(f, row, record, keep_columns)
    except (OSError, EOFError, zlib.error) as e:  # a gzip that ends early, a file gone since start-up
        yield _reject(f, row, "unreadable_input", f"{type(e).__name__}: {e}", pair_id=f"{f.source}#unreadable@{row}")


def read_parquet(f: InputFile, keep_columns: Sequence[str] = (), batch_size: int = 64) -> Iterator[dict]:
    """One pair per row, read in small batches so inline image bytes never pile up; ``row`` is 0-based."""
    import pyarrow.parquet as pq

    row = 0
    try:
        with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            pf = pq.ParquetFile(fh)
            for batch in pf.iter_batches(batch_size=batch_size):
                for record in batch.to_pylist():
                    yield _pair_from_record(f, row, record, keep_columns)
                    row += 1
    except Exception as e:  # a corrupt file: say where it stopped, never crash the run
        yield _reject(f, row, "unreadable_input", f"{type(e).__name__}: {e}", pair_id=f"{f.source}#unreadable@{row}")


TEXT_MEMBER_LIMIT = 1 << 20  # a tar's txt/json member larger than this is never read (text_too_long)
DEFAULT_MAX_IMAGE_BYTES = ImageConfig.max_image_bytes  # --max-image-bytes' default
_TEXT_MEMBERS = ("txt", "gen.txt", "json")


class _Unread(NamedTuple):
    """A tar member skipped unread because of its size."""
    size: int


def read_tar(f: InputFile, keep_columns: Sequence[str] = (), max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
             texts_only: bool = False) -> Iterator[dict]:
    """img2dataset-style WebDataset shards: consecutive members sharing a key form one pair (``KEY.jpg``,
    ``KEY.txt``, ``KEY.json``, optional ``KEY.gen.txt``). ``row`` is the sample's 0-based position.

    Memory stays bounded whatever the tar holds: members of other kinds are never read, an image member over
    ``max_image_bytes`` is skipped unread (``image_file_too_large``), a text member over 1 MiB too (``text_too_long``;
    an oversized json or gen.txt is just ignored). ``texts_only`` reads no image member at all (corpus-wide text
    passes)."""
    row = 0
    current_key, members = None, {}

    def emit(key: str, parts: dict, row: int) -> dict:
        pair_id = f"{f.source}#{key}"
        meta = {}
        if "json" in parts and not isinstance(parts["json"], _Unread):
            try:
                meta = json.loads(parts["json"].decode("utf-8"))
                meta = meta if isinstance(meta, dict) else {}
            except (UnicodeDecodeError, ValueError):
                meta = {}
        record = {k: v for k, v in meta.items() if k in keep_columns}
        record["id"] = pair_id
        if isinstance(parts.get("txt"), _Unread):
            return _reject(f, row, "text_too_long", f"text member of {parts['txt'].size} bytes > "
                           f"{TEXT_MEMBER_LIMIT} (not read)", pair_id=pair_id)
        for name in ("txt", "gen.txt"):
            if name in parts and not isinstance(parts[name], _Unread):
                try:
                    record["text" if name == "txt" else "gen_text"] = parts[name].decode("utf-8")
                except UnicodeDecodeError as e:
                    if name == "txt":
                        return _reject(f, row, "invalid_utf8", str(e), pair_id=pair_id)
        image = next((parts[e] for e in IMAGE_EXTS if e in parts), None)
        if isinstance(image, _Unread):
            if "text" not in record:
                return _reject(f, row, "missing_text", "no txt member", pair_id=pair_id)
            return _reject(f, row, "image_file_too_large", f"image member of {image.size} bytes > "
                           f"--max-image-bytes {max_image_bytes} (not read)", pair_id=pair_id)
        if image is not None:
            record["image_bytes"] = image
        elif texts_only and parts.get("has_image"):
            record["image_bytes"] = b"(not read)"
        pair = _pair_from_record(f, row, record, keep_columns)
        pair["id"] = pair_id
        return pair

    try:
        with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            with tarfile.open(fileobj=fh, mode="r|") as tar:
                for info in tar:
                    if not info.isfile():
                        continue
                    m = _TAR_KEY.match(info.name)
                    if not m:
                        continue  # not a sample member (no extension)
                    key, ext = m.group(1), m.group(2).lower()
                    if key != current_key:
                        if current_key is not None:
                            yield emit(current_key, members, row)
                            row += 1
                        current_key, members = key, {}
                    if ext in IMAGE_EXTS:
                        if texts_only:
                            members["has_image"] = True
                            continue
                        limit = max_image_bytes
                    elif ext in _TEXT_MEMBERS:
                        limit = TEXT_MEMBER_LIMIT
                    else:
                        continue  # a member no pair uses is never read (the stream skips over it)
                    if info.size > limit:
                        members[ext] = _Unread(info.size)
                        continue
                    data = tar.extractfile(info)
                    members[ext] = data.read() if data is not None else b""
                end = tar.offset
        # tarfile takes a header cut short for the end of the archive; a whole archive has two zero blocks after
        # its last member.
        size = FileSystems.match([f.path])[0].metadata_list[0].size_in_bytes
        if size < end + 2 * tarfile.BLOCKSIZE:
            raise tarfile.ReadError(f"the archive ends early at byte {size} (no end-of-archive marker)")
        if current_key is not None:
            yield emit(current_key, members, row)
    except (tarfile.TarError, OSError, EOFError) as e:
        pair_id = f"{f.source}#{current_key}" if current_key is not None else f"{f.source}#unreadable@{row}"
        yield _reject(f, row, "unreadable_input", f"{type(e).__name__}: {e}", pair_id=pair_id)


READERS = {"jsonl": read_jsonl, "parquet": read_parquet, "tar": read_tar}


def read_texts(f: InputFile) -> Iterator[str]:
    """Only the ``text`` of each readable pair (for corpus-wide passes such as boilerplate mining). Parquet reads
    the text column alone; rows that cannot be pairs are skipped here (the main pass reports them)."""
    if f.kind == "parquet":
        import pyarrow.parquet as pq

        try:
            with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                pf = pq.ParquetFile(fh)
                if "text" not in pf.schema_arrow.names:
                    return
                for batch in pf.iter_batches(batch_size=1024, columns=["text"]):
                    for t in batch.column(0).to_pylist():
                        if isinstance(t, str):
                            yield t
        except Exception:
            return
        return
    pairs = read_tar(f, texts_only=True) if f.kind == "tar" else read_pairs(f)
    for pair in pairs:
        if "reason" not in pair and isinstance(pair.get("text"), str):
            yield pair["text"]


def read_pairs(f: InputFile, keep_columns: Sequence[str] = (),
               max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> Iterator[dict]:
    if f.kind == "tar":
        return read_tar(f, keep_columns, max_image_bytes)
    return READERS[f.kind](f, keep_columns)
