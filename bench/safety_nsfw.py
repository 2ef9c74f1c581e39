"""Image safety, the nsfw check: false drops on real clean photos, and what the check costs per image on one core.

(a) False drops. `tuwen run` over the 2,500 shared Flickr8k-CN photos (each with its first human caption,
    `--min-side 200`, `--nsfw-threshold 1` so nothing is dropped and every photo's score lands in the index). Prints
    how many photos each threshold would flag (goal at the default: <= 0.5 %) and the file names flagged at the
    default, so a person can look. The photos are clean family/dog/street pictures: every flag is a false drop.
(b) Cost. The same N bench photos (bench/photos.py: ~1024 px real photos) through `tuwen run` with
    `--image-safety=` and with `--image-safety nsfw`, each command bound to one core (`taskset`), one onnxruntime
    thread. Cost per image = (CPU s on - CPU s off) / N, against the rest of the per-pair work (CPU s off / N), and
    against the model alone: a fresh process on the same core that makes the same inputs from the same written
    JPEGs (tuwen.transforms.safety.nsfw_input) and scores them in the same fixed batches (nsfw_scores). The scores
    of the pipeline and of the raw run must be identical.

    .venv/bin/python bench/safety_nsfw.py                  # both parts, N = 2000 (~6 min)
    .venv/bin/python bench/safety_nsfw.py --part cost --n 500
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photos  # noqa: E402
from pipeline_benchkit import (FLICKR, TUWEN, VENV_PYTHON, WORK, flickr_manifest, pinned, run_timed,  # noqa: E402
                               shell_line)

REPO = Path(__file__).resolve().parents[1]
from pipeline_benchkit import SHARED_DATA as SHARED  # noqa: E402
SWORK = WORK / "safety"
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
FALSE_DROP_GOAL = 0.005


def index_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(sorted(glob.glob(f"{out}/index/*.parquet"))).to_pylist()


def false_drops(args) -> int:
    from tuwen.transforms.safety import DEFAULT_NSFW_THRESHOLD

    flickr = FLICKR
    manifest = SWORK / "flickr.jsonl"
    rows = range(flickr_manifest(manifest))
    out = SWORK / "flickr-out"
    cmd = pinned([str(TUWEN), "run", "--input", str(manifest), "--output", str(out), "--overwrite",
                  "--min-side", "200", "--nsfw-threshold", "1", "--dedup", "off", "--text-steps=",
                  "--progress-seconds", "0"], args.cpu)
    res = run_timed(cmd, log_path=SWORK / "flickr.log")
    if res.returncode != 0:
        print(res.output_tail)
        return 1
    scores = {r["id"]: r["nsfw"] for r in index_rows(out)}
    stats = json.loads((out / "stats.json").read_text())
    print(f"(a) false drops on {len(rows)} clean Flickr8k-CN photos ({len(scores)} reached the check; "
          f"{stats['rejected']} rejected before it: {stats['rejected_by_reason']})")
    for t in THRESHOLDS:
        n = sum(s >= t for s in scores.values())
        mark = "  <- default" if t == DEFAULT_NSFW_THRESHOLD else ""
        print(f"  threshold {t:.1f}: {n:4d} flagged = {n / len(scores):.2%}{mark}")
    flagged = sorted(((s, i) for i, s in scores.items() if s >= DEFAULT_NSFW_THRESHOLD), reverse=True)
    share = len(flagged) / len(scores)
    print(f"  at the default {DEFAULT_NSFW_THRESHOLD}: {share:.2%} "
          f"({'meets' if share <= FALSE_DROP_GOAL else 'MISSES'} the <= {FALSE_DROP_GOAL:.1%} goal); flagged:")
    for s, i in flagged:
        print(f"    {s:.4f}  {flickr / 'images' / (i + '.jpg')}")
    print(f"  command: {shell_line(cmd)}  ({res.wall_s:.0f} s)")
    return 0


def raw_scores(argv: list[str]) -> int:
    """A fresh process: nsfw inputs from the written JPEGs of a run's shards (argv[0]), scored in fixed batches;
    the timings and scores as JSON into argv[1]."""
    from tuwen.transforms.safety import load_nsfw, nsfw_input, nsfw_scores

    jpegs = {}
    for path in sorted(glob.glob(f"{argv[0]}/shards/*.tar")):
        with tarfile.open(path) as tf:
            for m in tf:
                if m.name.endswith(".jpg"):
                    jpegs[m.name[:-4]] = tf.extractfile(m).read()
    started_cpu, started = time.process_time(), time.perf_counter()
    session = load_nsfw(1)
    loaded_cpu = time.process_time()
    inputs = [nsfw_input(b) for b in jpegs.values()]
    made_cpu = time.process_time()
    scores = nsfw_scores(session, inputs)
    done_cpu = time.process_time()
    Path(argv[1]).write_text(json.dumps({
        "n": len(jpegs), "load_cpu_s": loaded_cpu - started_cpu, "input_cpu_s": made_cpu - loaded_cpu,
        "model_cpu_s": done_cpu - made_cpu, "wall_s": time.perf_counter() - started,
        "scores": dict(zip(jpegs, scores))}))
    return 0


def cost(args) -> int:
    set_dir = photos.ensure_photos(args.n, args.photos, quiet=True)
    print(f"(b) cost on one core: {photos.set_summary(set_dir)}")
    SWORK.mkdir(parents=True, exist_ok=True)
    runs = {}
    commands = {}
    for label, flag in (("off", "--image-safety="), ("nsfw", "--image-safety=nsfw")):
        out = SWORK / f"cost-{label}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = pinned([str(TUWEN), "run", "--input", str(set_dir / "*.jsonl"), "--output", str(out), "--overwrite",
                      "--direct_num_workers", "1", "--progress-seconds", "0", flag], args.cpu)
        commands[label] = shell_line(cmd)
        res = run_timed(cmd, log_path=SWORK / f"cost-{label}.log")
        if res.returncode != 0:
            print(res.output_tail)
            return 1
        runs[label] = res
        print(f"  tuwen run {flag:<22} {res.wall_s:7.1f} s wall {res.cpu_s:7.1f} s cpu  "
              f"{args.n / res.wall_s:6.1f} pairs/s", flush=True)
    raw_json = SWORK / "raw.json"
    raw_cmd = pinned([str(VENV_PYTHON), str(Path(__file__).resolve()), "--raw", str(SWORK / "cost-off"),
                      str(raw_json)], args.cpu)
    raw = run_timed(raw_cmd)
    if raw.returncode != 0:
        print(raw.output_tail)
        return 1
    data = json.loads(raw_json.read_text())
    pipeline_scores = {r["key"]: r["nsfw"] for r in index_rows(SWORK / "cost-nsfw")}
    import pyarrow.parquet as pq  # and the photos it rejected: their score is in the detail

    for part in glob.glob(f"{SWORK / 'cost-nsfw'}/rejects/*.parquet"):
        for r in pq.read_table(part).to_pylist():
            if r["reason"] == "unsafe_image_nsfw":
                pipeline_scores[r["key"]] = float(r["detail"].split()[1])
    same = sum(pipeline_scores.get(k) == s for k, s in data["scores"].items())
    n = args.n
    off, on = runs["off"].cpu_s / n * 1000, runs["nsfw"].cpu_s / n * 1000
    per_image = on - off
    raw_per = (data["input_cpu_s"] + data["model_cpu_s"]) / data["n"] * 1000
    print(f"  per pair: {off:.1f} ms CPU without the check, {on:.1f} ms with it: the check costs {per_image:.1f} ms "
          f"an image ({per_image / off:.1f}x the rest of the per-pair work)")
    print(f"  raw (fresh process, same core, same written JPEGs): input {data['input_cpu_s'] / data['n'] * 1000:.1f} "
          f"ms + model {data['model_cpu_s'] / data['n'] * 1000:.1f} ms = {raw_per:.1f} ms an image, "
          f"load {data['load_cpu_s']:.2f} s; in the pipeline {per_image:.1f} ms: ratio raw / pipeline "
          f"{raw_per / per_image:.2f}")
    print(f"  whole command pairs/s: {n / runs['off'].wall_s:.1f} off, {n / runs['nsfw'].wall_s:.1f} on "
          f"({runs['off'].wall_s / runs['nsfw'].wall_s:.2f}x)")
    print(f"  scores identical in the pipeline and the raw run: {same}/{data['n']}")
    for label, line_ in commands.items():
        print(f"  command ({label}): {line_}")
    print(f"  raw: {shell_line(raw_cmd)}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--raw"]:
        return raw_scores(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("all", "false-drops", "cost"), default="all")
    parser.add_argument("--n", type=int, default=2000, help="bench photos for the cost part (default 2000)")
    parser.add_argument("--cpu", type=int, default=0, help="the core every command is bound to (default 0)")
    parser.add_argument("--photos", type=Path, default=photos.DEFAULT_OUT, help="photo pool (bench/photos.py --out)")
    args = parser.parse_args(argv)
    rc = 0
    if args.part in ("all", "false-drops"):
        rc |= false_drops(args)
    if args.part in ("all", "cost"):
        rc |= cost(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
