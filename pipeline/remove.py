"""``tuwen remove``: take pairs out of a published corpus on request.

    tuwen remove --output-root DIR --ids FILE

FILE holds ids, or image URLs/paths as the manifests gave them, one a line. Under the nightly lock, the request is
first added to ``OUTPUT_ROOT/removed.txt`` (the removal list every later ``tuwen nightly`` passes as
``--removed-list``, so the pairs are rejected as ``removed_on_request`` if they are crawled again); then, in every
published run, each shard holding a listed pair (by id, or by a kept ``url`` column) is rewritten without it, with
its index file, one shard at a time (each written to a temporary name and renamed over the old one), and the run's
``sizes.json``, ``rejects/part-removed.parquet`` (a ``removed_on_request`` row for each: the counts still add up)
and ``stats.json`` follow. Shards keep their names (one may end up empty), so ``manifest.txt`` and ``latest`` stay
valid. A removal killed half way is finished by running it again; running it twice changes nothing more.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
from typing import Optional, Sequence

from tuwen.pipeline.nightly import EXIT_LOCKED, REMOVED_NAME, Lock, Locked, Root, _say, _write_atomically, recover
from tuwen.pipeline.run import CommandParser, UsageError, command_main, read_list

REMOVED_PART = "part-removed.parquet"
REASON = "removed_on_request"
MATCH_COLUMNS = ("id", "url")  # index columns a request line is matched against


def read_request(path: str) -> list[str]:
    if not os.path.isfile(path):
        raise UsageError(f"--ids {path}: no such file")
    return read_list(path)


def _read_table(path: str):
    import pyarrow.parquet as pq

    with open(path, "rb") as fh:
        return pq.read_table(io.BytesIO(fh.read()))


def _without(tar_path: str, keys: set) -> bytes:
    """The shard's bytes without the members of ``keys`` (same member order and headers as the writer's)."""
    from tuwen.transforms import shards as fmt

    def members():
        with open(tar_path, "rb") as fh, tarfile.open(fileobj=fh, mode="r|") as tar:
            for m in tar:
                if m.name.split(".", 1)[0] not in keys:
                    yield m.name, tar.extractfile(m).read()

    buf = io.BytesIO()
    fmt.write_tar(buf, members())
    return buf.getvalue()


def remove_from_run(run_dir: str, wanted: set) -> list[dict]:
    """Rewrites the run's shards and index files without the pairs matching ``wanted``; returns their index rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from tuwen.transforms import shards as fmt

    removed = []
    index_dir, shard_dir = os.path.join(run_dir, "index"), os.path.join(run_dir, "shards")
    for name in sorted(os.listdir(index_dir)) if os.path.isdir(index_dir) else []:
        if not name.endswith(".parquet"):
            continue
        table = _read_table(os.path.join(index_dir, name))
        hit = None
        for column in MATCH_COLUMNS:
            if column in table.column_names:
                found = pc.is_in(table.column(column).cast(pa.string()), value_set=pa.array(sorted(wanted)))
                hit = found if hit is None else pc.or_(hit, found)
        hit = pc.fill_null(hit, False)
        if not pc.any(hit).as_py():
            continue
        gone = table.filter(hit)
        keys = set(gone.column("key").to_pylist())
        shard = os.path.join(shard_dir, gone.column("shard")[0].as_py())
        _write_atomically(shard, _without(shard, keys))  # the shard first: the index never names a missing sample
        _write_atomically(os.path.join(index_dir, name), fmt.parquet_bytes(table.filter(pc.invert(hit))))
        removed += gone.select([c for c in ("id", "key", "shard", "source", "url") if c in gone.column_names]).to_pylist()
    return removed


def _update_counts(run_dir: str, removed: list[dict]) -> None:
    """sizes.json, the removed_on_request reject part and stats.json, after the shards of ``removed`` changed."""
    from collections import Counter

    from tuwen.transforms import shards as fmt

    sizes_path = os.path.join(run_dir, "shards", fmt.SIZES_NAME)
    with open(sizes_path) as fh:
        sizes = json.load(fh)
    for shard, n in Counter(r["shard"] for r in removed).items():
        sizes[shard] -= n
    _write_atomically(sizes_path, fmt.sizes_json(sizes))
    part = os.path.join(run_dir, "rejects", REMOVED_PART)
    rows = _read_table(part).to_pylist() if os.path.exists(part) else []
    rows += [{"id": r["id"], "source": r["source"], "row": None, "stage": "read", "reason": REASON,
              "detail": f"removed on request from shard {r['shard']}"} for r in removed]
    rows.sort(key=lambda r: (r["source"], r["id"]))
    os.makedirs(os.path.dirname(part), exist_ok=True)
    _write_atomically(part, fmt.parquet_bytes(fmt.reject_table(rows)))
    stats_path = os.path.join(run_dir, "stats.json")
    with open(stats_path) as fh:
        stats = json.load(fh)
    n = len(removed)
    stats["kept"] -= n
    stats["rejected"] += n
    for key, name in (("rejected_by_reason", REASON), ("rejected_by_stage", "read")):
        counts = stats[key]
        counts[name] = counts.get(name, 0) + n
        stats[key] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    stats["removed_on_request"] = stats.get("removed_on_request", 0) + n
    _write_atomically(stats_path, (json.dumps(stats, indent=2, ensure_ascii=False) + "\n").encode())


def parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="tuwen remove",
        description="Take pairs out of a published corpus (a tuwen nightly output root) on request: every "
                    "published shard and index file holding one is rewritten without it, the counts follow, and "
                    "the request joins OUTPUT_ROOT/removed.txt, which later nightly runs reject as "
                    "removed_on_request. Exit 0, 2 for a usage problem, 3 while a refresh holds the lock.")
    p.add_argument("--output-root", required=True, metavar="DIR", help="the tuwen nightly output root")
    p.add_argument("--ids", required=True, metavar="FILE",
                   help="ids, or image URLs/paths as the manifests gave them (matched against published pairs by "
                        "id, or by a url column kept with --keep-columns url), one a line")
    return p


def remove(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    request = read_request(args.ids)
    if not request:
        raise UsageError(f"--ids {args.ids}: no id in it")
    root = Root(args.output_root)
    if not os.path.isdir(root.runs):
        raise UsageError(f"--output-root {args.output_root}: not a tuwen nightly output root (no runs/)")
    lock = Lock(root.lock)
    lock.acquire()
    try:
        ledger = recover(root)
        listed_path = os.path.join(root.root, REMOVED_NAME)
        listed = set(read_request(listed_path)) if os.path.exists(listed_path) else set()
        _write_atomically(listed_path, "".join(f"{x}\n" for x in sorted(listed | set(request))).encode("utf-8"))
        wanted, found = set(request), set()
        total = 0
        for run in ledger.runs:
            removed = remove_from_run(root.run_dir(run), wanted)
            if removed:
                _update_counts(root.run_dir(run), removed)
                total += len(removed)
                found |= {r[c] for r in removed for c in MATCH_COLUMNS if r.get(c)}
                _say(f"run {run}: removed {len(removed)} pairs from {len({r['shard'] for r in removed})} shards")
        missing = len(wanted - found)
        _say(f"removed {total} pairs; {len(listed | set(request))} entries on {listed_path}"
             + (f"; {missing} of the {len(wanted)} requested not found in a published run (by id or url; they are "
                "rejected if they come)" if missing else ""))
        return 0
    finally:
        lock.release()


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command_main("tuwen remove", parser, remove, argv, exits=((Locked, EXIT_LOCKED),))


if __name__ == "__main__":
    sys.exit(main())
