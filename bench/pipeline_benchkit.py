"""Shared pieces of the pipeline benchmarks: how each tool is set up and called, timed, and its output checked.

Used by bench/pipeline_speed.py and bench/pipeline_memory.py; not a benchmark by itself.
- img2dataset lives in its own venv (bench/_work/i2d-venv) with the pins below, made on first use with pip;
- `tuwen run` is called through the project's .venv console script;
- a run is timed by wall clock and by CPU seconds of its whole process tree (getrusage of children), and its peak
  memory is the largest sum of the RSS of every process in its tree, polled from /proc.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import resource
import shlex
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "_work"
TUWEN = REPO / ".venv" / "bin" / "tuwen"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
I2D_VENV = WORK / "i2d-venv"
# A working set found here (Python 3.11): img2dataset 1.47.0 with what pip resolved on 2026-11-25. albumentations
# stays below 2 (img2dataset's own bound) and OpenCV below 5.
I2D_PINS = [
    "img2dataset==1.47.0", "albumentations==1.4.24", "opencv-python-headless==4.14.0.94", "numpy==2.4.6",
    "webdataset==0.2.111", "pyarrow==26.0.1", "pandas==2.3.3", "fsspec==2026.9.0", "fire==0.7.1",
    "exifread-nocycle==3.0.1", "wandb==0.31.0",
]
# img2dataset's albumentations asks the network for a newer version at import; offline that only adds noise/time.
I2D_ENV = {"NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "disabled"}


def ensure_img2dataset() -> Path:
    """The img2dataset console script in its own venv, created with the pins above when missing."""
    exe = I2D_VENV / "bin" / "img2dataset"
    if exe.exists():
        return exe
    print(f"bench: creating {I2D_VENV} with {' '.join(I2D_PINS)} (first time only) ...", file=sys.stderr)
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", str(I2D_VENV)], check=True)
    subprocess.run([str(I2D_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    *I2D_PINS], check=True, stderr=subprocess.DEVNULL)
    return exe


def tuwen_version_check() -> str | None:
    """None when `tuwen run --help` works, else the reason it does not (the pipeline is not there yet)."""
    if not TUWEN.exists():
        return f"{TUWEN} missing (run ./run_pipeline.sh --setup-only)"
    proc = subprocess.run([str(TUWEN), "run", "--help"], capture_output=True, text=True)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return None


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """The command bound to one CPU core (taskset binds the whole tree: children inherit the affinity)."""
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def shell_line(cmd: list[str], env: dict | None = None) -> str:
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    return (prefix + " " if prefix else "") + " ".join(shlex.quote(str(a)) for a in cmd)


def _children_of() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the parenthesised command name; the name itself may hold spaces or parentheses.
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree_rss_bytes(root: int, include_root: bool = True) -> int:
    """Sum of the resident memory of root (unless include_root is False) and all its descendants now."""
    children = _children_of()
    todo, total, page = (list(children.get(root, [])) if not include_root else [root]), 0, os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except OSError:
            pass
    return total


@dataclass
class RunResult:
    cmd: list[str]
    returncode: int
    wall_s: float
    cpu_s: float  # user + system seconds of the whole tree (children reaped by their parents included)
    peak_tree_rss: int = 0  # bytes, polled
    max_rss_one_process: int = 0  # bytes, getrusage(RUSAGE_CHILDREN).ru_maxrss of a fresh wrapper
    output_tail: str = ""
    extra: dict = field(default_factory=dict)


def run_timed(cmd: list[str], env_extra: dict | None = None, poll_rss: bool = False, poll_s: float = 0.05,
              log_path: Path | None = None) -> RunResult:
    """Run cmd to completion; wall time, CPU time of its tree and (optionally) the peak RSS of its tree.

    With poll_rss the command runs under a small wrapper process of this same script, so that
    RUSAGE_CHILDREN's ru_maxrss (the largest single process) is the command's own and not the maximum over
    everything this process ran before.
    """
    env = dict(os.environ, **(env_extra or {}))
    out = open(log_path, "wb") if log_path else subprocess.PIPE
    rusage_file = None
    real_cmd = cmd
    if poll_rss:
        rusage_file = Path(str(log_path or WORK / "rusage") + ".rusage.json")
        real_cmd = [sys.executable, str(Path(__file__).resolve()), "--rusage-wrap", str(rusage_file), "--", *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(real_cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    peak = [0]
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            # The wrapper itself (a small Python) is ours, not the command's: leave it out.
            peak[0] = max(peak[0], tree_rss_bytes(proc.pid, include_root=rusage_file is None))
            stop.wait(poll_s)

    poller = threading.Thread(target=poll, daemon=True) if poll_rss else None
    if poller:
        poller.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - start
    if poller:
        stop.set()
        poller.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if log_path:
        out.close()
        tail = log_path.read_bytes()[-4000:].decode("utf-8", "replace")
    else:
        tail = (stdout or b"")[-4000:].decode("utf-8", "replace")
    result = RunResult(cmd=cmd, returncode=proc.returncode, wall_s=wall, cpu_s=cpu, peak_tree_rss=peak[0],
                       output_tail=tail)
    if rusage_file and rusage_file.exists():
        result.max_rss_one_process = json.loads(rusage_file.read_text())["ru_maxrss_kb"] * 1024
        rusage_file.unlink()
    return result


def _rusage_wrap(argv: list[str]) -> int:
    out_path, cmd = argv[0], argv[2:]
    rc = subprocess.call(cmd)
    Path(out_path).write_text(json.dumps({"ru_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
    return rc


def tar_digests(shard_dir: Path) -> dict[str, str]:
    """File name -> sha256 of each tar in shard_dir."""
    out = {}
    for path in sorted(shard_dir.glob("*.tar")):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out[path.name] = h.hexdigest()
    return out


def count_tar_samples(paths, image_ext: str = ".jpg") -> tuple[int, str | None]:
    """Number of image members in the tars, and the first image member's name (key order as written)."""
    n, first = 0, None
    for path in sorted(paths):
        with tarfile.open(path) as tf:
            for member in tf:
                if member.name.endswith(image_ext):
                    n += 1
                    first = first or f"{path}::{member.name}"
    return n, first


