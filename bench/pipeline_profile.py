"""Where `tuwen run` spends its time: a py-spy sampling profile of one run, summarised by stage.

py-spy (a sampling profiler: no instrumentation, so the run's speed is barely changed) is installed on first use
into bench/_work/tools-venv (py-spy==0.4.3); it samples every thread of `tuwen run --direct_num_workers 1` bound to
one core and writes collapsed stacks; this script sums them into buckets that match the pipeline's work: imports,
text cleaning (one-time dictionary loading apart from per-pair work), image read, decode, encode, staging, shard
writing, Beam's own machinery, and idle threads (threads parked in a wait that py-spy cannot tell from work).

    .venv/bin/python bench/pipeline_profile.py                 # 1000 pairs
    .venv/bin/python bench/pipeline_profile.py --n 5000 --top 40
"""
from __future__ import annotations

import argparse
import collections
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photos  # noqa: E402
from pipeline_benchkit import TUWEN, WORK, pinned, shell_line, tuwen_version_check  # noqa: E402

PY_SPY_PIN = "py-spy==0.4.3"
TOOLS_VENV = WORK / "tools-venv"

# (bucket, test on one frame). A sample goes to the first bucket any of its frames matches, scanning buckets in
# this order, so the more specific ones come first.
BUCKETS = [
    ("idle threads (parked waits)", lambda f: f.startswith(("Condition.wait", "Event.wait"))),
    ("imports (start-up)", lambda f: "_find_and_load" in f),
    ("text: jieba/name dictionaries loading (once)", lambda f: f.startswith(("Tokenizer.initialize",
                                                                               "POSTokenizer.load_word_tag",
                                                                               "_given_name_char_scores"))),
    ("text: cleaning per pair", lambda f: f.startswith("TextCleaner.clean")),
    ("image: read file", lambda f: f.startswith("read_bytes")),
    ("image: decode (Pillow load)", lambda f: f.startswith("ImageFile.load")),
    ("image: JPEG encode (Pillow save)", lambda f: f.startswith("Image.save")),
    ("image: other checks (open, EXIF, convert, sha256)", lambda f: f.startswith("process_image")),
    ("staging write", lambda f: f.startswith("_StagingFile.append")),
    ("shard write (tar, index)", lambda f: f.startswith(("_WriteShard.process", "write_tar"))),
    ("perceptual hash (dedup key)", lambda f: f.startswith("perceptual_hash")),
    ("report.html (matplotlib figures)", lambda f: f.startswith("write_report")),
    # Not the console script's own frame ("<module> (tuwen:8)"), which is under every sample of the main thread.
    ("pipeline stage logic (other tuwen code)",
     lambda f: not f.startswith("<module> (tuwen:") and ("tuwen" in f or "/pipeline/" in f or "transforms/" in f)),
    ("Beam runner machinery", lambda f: "apache_beam" in f),
]


def ensure_py_spy() -> Path:
    exe = TOOLS_VENV / "bin" / "py-spy"
    if not exe.exists():
        print(f"bench: installing {PY_SPY_PIN} into {TOOLS_VENV} (first time only) ...", file=sys.stderr)
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", str(TOOLS_VENV)], check=True)
        subprocess.run([str(TOOLS_VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", PY_SPY_PIN], check=True, stderr=subprocess.DEVNULL)
    return exe


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            out.append((stack.split(";"), int(count)))
    return out


def bucket_of(frames: list[str]) -> str:
    for name, test in BUCKETS:
        if any(test(f) for f in frames):
            return name
    # A thread whose Python stack ends in Thread.run is inside native code of a helper thread (Beam's state
    # sampler sleeps there): idle for the pipeline.
    if frames and frames[-1].startswith("Thread.run"):
        return "idle threads (parked waits)"
    return "other (interpreter, argparse, ...)"


def summarise(samples, rate: int, top: int) -> None:
    total = sum(n for _, n in samples)
    buckets = collections.Counter()
    leaves = collections.Counter()
    for frames, n in samples:
        buckets[bucket_of(frames)] += n
        leaves[frames[-1]] += n
    busy = total - buckets["idle threads (parked waits)"]
    print(f"{total} samples at {rate}/s ({total / rate:.1f} thread-seconds), {busy / rate:.1f} s busy")
    print(f"{'bucket':<52} {'% busy':>7} {'seconds':>8}")
    for name, n in buckets.most_common():
        share = f"{100 * n / busy:6.1f}%" if not name.startswith("idle") else "      -"
        print(f"{name:<52} {share:>7} {n / rate:>8.2f}")
    print(f"\nhottest leaf frames (self time), top {top}:")
    for frame, n in leaves.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {frame[:140]}")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="pairs (default 1000)")
    parser.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    parser.add_argument("--cpu", type=int, default=0, help="core the run is bound to (default 0)")
    parser.add_argument("--top", type=int, default=25, help="hottest leaf frames to list (default 25)")
    parser.add_argument("--tuwen-args", default="", help="extra arguments for tuwen run")
    parser.add_argument("--photos", type=Path, default=photos.DEFAULT_OUT, help="photo pool (bench/photos.py --out)")
    parser.add_argument("--raw", type=Path, help="summarise this collapsed-stack file instead of running")
    args = parser.parse_args(argv)
    if args.raw:
        summarise(read_collapsed(args.raw), args.rate, args.top)
        return 0
    if why := tuwen_version_check():
        print(f"pipeline_profile: tuwen run is not usable yet: {why}")
        return 1
    py_spy = ensure_py_spy()
    set_dir = photos.ensure_photos(args.n, args.photos, quiet=True)
    work = WORK / "profile"
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    raw = work / f"tuwen-n{args.n}.collapsed"
    tuwen = pinned([str(TUWEN), "run", "--input", str(set_dir / "*.jsonl"), "--output", str(out), "--overwrite",
                    "--min-side", "256", "--direct_num_workers", "1", *shlex.split(args.tuwen_args)], args.cpu)
    cmd = [str(py_spy), "record", "--rate", str(args.rate), "--format", "raw", "--output", str(raw), "--", *tuwen]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not raw.exists():
        print(f"py-spy or tuwen failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        return 1
    summarise(read_collapsed(raw), args.rate, args.top)
    print(f"\ncollapsed stacks: {raw} (flamegraph.pl or speedscope read it)")
    print("profiled:", shell_line(cmd))
    print("made by:", shell_line([sys.executable, str(Path(__file__).resolve()), *argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
