"""The output format: sample keys, shard names, deterministic tar members, ``sizes.json`` and the per-shard index.

Everything that decides a byte of a shard lives here, so a rerun over the same input writes the same bytes: keys
are sha256 prefixes of ids (hashlib, never Python's ``hash()``), samples sit in key order, and every tar header
field that could carry the time or the machine (mtime, uid, gid, uname, gname, mode) is fixed. It is the one
writer of the format: the pipeline's shard stage writes through it, and so does the trainer's test-shard writer
(:func:`write_shard_folder`, on a local disk), so the trainer is tested on the shards the pipeline writes.
Beam-free (the trainer imports it).
"""
from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
from pathlib import Path
from typing import BinaryIO, Iterable, Optional, Sequence

SHARD_NAME = "{:06d}.tar"
INDEX_NAME = "{:06d}.parquet"
SIZES_NAME = "sizes.json"  # next to the shards: shard file name -> sample count (open_clip reads it)
# A sample's members, KEY.<ext>: the image, the cleaned text, the metadata and, when there is one, the generated text.
IMAGE_EXT, TEXT_EXT, META_EXT, GEN_TEXT_EXT = "jpg", "txt", "json", "gen.txt"
MEMBER_MODE = 0o644  # every member's tar mode (the other header fields that could vary are zero or empty)
DEFAULT_SHARD_SIZE = 1000  # samples per shard (tuwen run --shard-size)
BUCKET_CHARS = 2  # rank assignment groups keys by their first 2 hex characters: 256 buckets

INDEX_COLUMNS = ("id", "key", "shard", "source", "text", "width", "height", "orig_width", "orig_height", "sha256")


def sample_key(pair_id: str) -> str:
    """First 16 hex characters of sha256 of the id's UTF-8 bytes (no dots: webdataset splits keys on dots)."""
    return hashlib.sha256(pair_id.encode("utf-8")).hexdigest()[:16]


def shard_name(n: int) -> str:
    return SHARD_NAME.format(n)


def sample_record(pair_id: str, source: str, text: str, jpeg: bytes, width: int, height: int,
                  orig_width: Optional[int] = None, orig_height: Optional[int] = None,
                  gen_text: Optional[str] = None, extra: Optional[dict] = None) -> dict:
    """A kept sample as :func:`sample_members` and :func:`index_row` read it (the shape the shard stage builds):
    its key, identity, text, sizes (the original ones default to the image's), the JPEG's sha256, extra columns."""
    return {"id": pair_id, "key": sample_key(pair_id), "source": source, "text": text, "gen_text": gen_text,
            "width": width, "height": height,
            "orig_width": width if orig_width is None else orig_width,
            "orig_height": height if orig_height is None else orig_height,
            "sha256": hashlib.sha256(jpeg).hexdigest(), "extra": dict(extra or {})}


def sample_json(sample: dict) -> dict:
    """KEY.json: identity, sizes, checksum, then the kept extra columns and what later stages add."""
    meta = {
        "id": sample["id"],
        "source": sample["source"],
        "width": sample["width"],
        "height": sample["height"],
        "orig_width": sample["orig_width"],
        "orig_height": sample["orig_height"],
        "sha256": sample["sha256"],
    }
    for k, v in (sample.get("extra") or {}).items():
        meta.setdefault(k, v)
    for k, v in (sample.get("fields") or {}).items():  # e.g. score, from the relevance stage
        meta[k] = v
    return meta


def sample_members(sample: dict, jpeg: bytes) -> list[tuple[str, bytes]]:
    """The tar members of one sample, in order: (name, bytes)."""
    key = sample["key"]
    members = [
        (f"{key}.{IMAGE_EXT}", jpeg),
        (f"{key}.{TEXT_EXT}", sample["text"].encode("utf-8")),
        (f"{key}.{META_EXT}", json.dumps(sample_json(sample), ensure_ascii=False, sort_keys=True).encode("utf-8")),
    ]
    if sample.get("gen_text"):
        members.append((f"{key}.{GEN_TEXT_EXT}", sample["gen_text"].encode("utf-8")))
    return members


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = MEMBER_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def write_tar(fileobj: BinaryIO, members: Iterable[tuple[str, bytes]]) -> int:
    """Stream members into an uncompressed ustar archive; returns the number of members written."""
    n = 0
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
            n += 1
    return n


def sizes_json(sizes: dict[str, int]) -> bytes:
    """The bytes of ``sizes.json``: shard file name -> sample count, in name order."""
    return json.dumps(sizes, indent=1, sort_keys=True).encode()


