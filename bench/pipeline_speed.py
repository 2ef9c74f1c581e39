"""Pipeline speed: `tuwen run` against img2dataset and a bare Pillow loop, on the same photos, one core each.

All three get the same N real-size JPEGs (bench/photos.py: quality 85-95, so about half already conform to a q90
target) and the same job: read the file, decode, check size and aspect ratio, write each image as a JPEG of quality
at most 90 into WebDataset shards. img2dataset and the Pillow loop re-encode every image (the loop only decodes and
encodes: the floor of that way of doing it). tuwen runs at its defaults, text steps, dedup and report.html included,
but for its image-content check (open_nsfw, a model img2dataset has no counterpart of; bench/safety_nsfw.py measures
it): with --reencode auto it keeps the coded data of a JPEG that already conforms (still decoding it, at 1/8 scale,
so truncation and corrupt data fail as before) and re-encodes the rest.
- tuwen:       .venv/bin/tuwen run --input 'SET/*.jsonl' --output OUT --overwrite --min-side 256
               --direct_num_workers 1 --shard-size S --image-safety=
- img2dataset: its own venv; file:// URLs, resize_mode=no (img2dataset's Resizer still decodes and re-encodes every
               image when skip_reencode is off, the default: `encode_needed = ... if self.skip_reencode else True`),
               encode_format=jpg, encode_quality=90, processes_count=1, thread_count=1, output_format=webdataset,
               min_image_size=256, max_aspect_ratio=2 (the same checks tuwen makes), other options at their defaults.
- pillow:      a loop in a fresh Python: read the file, decode (Image.open + load; convert only if not RGB), JPEG
               q90 encode to memory.
- tuwen-images: tuwen's own image work alone, in a loop in a fresh Python (tuwen.transforms.image.process_image
               and the perceptual hash, defaults, --min-side 256): the floor tuwen's rules set, and so what the
               rest of a run (start-up, text steps, dedup, shards, report) may cost within the goal.
Each command runs under `taskset -c CPU` (the whole process tree on one core).

Start-up is reported apart: each command is also run on a tiny prefix of the same photos (--tiny, default 20
pairs), and `after start-up` = (N - tiny) / (T(N) - T(tiny)): imports, runner set-up, process spawns and the final
shard/report writing are paid in both and cancel out. Each (tiny, full) pair is repeated --repeat times,
interleaved across tools, and the fastest repeat counts (the machine is shared: the slowest repeats measure the
neighbours). CPU seconds of each process tree are printed beside wall time, and a ratio by CPU seconds beside the
wall-clock ones, so contention is visible. (Run-queue waits from schedstat would not separate neighbours from a
tool's own processes queueing behind each other on the one core, as img2dataset's three do, so they are not used.)

    .venv/bin/python bench/pipeline_speed.py                # N=5000, 2 repeats
    .venv/bin/python bench/pipeline_speed.py --n 500 --repeat 1
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photos  # noqa: E402
from pipeline_benchkit import (  # noqa: E402
    I2D_ENV, TUWEN, VENV_PYTHON, WORK, count_tar_samples, ensure_img2dataset, img2dataset_successes, pinned,
    read_tar_member, run_timed, shell_line, tuwen_version_check)

TOOLS = ("tuwen", "img2dataset", "pillow", "tuwen-images")
GOAL = 1.5  # issue 16: tuwen's pairs/s over img2dataset's, whole command, one core each


def pillow_loop(manifest: Path, quality: int) -> int:
    """The reference: decode + JPEG encode of every image in a tuwen manifest, in memory. Prints the count."""
    from PIL import Image

    n = 0
    started = time.perf_counter()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        with open(row["image"], "rb") as f:
            data = f.read()
        im = Image.open(io.BytesIO(data))
        im.load()
        if im.mode != "RGB":  # as tuwen and img2dataset: no copy for what is already RGB
            im = im.convert("RGB")
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        n += 1
    print(json.dumps({"encoded": n, "loop_s": time.perf_counter() - started}))
    return 0


def tuwen_images_loop(manifest: Path, min_side: int) -> int:
    """tuwen's image work alone, in a loop: what its default run must do to each image (read, check, keep or
    re-encode, the 1/8-scale preview and its perceptual hash) through the same functions, without Beam, the text
    steps, dedup, shards or the report. Prints the count."""
    from tuwen.transforms.dedup import perceptual_hash
    from tuwen.transforms.image import ImageConfig, process_image

    cfg = ImageConfig(min_side=min_side)
    n = 0
    started = time.perf_counter()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        with open(json.loads(line)["image"], "rb") as f:
            result = process_image(f.read(), cfg, keep_preview=True)
        if result.ok:
            perceptual_hash(result.preview)
            n += 1
    print(json.dumps({"encoded": n, "loop_s": time.perf_counter() - started}))
    return 0


def tool_command(tool: str, set_dir: Path, out: Path, args) -> tuple[list[str], dict]:
    """The command line (before taskset) and extra environment of one tool on one set of photos."""
    if tool == "tuwen":
        # The same work as img2dataset, which has no content check: the nsfw check (on by default) is off here;
        # bench/safety_nsfw.py measures it (--tuwen-args=--image-safety=nsfw turns it back on here).
        cmd = [str(TUWEN), "run", "--input", str(set_dir / "*.jsonl"), "--output", str(out), "--overwrite",
               "--min-side", "256", "--direct_num_workers", "1", "--shard-size", str(args.shard_size),
               "--image-safety=", *shlex.split(args.tuwen_args)]
        return cmd, {}
    if tool == "img2dataset":
        exe = ensure_img2dataset()
        cmd = [str(exe), "--url_list", str(set_dir / "img2dataset" / "urls.jsonl"), "--input_format", "jsonl",
               "--url_col", "url", "--caption_col", "caption", "--save_additional_columns", '["id"]',
               "--output_folder", str(out), "--output_format", "webdataset", "--resize_mode", "no",
               "--encode_format", "jpg", "--encode_quality", "90", "--processes_count", "1", "--thread_count", "1",
               "--number_sample_per_shard", str(args.shard_size), "--min_image_size", "256",
               "--max_aspect_ratio", "2", "--enable_wandb", "False"]
        return cmd, dict(I2D_ENV)
    if tool == "pillow":
        return [str(VENV_PYTHON), str(Path(__file__).resolve()), "--pillow-loop", str(set_dir / "pairs.jsonl")], {}
    if tool == "tuwen-images":
        return [str(VENV_PYTHON), str(Path(__file__).resolve()), "--tuwen-images-loop",
                str(set_dir / "pairs.jsonl")], {}
    raise ValueError(tool)


def outputs_of(tool: str, out: Path, result) -> tuple[int, str | None]:
    """How many pairs the run produced, and one output image member (to show it was re-encoded)."""
    if tool in ("pillow", "tuwen-images"):
        last = [l for l in result.output_tail.splitlines() if l.startswith("{")]
        return (json.loads(last[-1])["encoded"] if last else 0), None
    tars = sorted((out / "shards").glob("*.tar")) if tool == "tuwen" else sorted(out.glob("*.tar"))
    n, first = count_tar_samples(tars)
    if tool == "tuwen" and (out / "stats.json").exists():
        stats = json.loads((out / "stats.json").read_text())
        if stats.get("kept") != n:
            print(f"  warning: tuwen stats.json kept={stats.get('kept')} but the shards hold {n} images")
        import pyarrow.parquet as pq

        how = collections.Counter()
        for part in sorted((out / "index").glob("*.parquet")):
            how.update(pq.read_table(part, columns=["jpeg"]).column("jpeg").to_pylist())
        print(f"  tuwen wrote {how['kept']} JPEGs as they were coded (--reencode auto: conforming, metadata "
              f"stripped) and re-encoded {how['reencoded']}")
    if tool == "img2dataset" and img2dataset_successes(out) != n:
        print(f"  warning: img2dataset stats say {img2dataset_successes(out)} successes, the shards hold {n}")
    return n, first


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--pillow-loop"]:
        return pillow_loop(Path(argv[1]), 90)
    if argv[:1] == ["--tuwen-images-loop"]:
        return tuwen_images_loop(Path(argv[1]), 256)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="pairs in the full run (default 5000)")
    parser.add_argument("--tiny", type=int, default=20, help="pairs in the start-up run (default 20)")
    parser.add_argument("--repeat", type=int, default=2, help="repeats of each (tiny, full) pair; best counts")
    parser.add_argument("--cpu", type=int, default=0, help="the core every command is bound to (default 0)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--shard-size", type=int, default=1000, help="samples per shard, both tools (default 1000)")
    parser.add_argument("--tuwen-args", default="", help="extra arguments for tuwen run, e.g. '--runner FnApiRunner'")
    parser.add_argument("--photos", type=Path, help="photo pool (bench/photos.py --out; default "
                                                     f"{photos.DEFAULT_OUT}, or photos-qQ1-Q2-... for --qualities)")
    parser.add_argument("--qualities", type=photos.parse_qualities, default=photos.QUALITIES,
                        help=f"JPEG qualities of the photos (default {','.join(map(str, photos.QUALITIES))}: the "
                             "issue's set; e.g. 75,80,85,90,95 for a web-like mix, one in five above q90)")
    args = parser.parse_args(argv)
    if args.photos is None:
        args.photos = photos.DEFAULT_OUT if args.qualities == photos.QUALITIES else photos.DEFAULT_OUT.with_name(
            "photos-q" + "-".join(map(str, args.qualities)))
    tools = [t for t in args.tools.split(",") if t]
    if unknown := set(tools) - set(TOOLS):
        parser.error(f"unknown tools {sorted(unknown)}")
    if "tuwen" in tools and (why := tuwen_version_check()):
        print(f"pipeline_speed: tuwen run is not usable yet ({why}); benchmarking the others only")
        tools.remove("tuwen")

    full_set = photos.ensure_photos(args.n, args.photos, quiet=True, qualities=args.qualities)
    tiny_set = photos.ensure_photos(args.tiny, args.photos, quiet=True, qualities=args.qualities)
    print(f"photos: {photos.set_summary(full_set)}")
    work = WORK / "speed"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list]] = {t: {"tiny": [], "full": []} for t in tools}
    first_output: dict[str, str | None] = {}
    commands: dict[str, str] = {}
    load_before = os.getloadavg()
    for rep in range(args.repeat):
        for tool in tools:
            for size, set_dir, n in (("tiny", tiny_set, args.tiny), ("full", full_set, args.n)):
                out = work / f"{tool}-{size}"
                shutil.rmtree(out, ignore_errors=True)
                cmd, env = tool_command(tool, set_dir, out, args)
                cmd = pinned(cmd, args.cpu)
                if size == "full":
                    commands[tool] = shell_line(cmd, env)
                res = run_timed(cmd, env, log_path=work / f"{tool}-{size}.log")
                if res.returncode != 0:
                    print(f"{tool} ({size}) failed with exit {res.returncode}; last output:\n{res.output_tail}")
                    return 1
                made, first = outputs_of(tool, out, res)
                if made < n * 0.99:
                    print(f"  warning: {tool} ({size}) produced {made} of {n} pairs")
                if size == "full":
                    first_output[tool] = first
                results[tool][size].append((res.wall_s, res.cpu_s, made))
                print(f"  run {rep + 1}/{args.repeat} {tool:<11} {size:<4} n={n:<5} {res.wall_s:7.2f} s wall "
                      f"{res.cpu_s:7.2f} s cpu  -> {made} pairs", flush=True)
    load_after = os.getloadavg()

    print()
    print(f"{'tool':<12} {'pairs':>6} {'whole s':>8} {'pairs/s':>8} {'start-up s':>10} {'after start-up':>15} "
          f"{'cpu s':>7} {'pairs/cpu-s':>11}")
    rates = {}
    for tool in tools:
        full = min(results[tool]["full"], key=lambda r: r[0])
        tiny = min(results[tool]["tiny"], key=lambda r: r[0])
        whole = args.n / full[0]
        # With too few pairs the difference drowns in noise (or goes negative): say so instead of a number.
        steady = (args.n - args.tiny) / (full[0] - tiny[0]) if full[0] - tiny[0] > 0.1 * full[0] else float("nan")
        rates[tool] = (whole, steady)
        print(f"{tool:<12} {full[2]:>6} {full[0]:>8.2f} {whole:>8.1f} {tiny[0]:>10.2f} {steady:>12.1f}/s "
              f"{full[1]:>7.2f} {args.n / max(full[1], 1e-9):>11.1f}")
    print()
    if "tuwen" in rates and "img2dataset" in rates:
        whole_ratio = rates["tuwen"][0] / rates["img2dataset"][0]
        steady_ratio = rates["tuwen"][1] / rates["img2dataset"][1]
        verdict = "meets" if whole_ratio >= GOAL else "MISSES"
        print(f"tuwen / img2dataset: {whole_ratio:.2f}x whole command ({verdict} the >= {GOAL} goal), "
              f"{steady_ratio:.2f}x after start-up; by CPU seconds "
              f"{min(r[1] for r in results['img2dataset']['full']) / min(r[1] for r in results['tuwen']['full']):.2f}x "
              f"(contention inflates wall time, not CPU time)")
    if "pillow" in rates:
        for tool in ("tuwen", "img2dataset"):
            if tool in rates:
                print(f"{tool} / bare Pillow loop: {rates[tool][0] / rates['pillow'][0]:.2f}x whole command, "
                      f"{rates[tool][1] / rates['pillow'][1]:.2f}x after start-up")
    if "tuwen-images" in rates and "img2dataset" in rates:
        # What the goal leaves for everything but the images: start-up, text steps, dedup, shards, report.
        i2d_s = args.n / rates["img2dataset"][0]
        images_s = args.n / rates["tuwen-images"][0]
        print(f"tuwen's image work alone (a loop, no Beam, no text): {rates['tuwen-images'][0]:.1f} pairs/s, "
              f"{images_s:.2f} s = {i2d_s / images_s:.2f}x img2dataset's whole command; {GOAL}x img2dataset is "
              f"{i2d_s / GOAL:.2f} s, leaving {i2d_s / GOAL - images_s:.2f} s for all the rest of a tuwen run"
              + (f" (it takes {args.n / rates['tuwen'][0] - images_s:.2f} s now)" if "tuwen" in rates else ""))
    if any(first_output.values()):
        rows = [json.loads(l) for l in (full_set / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
        source_digests = {hashlib.sha256(Path(r["image"]).read_bytes()).hexdigest() for r in rows}
        for tool, member in first_output.items():
            if member:
                data = read_tar_member(member)
                copied = hashlib.sha256(data).hexdigest() in source_digests
                # A kept JPEG is the source's coded data under a fresh JFIF header: these photos carry no other
                # segment, so it is then the source file's bytes.
                print(f"{tool}: first output JPEG ({len(data)} bytes) "
                      f"{'is a source file, byte for byte: kept, not re-encoded' if copied else 'matches no source file: re-encoded'}")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (2 shared cores: > 1 means "
          f"neighbours competed: wall times then include waiting for the core; 'cpu s' is the CPU time of the "
          f"whole process tree, which neighbours do not inflate)")
    print()
    print("commands timed (full run; the tiny run is the same on the set of", args.tiny, "pairs):")
    for tool, line in commands.items():
        print(f"  {tool}: {line}")
    print("made by:", shell_line([sys.executable, str(Path(__file__).resolve()), *argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
