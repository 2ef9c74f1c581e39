"""``tuwen nightly``: the scheduled refresh. Each night cleans the input files of the crawl root that no earlier night
processed into a new run folder, and publishes it.

The output root::

    OUTPUT_ROOT/
      runs/20261202T030000Z/   one folder a night, the layout `tuwen run` writes (_SUCCESS last)
      dedup-index/             the cross-run --dedup-index: a pair kept on an earlier night is never added again
      ledger.json              the processed inputs (path, size, mtime, sha256) and the published runs
      latest                   a text file naming the newest published run folder
      manifest.txt             every published shard, one path a line (tuwen train/eval --data accept it)
      nightly.lock             held while a refresh runs (pid, host, start)
      removed.txt              what tuwen remove took out on request: every later run rejects it

Publishing, in this order: the run folder with its ``_SUCCESS`` (the run writes its dedup-index part just before it)
→ the new ledger renamed over the old one (**the commit point**) → ``latest`` → ``manifest.txt``. The new ledger is
written before the run starts, as ``ledger.json.pending-RUN``. On start, a run folder with ``_SUCCESS`` and a pending
ledger is committed; a run folder without ``_SUCCESS`` is deleted with its dedup-index part and pending ledger; a
``latest`` or ``manifest.txt`` behind the ledger is rewritten. So a refresh killed at any moment leaves the next one
(or a rerun of the same command) to pick its files up again, nothing lost and nothing added twice.

The output root must be a local (or mounted) folder: the lock and the commit need an atomic rename and a pid to
look at. The crawl root may be local or a Beam filesystem (``gs://``, ``s3://``).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import sys
import time
from typing import Optional, Sequence

from tuwen.pipeline.run import CommandParser, UsageError, command_main
from tuwen.pipeline.files import kill_point

log = logging.getLogger("tuwen")

RUNS_DIR = "runs"
INDEX_DIR = "dedup-index"
LEDGER_NAME = "ledger.json"
PENDING_SUFFIX = ".pending-"  # ledger.json.pending-RUN: the ledger as it will be once RUN is published
LATEST_NAME = "latest"
MANIFEST_NAME = "manifest.txt"
LOCK_NAME = "nightly.lock"
REMOVED_NAME = "removed.txt"  # tuwen remove's removal list, passed to every run as --removed-list
LEDGER_FORMAT = "tuwen-ledger/1"
HASH_MAX_BYTES = 1 << 30  # a local input file up to this size gets a sha256 in the ledger (read once, when new)
RUN_NAME_FORMAT = "%Y%m%dT%H%M%SZ"
EXIT_LOCKED = 3
# tuwen run options that nightly chooses itself
REFUSED = ("--input", "--output", "--overwrite", "--dedup-index")
# Test hook: TUWEN_KILL_AT=<point> makes the process SIGKILL itself at that point of publishing (files.kill_point):
# the run's dedup-index part written but not its _SUCCESS; the run finished; the ledger committed; latest written.
KILL_POINTS = ("dedup_index_written", "run_finished", "ledger_committed", "latest_written")


def _say(message: str) -> None:
    print(f"tuwen nightly: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------- files on disk

def _write_atomically(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_dir(os.path.dirname(path))


def _sync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclasses.dataclass
class Ledger:
    """What has been published: the runs, in order, and every input file processed (by path relative to the crawl
    root: size, mtime_ns, sha256 or None, and the run that processed it)."""
    runs: list = dataclasses.field(default_factory=list)
    inputs: dict = dataclasses.field(default_factory=dict)

    def to_bytes(self) -> bytes:
        doc = {"format": LEDGER_FORMAT, "runs": self.runs, "inputs": dict(sorted(self.inputs.items()))}
        return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def read(cls, path: str) -> "Ledger":
        if not os.path.exists(path):
            return cls()
        with open(path, "rb") as fh:
            doc = json.loads(fh.read().decode("utf-8"))
        if doc.get("format") != LEDGER_FORMAT:
            raise UsageError(f"{path} is not a tuwen nightly ledger (format {doc.get('format')!r})")
        return cls(runs=list(doc["runs"]), inputs=dict(doc["inputs"]))


class Root:
    """The paths of an output root."""

    def __init__(self, output_root: str):
        self.root = os.path.abspath(output_root)
        self.runs = os.path.join(self.root, RUNS_DIR)
        self.index = os.path.join(self.root, INDEX_DIR)
        self.ledger = os.path.join(self.root, LEDGER_NAME)
        self.latest = os.path.join(self.root, LATEST_NAME)
        self.manifest = os.path.join(self.root, MANIFEST_NAME)
        self.lock = os.path.join(self.root, LOCK_NAME)

    def run_dir(self, name: str) -> str:
        return os.path.join(self.runs, name)

    def pending(self, name: str) -> str:
        return f"{self.ledger}{PENDING_SUFFIX}{name}"

    def index_part(self, name: str) -> str:
        from tuwen.transforms.dedup import index_part_name

        return os.path.join(self.index, index_part_name(self.run_dir(name)))


# ------------------------------------------------------------------------------------------------------------ lock

class Locked(Exception):
    """Another refresh holds the lock (exit status 3)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class Lock:
    """``nightly.lock``: created exclusively, holding pid, host and start time; removed on exit. A lock left by a dead
    process of this host is taken over (one warning line); any other is a live refresh."""

    def __init__(self, path: str):
        self.path = path
        self.held = False

    def _create(self) -> bool:
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
            fh.write("\n")
        return True

    def acquire(self) -> None:
        for _ in range(3):
            if self._create():
                self.held = True
                return
            try:
                with open(self.path) as fh:
                    held = json.load(fh)
            except FileNotFoundError:
                continue  # released meanwhile
            except (OSError, ValueError):
                held = {}
            pid, host = held.get("pid"), held.get("host")
            if host == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
                # Taken over by renaming it away first: of two refreshes that both saw it dead, one wins the rename.
                stale = f"{self.path}.stale-{os.getpid()}"
                try:
                    os.rename(self.path, stale)
                except FileNotFoundError:
                    continue
                os.unlink(stale)
                _say(f"warning: took over the lock of a refresh that died (pid {pid} on {host}, started "
                     f"{held.get('started')})")
                continue
            raise Locked(f"another refresh holds {self.path} (pid {pid} on {host}, started {held.get('started')})")
        raise Locked(f"could not take {self.path}")

    def release(self) -> None:
        if self.held:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.held = False


