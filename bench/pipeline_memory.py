"""Pipeline memory and determinism: peak RSS of `tuwen run` on N and 4N pairs, and byte-identical reruns.

The promise (issue 2): 4 x the pairs costs at most 1.3 x the peak memory on the default runner, and two runs on
the same input write byte-identical shards. Three runs of the same command on real-size photos (bench/photos.py):
    A: N pairs           B: the same N pairs again, into another folder           C: 4N pairs
Peak memory is the larger of two measures: the largest sum of the resident memory of every process in the run's
tree, polled every 50 ms from /proc (so worker subprocesses count, if a runner starts any), and the kernel's
high-water mark of the largest single process (getrusage(RUSAGE_CHILDREN) in a fresh wrapper), which catches the
short spikes that polling misses; both are printed. A start-up run on a tiny set shows what
imports alone cost. Reruns: sha256 of every shard tar of A and B (and sizes.json, the index) must match.

    .venv/bin/python bench/pipeline_memory.py              # N=1000 vs 4000
    .venv/bin/python bench/pipeline_memory.py --n 250      # quicker
    .venv/bin/python bench/pipeline_memory.py --n 5000 --pool 5000   # 5000 vs 20000 pairs over 5000 photos
    .venv/bin/python bench/pipeline_memory.py --tuwen-args '--direct_num_workers 1'
"""
from __future__ import annotations

import argparse
import hashlib
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photos  # noqa: E402
from pipeline_benchkit import TUWEN, WORK, mb, run_counted, shell_line, tar_digests, tuwen_version_check  # noqa: E402

PROMISE = 1.3


def tuwen_cmd(set_dir: Path, out: Path, args) -> list[str]:
    return [str(TUWEN), "run", "--input", str(set_dir / "*.jsonl"), "--output", str(out), "--overwrite",
            "--min-side", "256", "--shard-size", str(args.shard_size), *shlex.split(args.tuwen_args)]