def read_tar_member(spec: str) -> bytes:
    path, name = spec.split("::", 1)
    with tarfile.open(path) as tf:
        return tf.extractfile(name).read()


def img2dataset_successes(out_dir: Path) -> int:
    """Successful samples according to img2dataset's own per-shard stats files."""
    return sum(json.loads(Path(p).read_text()).get("successes", 0) for p in glob.glob(str(out_dir / "*_stats.json")))


def mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--rusage-wrap":
    sys.exit(_rusage_wrap(sys.argv[2:]))


def run_counted(cmd: list[str], out: Path, n: int, log_path: Path):
    """One timed ``tuwen run`` (tree RSS polled) and its stats.json: (result, stats, counts_ok), or None when the
    command failed (its output tail printed)."""
    res = run_timed(cmd, poll_rss=True, log_path=log_path)
    if res.returncode != 0:
        print(f"run failed with exit {res.returncode}: {shell_line(cmd)}; last output:\n{res.output_tail}")
        return None
    stats = json.loads((out / "stats.json").read_text())
    ok = stats["read"] == stats["kept"] + stats["rejected"] == n and (out / "_SUCCESS").exists()
    return res, stats, ok


SHARED_DATA = Path(os.environ.get("TUWEN_SHARED_DATA", REPO.parent / "shared" / "data"))
FLICKR = SHARED_DATA / "flickr8k_cn"


def flickr_manifest(path: Path) -> int:
    """A tuwen manifest of the shared Flickr8k-CN photos (id = file stem, text = the first human caption, the
    absolute image path) written to ``path``; returns the number of pairs."""
    rows = [json.loads(line) for line in (FLICKR / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": Path(r["image"]).stem, "text": r["captions"][0],
                                        "image": str((FLICKR / r["image"]).resolve())}, ensure_ascii=False) + "\n"
                            for r in rows), encoding="utf-8")
    return len(rows)
