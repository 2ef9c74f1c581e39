"""Relevance memory: peak RSS and time of `tuwen run --scorer` (tiny) on N and 4N real-size photos, FnApiRunner.

The promises with the scorer on: 4 x the pairs costs at most 1.3 x the peak memory and at most 4.4 x the time.
The method is bench/pipeline_memory.py's (its photos, its command, its measure): a start-up run on a tiny set,
A on N pairs, B = A again into another folder (byte-identical shards and index, scores included), C on 4N pairs;
peak memory = max(the polled sum of the RSS of the run's whole process tree, the kernel's high-water mark of its
largest process). The scorer is a random-weight tuwen tiny model (bench/relevance_speed.py's ensure_model), with
`--similarity-threshold -1` (no pair dropped: every decoded image goes through the scorer and on to a shard) and
`--scorer-threads 1`; the dedup mode is the default with a scorer (text-score). If decoded images (a 1024x768 RGB
image is 2.3 MB) crossed a shuffle, C would need gigabytes more than A: the growth per pair shows it.
`--scorer-off-too` also runs A and C without the scorer, for the same ratios without it.

    .venv/bin/python bench/relevance_memory.py                  # 2000 vs 8000 photos, ~5-8 min here
    .venv/bin/python bench/relevance_memory.py --n 500 --no-rerun
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photos  # noqa: E402
from pipeline_benchkit import WORK, mb, run_counted, shell_line, tuwen_version_check  # noqa: E402
from pipeline_memory import file_digests, tuwen_cmd  # noqa: E402
from relevance_speed import ensure_model  # noqa: E402

MEMORY_GOAL, TIME_GOAL = 1.3, 4.4


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="pairs in the small run (default 2000)")
    parser.add_argument("--factor", type=int, default=4, help="size of the large run in small runs (default 4)")
    parser.add_argument("--tiny", type=int, default=20, help="pairs in the start-up run (default 20)")
    parser.add_argument("--pool", type=int, default=0, help="reuse the first POOL photos (0: one photo per pair)")
    parser.add_argument("--shard-size", type=int, default=250, help="samples per shard (default 250)")
    parser.add_argument("--model", default="tiny", help="random-weight tuwen variant for the scorer (tiny)")
    parser.add_argument("--threads", type=int, default=1, help="--scorer-threads (default 1)")
    parser.add_argument("--no-rerun", action="store_true", help="skip run B and the byte-identical check")
    parser.add_argument("--scorer-off-too", action="store_true", help="also A and C without the scorer")
    parser.add_argument("--tuwen-args", default="", help="extra arguments for tuwen run")
    parser.add_argument("--photos", type=Path, default=photos.DEFAULT_OUT, help="photo pool (bench/photos.py --out)")
    args = parser.parse_args(argv)
    if why := tuwen_version_check():
        print(f"relevance_memory: tuwen run is not usable: {why}")
        return 1
    model = ensure_model(args.model)
    scorer_args = (f"--scorer {shlex.quote(str(model))} --similarity-threshold -1 --scorer-threads {args.threads} "
                   "--scorer-device cpu")
    big_n = args.n * args.factor
    big_set = photos.ensure_photos(big_n, args.photos, quiet=True, pool=args.pool)
    small_set = photos.ensure_photos(args.n, args.photos, quiet=True, pool=args.pool)
    tiny_set = photos.ensure_photos(args.tiny, args.photos, quiet=True)
    print(f"photos: small set {photos.set_summary(small_set)}")
    print(f"        large set {photos.set_summary(big_set)}", flush=True)
    work = WORK / "relevance-memory"
    work.mkdir(parents=True, exist_ok=True)

    plan = [("start-up", tiny_set, args.tiny, "tiny", True), ("A", small_set, args.n, "a", True),
            ("B (rerun of A)", small_set, args.n, "b", True), ("C", big_set, big_n, "c", True)]
    if args.no_rerun:
        plan = [p for p in plan if p[3] != "b"]
    if args.scorer_off_too:
        plan += [("A, no scorer", small_set, args.n, "a-off", False), ("C, no scorer", big_set, big_n, "c-off", False)]
    runs, commands = {}, {}
    for label, set_dir, n, name, scored in plan:
        out = work / f"out-{name}"
        shutil.rmtree(out, ignore_errors=True)
        ns = argparse.Namespace(shard_size=args.shard_size,
                                tuwen_args=(scorer_args + " " if scored else "") + args.tuwen_args)
        cmd = tuwen_cmd(set_dir, out, ns)
        commands[label] = shell_line(cmd)
        counted = run_counted(cmd, out, n, work / f"run-{name}.log")
        if counted is None:
            return 1
        res, stats, ok = counted
        runs[label] = (res, stats, out)
        print(f"  {label:<15} n={n:<5} peak tree RSS {mb(res.peak_tree_rss):>9}  largest process "
              f"{mb(res.max_rss_one_process):>9}  {res.wall_s:6.1f} s wall {res.cpu_s:6.1f} s cpu  read "
              f"{stats['read']} kept {stats['kept']} rejected {stats['rejected']} {stats['rejected_by_reason']}"
              f"{'' if ok else '  <- COUNTS WRONG'}", flush=True)

    def peak(res) -> int:
        return max(res.peak_tree_rss, res.max_rss_one_process)

    print()
    verdicts = []
    for suffix, label in (("", "scorer on"), (", no scorer", "scorer off")):
        if f"A{suffix}" not in runs:
            continue
        a, c = runs[f"A{suffix}"][0], runs[f"C{suffix}"][0]
        ratio, t_ratio, cpu_ratio = peak(c) / peak(a), c.wall_s / a.wall_s, c.cpu_s / a.cpu_s
        per_pair = (peak(c) - peak(a)) / (big_n - args.n)
        print(f"{label}: {big_n} vs {args.n} pairs: peak {mb(peak(c))} / {mb(peak(a))} = {ratio:.2f}x (goal <= "
              f"{MEMORY_GOAL}x: {'meets' if ratio <= MEMORY_GOAL else 'MISSES'}); {per_pair / 1024:.1f} KiB per "
              f"extra pair; time {c.wall_s:.1f} / {a.wall_s:.1f} s = {t_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU "
              f"(goal <= {TIME_GOAL}x: {'meets' if max(t_ratio, cpu_ratio) <= TIME_GOAL else 'MISSES'}); "
              f"{big_n / c.wall_s:.1f} pairs/s wall at {big_n}")
        if suffix == "":
            verdicts.append(ratio <= MEMORY_GOAL and t_ratio <= TIME_GOAL)
            if "start-up" in runs:
                print(f"  start-up ({args.tiny} pairs, scorer loaded): {mb(peak(runs['start-up'][0]))}")
    same = True
    if "B (rerun of A)" in runs:
        da, db = file_digests(runs["A"][2]), file_digests(runs["B (rerun of A)"][2])
        same = da == db and len(da) > 0
        print(f"reruns with the scorer: {len(da)} files compared (shard tars, sizes.json, index parquet): "
              f"{'byte-identical' if same else 'DIFFERENT'}")
        for name in sorted(set(da) | set(db)):
            if da.get(name) != db.get(name):
                print(f"  differs: {name}  A={str(da.get(name))[:16]}  B={str(db.get(name))[:16]}")
    print()
    print("commands:")
    for label, line in commands.items():
        print(f"  {label}: {line}")
    print("made by:", shell_line([sys.executable, str(Path(__file__).resolve()), *argv]))
    return 0 if all(verdicts) and same else 3


if __name__ == "__main__":
    sys.exit(main())