def file_digests(out: Path) -> dict[str, str]:
    """Relative path -> sha256 for shards (tars and sizes.json) and the index."""
    digests = {f"shards/{k}": v for k, v in tar_digests(out / "shards").items()}
    for path in sorted([out / "shards" / "sizes.json", *(out / "index").glob("*.parquet")]):
        if path.exists():
            digests[str(path.relative_to(out))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="pairs in the small run; the large one has 4x (1000)")
    parser.add_argument("--factor", type=int, default=4, help="size of the large run in small runs (default 4)")
    parser.add_argument("--tiny", type=int, default=20, help="pairs in the start-up run (default 20)")
    parser.add_argument("--pool", type=int, default=0,
                        help="photos to reuse for the pairs (pair i has photo i %% POOL; memory depends on pairs, "
                             "not on distinct files); 0: one photo per pair (default)")
    parser.add_argument("--shard-size", type=int, default=250,
                        help="samples per shard (default 250, so the rerun check compares several shards)")
    parser.add_argument("--no-rerun", action="store_true", help="skip run B and the byte-identical check")
    parser.add_argument("--tuwen-args", default="", help="extra arguments for tuwen run (e.g. runner options)")
    parser.add_argument("--photos", type=Path, default=photos.DEFAULT_OUT, help="photo pool (bench/photos.py --out)")
    args = parser.parse_args(argv)
    if why := tuwen_version_check():
        print(f"pipeline_memory: tuwen run is not usable yet: {why}")
        return 1
    big_n = args.n * args.factor
    big_set = photos.ensure_photos(big_n, args.photos, quiet=True, pool=args.pool)
    small_set = photos.ensure_photos(args.n, args.photos, quiet=True, pool=args.pool)
    tiny_set = photos.ensure_photos(args.tiny, args.photos, quiet=True)
    print(f"photos: small set {photos.set_summary(small_set)}")
    print(f"        large set {photos.set_summary(big_set)}")
    work = WORK / "memory"
    work.mkdir(parents=True, exist_ok=True)

    runs = {}
    plan = [("start-up", tiny_set, args.tiny, "tiny"), ("A", small_set, args.n, "a"),
            ("B (rerun of A)", small_set, args.n, "b"), ("C", big_set, big_n, "c")]
    if args.no_rerun:
        plan = [step for step in plan if step[3] != "b"]
    commands = {}
    for label, set_dir, n, name in plan:
        out = work / f"out-{name}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = tuwen_cmd(set_dir, out, args)
        commands[label] = shell_line(cmd)
        counted = run_counted(cmd, out, n, work / f"run-{name}.log")
        if counted is None:
            return 1
        res, stats, ok = counted
        runs[label] = (res, stats, out)
        print(f"  {label:<15} n={n:<5} peak tree RSS {mb(res.peak_tree_rss):>9}  largest process "
              f"{mb(res.max_rss_one_process):>9}  {res.wall_s:6.1f} s  read {stats['read']} kept {stats['kept']} "
              f"rejected {stats['rejected']}{'' if ok else '  <- COUNTS WRONG'}", flush=True)

    def peak(res) -> int:
        # Polling can miss a short spike; the kernel's high-water mark of the largest process cannot. The larger
        # of the two is the peak (for the FnApiRunner's single process, the high-water mark).
        return max(res.peak_tree_rss, res.max_rss_one_process)

    a, c = runs["A"][0], runs["C"][0]
    ratio = peak(c) / peak(a)
    print()
    print(f"peak memory, {big_n} vs {args.n} pairs: {mb(peak(c))} / {mb(peak(a))} = {ratio:.2f}x "
          f"({'meets' if ratio <= PROMISE else 'BREAKS'} the <= {PROMISE}x promise); polled tree "
          f"{c.peak_tree_rss / a.peak_tree_rss:.2f}x, largest process's high-water mark "
          f"{c.max_rss_one_process / max(a.max_rss_one_process, 1):.2f}x")
    startup = peak(runs["start-up"][0])
    per_pair = (peak(c) - peak(a)) / (big_n - args.n)
    print(f"  of which start-up ({args.tiny} pairs) is {mb(startup)}: growth above start-up "
          f"{mb(peak(a) - startup)} -> {mb(peak(c) - startup)}, "
          f"{per_pair / 1024:.1f} KiB per extra pair")
    if peak(c) - peak(a) < 20 * 2**20:
        print("  growth under 20 MiB: too small to extrapolate (run a larger --n, e.g. --n 5000 --pool 5000)")
    else:
        # Where the promise would stop holding if growth stays linear: peak(4N) = 1.3 x peak(N).
        base = peak(a) - per_pair * args.n
        limit_n = (PROMISE - 1) * base / ((args.factor - PROMISE) * per_pair)
        print(f"  linear extrapolation: the {args.factor}x-pairs <= {PROMISE}x-memory promise holds up to N of "
              f"about {limit_n:,.0f} pairs; {mb(base + per_pair * 1_000_000)} at 1,000,000 pairs")
    if args.no_rerun:
        print("reruns: not checked (--no-rerun)")
        return 0 if ratio <= PROMISE else 3

    da, db = file_digests(runs["A"][2]), file_digests(runs["B (rerun of A)"][2])
    same = da == db and len(da) > 0
    print(f"reruns: {len(da)} files compared (shard tars, sizes.json, index parquet): "
          f"{'byte-identical' if same else 'DIFFERENT'}")
    if not same:
        for name in sorted(set(da) | set(db)):
            if da.get(name) != db.get(name):
                print(f"  differs: {name}  A={str(da.get(name))[:16]}  B={str(db.get(name))[:16]}")
    for name, digest in sorted(da.items()):
        if name.endswith(".tar"):
            print(f"  {name}  {digest}")
    print()
    print("commands:")
    for label, line in commands.items():
        print(f"  {label}: {line}")
    print("made by:", shell_line([sys.executable, str(Path(__file__).resolve()), *argv]))
    return 0 if ratio <= PROMISE and same else 3


if __name__ == "__main__":
    sys.exit(main())