def write_shard_folder(samples: Sequence[tuple[dict, bytes]], out_dir: "str | Path", shard_size: int) -> list[Path]:
    """(sample, JPEG) pairs written to a local folder as the pipeline writes its ``shards/``: in key order,
    ``shard_size`` samples a shard, numbered from 0, each tar renamed into place once complete, then ``sizes.json``.
    Returns the shard paths. (The pipeline's own stage ranks and writes shards in parallel, on any file system.)"""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(samples, key=lambda pair: pair[0]["key"])
    paths, sizes = [], {}
    for n, start in enumerate(range(0, len(rows), shard_size)):
        chunk = rows[start:start + shard_size]
        name = shard_name(n)
        tmp = out / (name + ".tmp")
        with open(tmp, "wb") as fh:
            write_tar(fh, (m for sample, jpeg in chunk for m in sample_members(sample, jpeg)))
        tmp.replace(out / name)
        paths.append(out / name)
        sizes[name] = len(chunk)
    (out / SIZES_NAME).write_bytes(sizes_json(sizes))
    return paths


def index_row(sample: dict, shard: str, keep_columns: Iterable[str] = ()) -> dict:
    row = {c: sample.get(c) for c in INDEX_COLUMNS if c != "shard"}
    row["shard"] = shard
    row["gen_text"] = sample.get("gen_text")
    extra = sample.get("extra") or {}
    for c in keep_columns:
        v = extra.get(c)
        row[c] = v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
    for k, v in (sample.get("fields") or {}).items():
        row[k] = v
    for k, v in (sample.get("index_fields") or {}).items():  # float16 vectors, staged as hex
        import numpy as np

        row[k] = np.frombuffer(bytes.fromhex(v), dtype="<f2")
    return row


def index_table(rows: list[dict], keep_columns: Iterable[str] = ()):
    """A Parquet table with a fixed schema (so every index file of a run has the same one)."""
    import pyarrow as pa

    fields = [("id", pa.string()), ("key", pa.string()), ("shard", pa.string()), ("source", pa.string()),
              ("text", pa.string()), ("gen_text", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
              ("orig_width", pa.int32()), ("orig_height", pa.int32()), ("sha256", pa.string())]
    fields += [(c, pa.string()) for c in keep_columns]
    names = {n for n, _ in fields}
    for k in sorted({k for r in rows for k in r} - names):  # later stages' fields (score: float)
        sample_value = next((r[k] for r in rows if r.get(k) is not None), None)
        if isinstance(sample_value, float):
            kind = pa.float64()
        elif hasattr(sample_value, "dtype"):  # an embedding
            kind = pa.list_(pa.float16())
        else:
            kind = pa.string()
        fields.append((k, kind))
    schema = pa.schema(fields)
    return pa.Table.from_pylist([{n: r.get(n) for n, _ in fields} for r in rows], schema=schema)


def reject_table(rows: list[dict]):
    import pyarrow as pa

    schema = pa.schema([("id", pa.string()), ("source", pa.string()), ("row", pa.int64()), ("stage", pa.string()),
                        ("reason", pa.string()), ("detail", pa.string()),
                        ("orig_width", pa.int32()), ("orig_height", pa.int32())])
    return pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)


def parquet_bytes(table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def rank_buckets(counts: dict[str, int]) -> dict[str, int]:
    """Prefix sums over sorted bucket names: the rank of each bucket's first key."""
    start, out = 0, {}
    for bucket in sorted(counts):
        out[bucket] = start
        start += counts[bucket]
    return out


def bucket_of(key: str) -> str:
    return key[:BUCKET_CHARS]


def pack_staged(meta: dict, jpeg: bytes) -> bytes:
    """One staged sample: 4-byte length, the metadata as JSON, then the JPEG."""
    head = json.dumps(meta, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return struct.pack(">I", len(head)) + head + jpeg


def unpack_staged(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack(">I", data[:4])
    return json.loads(data[4:4 + n].decode("utf-8")), data[4 + n:]


def read_staged(handles: dict, location: tuple[str, int, int], opener) -> bytes:
    """Read one staged image; ``handles`` caches open files across the samples of one shard."""
    file, offset, length = location
    fh: Optional[BinaryIO] = handles.get(file)
    if fh is None:
        fh = handles[file] = opener(file)
    fh.seek(offset)
    data = fh.read(length)
    if len(data) != length:
        raise IOError(f"staging file {file} is short: wanted {length} bytes at {offset}, got {len(data)}")
    return data