# ------------------------------------------------------------------------------------------------ crawl and ledger

@dataclasses.dataclass(frozen=True)
class Found:
    rel: str
    path: str
    size: int
    mtime_ns: int
    kind: str


def list_crawl(crawl_root: str) -> tuple[list[Found], list[str]]:
    """Every input file under the crawl root of a kind tuwen run reads, sorted by relative path; and the paths of
    entries skipped for not being regular files."""
    from tuwen.transforms.sources import has_scheme, kind_of

    found, skipped = [], []
    if has_scheme(crawl_root):
        from apache_beam.io.filesystems import FileSystems

        base = crawl_root.rstrip("/") + "/"
        for m in FileSystems.match([base + "**"])[0].metadata_list:
            kind = kind_of(m.path)
            if kind and not m.path.endswith("/"):
                found.append(Found(m.path[len(base):], m.path, m.size_in_bytes,
                                   int(m.last_updated_in_seconds * 1e9), kind))
        return sorted(found, key=lambda f: f.rel), skipped
    for folder, dirs, files in os.walk(crawl_root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            kind = kind_of(name)
            if kind is None:
                continue
            try:
                st = os.stat(path)
            except OSError:
                skipped.append(path)
                continue
            if not os.path.isfile(path):
                skipped.append(path)
                continue
            found.append(Found(os.path.relpath(path, crawl_root).replace(os.sep, "/"), path, st.st_size,
                               st.st_mtime_ns, kind))
    return sorted(found, key=lambda f: f.rel), skipped


def content_hash(f: Found) -> Optional[str]:
    """sha256 of a local file up to HASH_MAX_BYTES (None otherwise: size and mtime alone tell a change)."""
    if f.size > HASH_MAX_BYTES or "://" in f.path:
        return None
    digest = hashlib.sha256()
    with open(f.path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def classify(found: Sequence[Found], ledger: Ledger) -> tuple[list[Found], list[tuple[Found, str]], list[Found]]:
    """(new, changed with a description, unchanged). A file whose size and mtime match its ledger entry is unchanged;
    one with only a new mtime is unchanged if its sha256 matches."""
    new, changed, same = [], [], []
    for f in found:
        entry = ledger.inputs.get(f.rel)
        if entry is None:
            new.append(f)
        elif entry["size"] == f.size and entry["mtime_ns"] == f.mtime_ns:
            same.append(f)
        elif entry["size"] == f.size and entry.get("sha256") and content_hash(f) == entry["sha256"]:
            same.append(f)
        else:
            what = (f"size {entry['size']} -> {f.size}" if entry["size"] != f.size else "content")
            changed.append((f, f"{what} since run {entry['run']}"))
    return new, changed, same


def ledger_entry(f: Found, run: str) -> dict:
    return {"size": f.size, "mtime_ns": f.mtime_ns, "sha256": content_hash(f), "run": run}


# ----------------------------------------------------------------------------------------------------- publishing

def published_shards(root: Root, ledger: Ledger) -> list[str]:
    """Every shard of every published run, in run order (a run's shards in name order)."""
    from tuwen.transforms.shards import SIZES_NAME

    paths = []
    for run in ledger.runs:
        shards = os.path.join(root.run_dir(run), "shards")
        with open(os.path.join(shards, SIZES_NAME), "rb") as fh:
            names = sorted(json.loads(fh.read().decode("utf-8")))
        paths += [os.path.join(shards, n) for n in names]
    return paths


def night_counts(root: Root, ledger: Ledger) -> list[dict]:
    """{run, read, kept} of every published run, in order (for the report's nights)."""
    counts = []
    for run in ledger.runs:
        with open(os.path.join(root.run_dir(run), "stats.json"), "rb") as fh:
            stats = json.loads(fh.read().decode("utf-8"))
        counts.append({"run": run, "read": stats["read"], "kept": stats["kept"]})
    return counts


def sync_pointers(root: Root, ledger: Ledger, quiet: bool = False) -> None:
    """``latest``, then ``manifest.txt``, rewritten (atomically) where they do not say what the ledger says."""
    wanted = [(root.latest, (root.run_dir(ledger.runs[-1]) + "\n").encode() if ledger.runs else None),
              (root.manifest, "".join(p + "\n" for p in published_shards(root, ledger)).encode())]
    for i, (path, data) in enumerate(wanted):
        if data is None:
            continue
        try:
            with open(path, "rb") as fh:
                if fh.read() == data:
                    continue
        except FileNotFoundError:
            pass
        _write_atomically(path, data)
        if i == 0:
            kill_point("latest_written")
        if not quiet:
            _say(f"{os.path.basename(path)} was behind the ledger: rewritten")


def _remove_run(root: Root, name: str) -> None:
    for path in (root.index_part(name), root.pending(name)):
        if os.path.exists(path):
            os.unlink(path)
    shutil.rmtree(root.run_dir(name), ignore_errors=True)


def recover(root: Root) -> Ledger:
    """Finish or undo whatever an earlier refresh left half done; returns the ledger."""
    ledger = Ledger.read(root.ledger)
    names = sorted(os.listdir(root.runs)) if os.path.isdir(root.runs) else []
    for name in names:
        if name in ledger.runs:
            continue
        done = os.path.exists(os.path.join(root.run_dir(name), "_SUCCESS"))
        if done and os.path.exists(root.pending(name)):
            os.replace(root.pending(name), root.ledger)
            _sync_dir(root.root)
            ledger = Ledger.read(root.ledger)
            _say(f"finished publishing run {name} (an earlier refresh stopped after its _SUCCESS)")
        else:
            _remove_run(root, name)
            _say(f"deleted run folder {name}: " + ("its ledger was lost" if done else "it has no _SUCCESS")
                 + " (an earlier refresh stopped before publishing it; its input files are picked up again)")
    for entry in sorted(os.listdir(root.root)):
        if entry.startswith(LEDGER_NAME + PENDING_SUFFIX) and not os.path.isdir(
                root.run_dir(entry[len(LEDGER_NAME + PENDING_SUFFIX):])):
            os.unlink(os.path.join(root.root, entry))
    sync_pointers(root, ledger)
    return ledger


def run_name(root: Root, start: float) -> str:
    base = time.strftime(RUN_NAME_FORMAT, time.gmtime(start))
    name, n = base, 1
    while os.path.exists(root.run_dir(name)) or os.path.exists(root.pending(name)):
        n += 1
        name = f"{base}-{n}"
    return name


# --------------------------------------------------------------------------------------------------------- command

def parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="tuwen nightly",
        description="The scheduled refresh: clean the input files under --crawl-root that no earlier night processed "
                    "into OUTPUT_ROOT/runs/<UTC start>/, with the cross-run dedup index OUTPUT_ROOT/dedup-index, "
                    "then publish it (ledger.json, latest, manifest.txt). Every other option is a tuwen run option "
                    "(tuwen run --help), except --input, --output, --overwrite and --dedup-index, which nightly "
                    "chooses itself. Exit 0 (also when there is nothing new), 1 when the run failed, 2 for a usage "
                    "problem, 3 when another refresh holds the lock.",
        allow_abbrev=False)
    p.add_argument("--crawl-root", required=True, metavar="DIR",
                   help="the folder the crawler fills (local, gs://, s3://): every JSONL, Parquet and tar file "
                        "under it, at any depth; ids are paths relative to it")
    p.add_argument("--output-root", required=True, metavar="DIR",
                   help="a local (or mounted) folder holding the runs, the ledger, the dedup index and the manifest")
    p.add_argument("--reprocess-changed", action="store_true",
                   help="also process input files that changed since a night processed them (they are only listed, "
                        "as changed_input, without it); their pairs kept before are dropped by the dedup index")
    return p


def _check_refused(rest: Sequence[str]) -> None:
    for arg in rest:
        for opt in REFUSED:
            if arg == opt or arg.startswith(opt + "="):
                raise UsageError(f"{opt} is chosen by tuwen nightly (runs go under --output-root); leave it out")


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """(nightly's own options, the tuwen run options); UsageError for a refused or unknown option."""
    from tuwen.pipeline.options import unknown_flags

    args, rest = parser().parse_known_args(list(argv))
    _check_refused(rest)
    unknown = unknown_flags(rest)
    if unknown:
        raise UsageError(f"unknown option {unknown[0]} (see tuwen nightly --help and tuwen run --help)")
    return args, rest


def nightly(argv: Sequence[str]) -> int:
    args, rest = parse(argv)
    from tuwen.pipeline.inputs import check_filesystem
    from tuwen.transforms.sources import InputError, InputFile, has_scheme

    if has_scheme(args.output_root):
        raise UsageError(f"--output-root {args.output_root}: must be a local or mounted folder (the lock and the "
                         "ledger's commit need an atomic rename)")
    crawl = args.crawl_root if has_scheme(args.crawl_root) else os.path.abspath(args.crawl_root)
    try:
        check_filesystem(crawl)
    except InputError as e:
        raise UsageError(str(e)) from None
    if not has_scheme(crawl) and not os.path.isdir(crawl):
        raise UsageError(f"--crawl-root {args.crawl_root}: no such folder")
    root = Root(args.output_root)
    os.makedirs(root.runs, exist_ok=True)
    os.makedirs(root.index, exist_ok=True)
    lock = Lock(root.lock)
    lock.acquire()
    try:
        ledger = recover(root)
        found, skipped = list_crawl(crawl)
        for path in skipped:
            _say(f"skipped {path}: not a regular file")
        new, changed, same = classify(found, ledger)
        for f, what in changed:
            _say(f"changed_input {f.rel}: {what}" + ("; reprocessed (--reprocess-changed)" if args.reprocess_changed
                                                      else "; not reprocessed (--reprocess-changed includes it)"))
        todo = sorted(new + ([f for f, _ in changed] if args.reprocess_changed else []), key=lambda f: f.rel)
        if not todo:
            _say(f"nothing new under {crawl}: {len(found)} input files, none new"
                 + (f" ({len(changed)} changed, not reprocessed)" if changed else ""))
            return 0
        start = time.time()
        name = run_name(root, start)
        out = root.run_dir(name)
        after = Ledger(runs=ledger.runs + [name], inputs=dict(ledger.inputs))
        for f in todo:
            after.inputs[f.rel] = ledger_entry(f, name)
        _write_atomically(root.pending(name), after.to_bytes())
        _say(f"run {name}: {len(todo)} input files ({len(new)} new"
             + (f", {len(changed)} changed" if args.reprocess_changed and changed else "") + f") into {out}")
        files = [InputFile(path=f.path, source=f.rel, kind=f.kind) for f in todo]
        info = {"new_inputs": len(new), "reprocessed_changed": len(changed) if args.reprocess_changed else 0,
                "changed_inputs": [{"path": f.rel, "change": what} for f, what in changed]}
        from tuwen.pipeline import run as run_module

        try:
            removed = os.path.join(root.root, REMOVED_NAME)
            if os.path.exists(removed) and not any(a.startswith("--removed-list") for a in rest):
                rest = [*rest, "--removed-list", removed]
            stats = run_module.run([*rest, "--output", out, "--dedup-index", root.index], files=files, nightly=info,
                                   history={"run": name, "earlier": night_counts(root, ledger)})
        except BaseException:
            _remove_run(root, name)
            raise
        kill_point("run_finished")
        os.replace(root.pending(name), root.ledger)  # the commit point
        _sync_dir(root.root)
        kill_point("ledger_committed")
        sync_pointers(root, after, quiet=True)
        with open(os.path.join(out, "report.txt")) as fh:
            print(fh.read(), end="")
        _say(f"published run {name}: kept {stats['kept']} of {stats['read']} pairs; {root.manifest} lists "
             f"{len(published_shards(root, after))} shards of {len(after.runs)} runs")
        return 0
    finally:
        lock.release()


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command_main("tuwen nightly", parser, nightly, argv, exits=((Locked, EXIT_LOCKED),))


if __name__ == "__main__":
    sys.exit(main())
