"""The run's inputs through Beam's ``FileSystems`` (local, ``gs://``, ``s3://``): which files a run reads, the readers
for JSONL, Parquet and tar manifests, and image references read wherever they are.

Readers yield one dict per pair, in file order; how a row becomes a pair (or the reason it cannot be one) is
Beam-free, in ``tuwen.transforms.sources``. A file that fails part-way yields an ``unreadable_input`` reject saying
where it stopped: a corrupt input never crashes the run.
"""
from __future__ import annotations

import posixpath
import tarfile
import zlib
from typing import Iterator, Optional, Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tuwen.transforms.sources import (DEFAULT_MAX_IMAGE_BYTES, IMAGE_EXTS, KINDS, TAR_KEY, TEXT_MEMBER_LIMIT,
                                      TEXT_MEMBERS, InputError, InputFile, Unread, absolute_path, has_scheme, input_root,
                                      kind_of, pair_from_line, pair_from_members, pair_from_record, read_local_bytes,
                                      row_reject)

# A scheme whose Beam filesystem needs a client library that plain apache-beam lacks: (tuwen's extra, the library)
SCHEME_EXTRAS = {"gs": ("gcp", "google.cloud.storage", "GCS"), "s3": ("aws", "boto3", "S3")}


def check_filesystem(path: str) -> None:
    """InputError naming the extra to install when ``path``'s scheme (gs://, s3://) needs a client library that is
    not installed; Beam's own message comes later and less clearly (a failed exists(), after retries)."""
    import importlib.util

    scheme = path.split("://", 1)[0].lower() if has_scheme(path) else ""
    if scheme in SCHEME_EXTRAS:
        extra, module, name = SCHEME_EXTRAS[scheme]
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise InputError(f"{path}: {scheme}:// needs Beam's {name} filesystem, which is not installed: "
                             f"pip install 'tuwen[{extra}]' (or apache-beam[{extra}])")


def expand_inputs(patterns: Sequence[str]) -> list[InputFile]:
    """Resolve every --input glob; fail with one clear line on anything that would make ids ambiguous."""
    files: list[InputFile] = []
    seen_source: dict[str, str] = {}
    seen_path: dict[str, str] = {}
    for pattern in patterns:
        absolute = absolute_path(pattern)
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


def read_bytes(path: str, limit: int) -> bytes:
    """Read a whole file, local or remote, at most ``limit`` + 1 bytes (so a caller can tell it is too large): the
    reader the per-pair checks are handed (``transforms.pairs.check_pair(read_file=...)``)."""
    if not has_scheme(path):  # the common local case, without FileSystems' wrapper
        return read_local_bytes(path, limit)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read(limit + 1)


def _unreadable(f: InputFile, row: int, e: BaseException, pair_id: Optional[str] = None) -> dict:
    return row_reject(f, row, "unreadable_input", f"{type(e).__name__}: {e}",
                      pair_id=pair_id or f"{f.source}#unreadable@{row}")


def read_jsonl(f: InputFile, keep_columns: Sequence[str] = ()) -> Iterator[dict]:
    """One pair per non-blank line; ``row`` is the 0-based line number. Blank lines are not pairs."""
    row = 0
    try:
        with FileSystems.open(f.path) as fh:  # .jsonl.gz decompresses (Beam guesses the compression by the name)
            for row, raw in enumerate(fh):
                pair = pair_from_line(f, row, raw, keep_columns)
                if pair is not None:
                    yield pair
    except (OSError, EOFError, zlib.error) as e:  # a gzip that ends early, a file gone since start-up
        yield _unreadable(f, row, e)


def read_parquet(f: InputFile, keep_columns: Sequence[str] = (), batch_size: int = 64) -> Iterator[dict]:
    """One pair per row, read in small batches so inline image bytes never pile up; ``row`` is 0-based."""
    import pyarrow.parquet as pq

    row = 0
    try:
        with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            pf = pq.ParquetFile(fh)
            for batch in pf.iter_batches(batch_size=batch_size):
                for record in batch.to_pylist():
                    yield pair_from_record(f, row, record, keep_columns)
                    row += 1
    except Exception as e:  # a corrupt file: say where it stopped, never crash the run
        yield _unreadable(f, row, e)


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
        return pair_from_members(f, key, parts, row, keep_columns, max_image_bytes, texts_only)

    try:
        with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            with tarfile.open(fileobj=fh, mode="r|") as tar:
                for info in tar:
                    if not info.isfile():
                        continue
                    m = TAR_KEY.match(info.name)
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
                    elif ext in TEXT_MEMBERS:
                        limit = TEXT_MEMBER_LIMIT
                    else:
                        continue  # a member no pair uses is never read (the stream skips over it)
                    if info.size > limit:
                        members[ext] = Unread(info.size)
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
        yield _unreadable(f, row, e, pair_id=f"{f.source}#{current_key}" if current_key is not None else None)


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
    """The pairs of one input file, whatever its kind."""
    if f.kind == "tar":
        return read_tar(f, keep_columns, max_image_bytes)
    return READERS[f.kind](f, keep_columns)
