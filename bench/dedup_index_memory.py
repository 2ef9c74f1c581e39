"""Cross-run dedup index: how the size of `--dedup-index DIR` drives the peak memory of a small `tuwen run`.

The run joins its kept pairs with every row of the index through a CoGroupByKey (pipeline/dedup.py); on the
FnApiRunner a join buffers both inputs in memory, so the index's row count sets a floor under the run's memory,
however few pairs the run itself has. This script measures that floor:
- synthetic index parts in the schema of transforms/dedup.py's index_schema (key, score_key, scorer_sha256, run,
  id): keys and score keys 32 random hex characters, one scorer sha256 (64 hex), one `run` per part (an output
  URI of ~40 characters), ids like `crawl/part-00012.jsonl#123456`; --part-rows rows per part (default 250,000:
  one part per earlier run of that size), zstd, written once per size under bench/_work/dedup-index/ and reused;
- plus a part with real keys: a seed run (the same pairs, another output, an empty index) writes its own part;
  its first --seen rows are copied in as an earlier run's, so --seen pairs must come out `seen_in_earlier_run`
  (the join is checked to work, not only to cost memory);
- the run: `tuwen run` (FnApiRunner, no scorer) on --n real-size photos (bench/photos.py) with `--dedup-index`;
  peak = max(the polled sum of the RSS of the run's whole process tree, the largest process's high-water mark),
  as bench/pipeline_memory.py measures it. The run's own part, which it adds to the index, is removed afterwards.
A least-squares line through (rows, peak) gives bytes per index row; the ceiling is stated as rows per GiB above
the run's own floor, and the index size at which a machine of --machine-gib would run out.

    .venv/bin/python bench/dedup_index_memory.py                            # 0, 250k, 1M, 2M rows, ~6 min
    .venv/bin/python bench/dedup_index_memory.py --rows 0,250000 --n 100
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photos  # noqa: E402
from pipeline_benchkit import TUWEN, WORK, mb, run_timed, shell_line, tuwen_version_check  # noqa: E402

DWORK = WORK / "dedup-index"
SCORER_SHA = "5" * 8 + "0123456789abcdef" * 3 + "5" * 8
RECIPE = 1


def synthetic_part(path: Path, rows: int, part: int, seed: int) -> None:
    """One index part of ``rows`` synthetic rows (index_schema), written with zstd as the pipeline writes them."""
    import binascii

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tuwen.transforms.dedup import KEY_HEX, index_schema

    rng = np.random.default_rng([seed, part])

    def hex_strings(n: int) -> pa.Array:
        data = binascii.hexlify(rng.bytes(n * KEY_HEX // 2))
        offsets = np.arange(0, n * KEY_HEX + 1, KEY_HEX, dtype=np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))

    run = f"gs://crawl-bucket/runs/2026-11-{part:04d}/out"
    table = pa.Table.from_arrays(
        [hex_strings(rows), hex_strings(rows), pa.array([SCORER_SHA] * rows, pa.string()),
         pa.array([run] * rows, pa.string()),
         pa.array([f"crawl/part-{part:05d}.jsonl#{i}" for i in range(rows)], pa.string())],
        schema=index_schema())
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.rename(path)


def ensure_index(rows: int, part_rows: int, seed: int) -> Path:
    """bench/_work/dedup-index/synthetic-R: R rows in parts of part_rows, made once."""
    folder = DWORK / f"synthetic-{rows}"
    meta = {"recipe": RECIPE, "rows": rows, "part_rows": part_rows, "seed": seed}
    meta_path = folder / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text()) == meta:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    done, part = 0, 0
    while done < rows:
        k = min(part_rows, rows - done)
        synthetic_part(folder / f"part-synthetic{part:05d}.parquet", k, part, seed)
        done, part = done + k, part + 1
    meta_path.write_text(json.dumps(meta))
    return folder


def tuwen_cmd(set_dir: Path, out: Path, index_dir: Path, extra: list[str]) -> list[str]:
    return [str(TUWEN), "run", "--input", str(set_dir / "*.jsonl"), "--output", str(out), "--overwrite",
            "--min-side", "256", "--shard-size", "1000", "--progress-seconds", "0", "--dedup-index", str(index_dir),
            *extra]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="0,250000,1000000,2000000",
                        help="index sizes (synthetic rows), comma-separated (default 0,250000,1000000,2000000)")
    parser.add_argument("--part-rows", type=int, default=250_000, help="rows per synthetic part (default 250000)")
    parser.add_argument("--n", type=int, default=300, help="pairs of the run (real-size photos; default 300)")
    parser.add_argument("--seen", type=int, default=100,
                        help="of those, pairs an 'earlier run' kept (real keys in the index; default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic keys (default 0)")
    parser.add_argument("--machine-gib", type=float, default=24.0, help="memory of the machine to state (24)")
    parser.add_argument("--tuwen-args", default="", help="extra arguments for tuwen run")
    parser.add_argument("--photos", type=Path, default=photos.DEFAULT_OUT, help="photo pool (bench/photos.py --out)")
    args = parser.parse_args(argv)
    if why := tuwen_version_check():
        print(f"dedup_index_memory: tuwen run is not usable: {why}")
        return 1
    import pyarrow.parquet as pq

    sizes = [int(x) for x in args.rows.split(",") if x != ""]
    extra = args.tuwen_args.split()
    set_dir = photos.ensure_photos(args.n, args.photos, quiet=True)
    print(f"photos: {photos.set_summary(set_dir)}", flush=True)
    DWORK.mkdir(parents=True, exist_ok=True)

    # The seed run: the same pairs into another output with an empty index; its own part has the real keys.
    seed_index, seed_out = DWORK / "seed-index", DWORK / "seed-out"
    shutil.rmtree(seed_index, ignore_errors=True)
    seed_index.mkdir(parents=True)
    cmd = tuwen_cmd(set_dir, seed_out, seed_index, extra)
    res = run_timed(cmd, log_path=DWORK / "seed.log")
    seed_parts = sorted(seed_index.glob("part-*.parquet"))
    if res.returncode != 0 or len(seed_parts) != 1:
        print(f"seed run failed (exit {res.returncode}, {len(seed_parts)} parts written):\n{res.output_tail}")
        return 1
    seed_table = pq.read_table(seed_parts[0])
    seed_rows = sorted(seed_table.to_pylist(), key=lambda r: r["id"])[:args.seen]
    print(f"seed run: {seed_table.num_rows} rows in its own part {seed_parts[0].name} ({res.wall_s:.1f} s); "
          f"{len(seed_rows)} of them go into every index below as an earlier run's", flush=True)

    out = DWORK / "out"
    results, commands = [], {}
    for rows in sizes:
        index_dir = ensure_index(rows, args.part_rows, args.seed)
        seen_part = index_dir / "part-zzseen.parquet"
        pq.write_table(seed_table.from_pylist(seed_rows, schema=seed_table.schema), seen_part, compression="zstd")
        index_bytes = sum(p.stat().st_size for p in index_dir.glob("part-*.parquet"))
        before = set(index_dir.glob("part-*.parquet"))
        shutil.rmtree(out, ignore_errors=True)
        cmd = tuwen_cmd(set_dir, out, index_dir, extra)
        commands[rows] = shell_line(cmd)
        res = run_timed(cmd, poll_rss=True, log_path=DWORK / f"run-{rows}.log")
        for p in set(index_dir.glob("part-*.parquet")) - before:  # the run's own part: not part of the benchmark
            p.unlink()
        seen_part.unlink()
        if res.returncode != 0:
            print(f"run with {rows:,} index rows failed (exit {res.returncode}):\n{res.output_tail}")
            results.append((rows, None, res, None, index_bytes))
            continue
        stats = json.loads((out / "stats.json").read_text())
        seen = stats["rejected_by_reason"].get("seen_in_earlier_run", 0)
        peak = max(res.peak_tree_rss, res.max_rss_one_process)
        ok = seen == len(seed_rows) and stats["kept"] == args.n - len(seed_rows)
        results.append((rows, peak, res, stats, index_bytes))
        print(f"  index {rows + len(seed_rows):>9,} rows ({index_bytes / 2**20:6.1f} MiB parquet): peak {mb(peak):>9} "
              f"(polled tree {mb(res.peak_tree_rss)}, largest process {mb(res.max_rss_one_process)}), "
              f"{res.wall_s:6.1f} s wall {res.cpu_s:6.1f} s cpu; kept {stats['kept']}, seen_in_earlier_run {seen}"
              f"{'' if ok else '  <- EXPECTED kept %d, seen %d' % (args.n - len(seed_rows), len(seed_rows))}",
              flush=True)

    good = [(r + len(seed_rows), p, res) for r, p, res, _, _ in results if p is not None]
    print()
    print(f"{'index rows':>10} {'peak RSS':>9} {'above 0 rows':>12} {'bytes/row':>9} {'wall s':>7} {'cpu s':>7}")
    base_rows, base_peak = (good[0][0], good[0][1]) if good else (0, 0)
    for r, p, res in good:
        per = (p - base_peak) / (r - base_rows) if r > base_rows else float("nan")
        print(f"{r:>10,} {mb(p):>9} {mb(p - base_peak):>12} {per:>9.0f} {res.wall_s:>7.1f} {res.cpu_s:>7.1f}")
    if len(good) >= 2:
        xs, ys = [g[0] for g in good], [g[1] for g in good]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        intercept = my - slope * mx
        t_slope = ((good[-1][2].wall_s - good[0][2].wall_s) / (good[-1][0] - good[0][0])) if good[-1][0] > good[0][0] else 0
        print()
        print(f"fit: peak = {mb(intercept)} + {slope:.0f} bytes x index rows; {2**30 / slope:,.0f} rows per GiB; "
              f"time {t_slope * 1e6:.1f} us per index row (wall)")
        for gib in (4, 8, args.machine_gib):
            print(f"  a {gib:g} GiB machine (one FnApiRunner process) runs out at about "
                  f"{(gib * 2**30 - intercept) / slope:,.0f} index rows")
    print()
    print("commands:")
    for rows, line in commands.items():
        print(f"  {rows:,} synthetic rows: {line}")
    print("made by:", shell_line([sys.executable, str(Path(__file__).resolve()), *argv]))
    return 0 if all(p is not None for _, p, *_ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
