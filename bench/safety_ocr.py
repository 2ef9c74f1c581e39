"""Image safety, the ocr check: recall on rendered sensitive words, false drops on clean photos, and cost per image.

(a) Recall. Over the first --n-recall bench photos (bench/photos.py: real photos, ~1024 px) each photo gets one word
    drawn on it, twice: a sensitive word (an entry of the shipped trusted lexicons, every category) and an everyday
    word (a 2-6 character phrase cut from the Flickr8k-CN human captions that the matcher does not mask as text).
    Font size (24, 36, 56 px), position, colour (white on a black outline, black, red) and the evasion of the
    sensitive word (plain, spaced 法 轮 功, traditional 法輪功, dotted 法.轮.功) rotate with the photo number. The
    written JPEG is what the pipeline would OCR (re-encoded at quality 90), read by the same functions the pipeline
    calls (tuwen.transforms.safety.read_image_text, then image_text_categories), with the shipped lexicons plus
    --lexicon ../shared/data/lexicons/sensitive_public_61k.txt. Goal: >= 0.9 of the sensitive ones rejected, <= 1 %
    of the everyday ones.
(b) False drops. `tuwen run --image-safety=ocr` over the 2,500 shared Flickr8k-CN photos (first human caption,
    `--min-side 200`) with the same lexicons: the share rejected as unsafe_image_text (goal <= 0.5 %), and the names.
(c) Cost. `tuwen run` on the first --n-cost bench photos with `--image-safety=nsfw` and with `--image-safety=nsfw,ocr`,
    both bound to one core: (CPU s with - CPU s without) / N against the rest of the per-pair work.

    .venv/bin/python bench/safety_ocr.py                        # all three (~25 min on one core)
    .venv/bin/python bench/safety_ocr.py --part recall --n-recall 500
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photos  # noqa: E402
from pipeline_benchkit import FLICKR, TUWEN, WORK, flickr_manifest, pinned, run_timed, shell_line  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
from pipeline_benchkit import SHARED_DATA as SHARED  # noqa: E402
PUBLIC_LIST = SHARED / "lexicons" / "sensitive_public_61k.txt"
OWORK = WORK / "safety-ocr"
SIZES = (24, 36, 56)
COLOURS = (((255, 255, 255), (0, 0, 0)), ((0, 0, 0), None), ((220, 30, 30), None))
EVASIONS = ("plain", "spaced", "traditional", "dotted")
RECALL_GOAL, EVERYDAY_GOAL, FALSE_DROP_GOAL = 0.9, 0.01, 0.005


def lexicon_words(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(category, entry) from the shipped trusted lexicons, categories in turn, 2-6 characters, Chinese only."""
    import re

    from tuwen.transforms.sensitive import SensitiveConfig, load_lexicons

    by_cat = {}
    for lexicon in load_lexicons(SensitiveConfig())[0]:  # the shipped lists
        name = lexicon.source.rsplit("/", 1)[-1]
        entries = [e for e in lexicon.entries if 2 <= len(e) <= 6 and re.fullmatch(r"[\u4e00-\u9fff]+", e)]
        if entries:
            by_cat[name.replace("sensitive_", "").rsplit(".", 1)[0]] = entries
    cats = sorted(by_cat)
    return [(cats[i % len(cats)], rng.choice(by_cat[cats[i % len(cats)]])) for i in range(n)]


def everyday_words(rng: random.Random, n: int, matcher, max_gap: int) -> list[str]:
    rows = [json.loads(l) for l in (SHARED / "flickr8k_cn" / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    out = []
    while len(out) < n:
        cap = rng.choice(rows)["captions"][0].strip("。，, ")
        if len(cap) < 4:
            continue
        k = rng.randint(2, min(6, len(cap)))
        start = rng.randrange(0, len(cap) - k + 1)
        word = cap[start:start + k]
        if all("\u4e00" <= c <= "\u9fff" for c in word) and not matcher.spans(word, max_gap):
            out.append(word)
    return out


def evade(word: str, how: str, to_traditional) -> str:
    if how == "spaced":
        return " ".join(word)
    if how == "dotted":
        return ".".join(word)
    if how == "traditional":
        return to_traditional(word)
    return word


def draw(photo: bytes, text: str, i: int, rng: random.Random) -> bytes:
    from PIL import Image, ImageDraw

    from tuwen.pipeline.sample import cjk_font

    im = Image.open(io.BytesIO(photo)).convert("RGB")
    size = SIZES[i % len(SIZES)]
    font = cjk_font(size)
    fill, stroke = COLOURS[(i // len(SIZES)) % len(COLOURS)]
    box = ImageDraw.Draw(im).textbbox((0, 0), text, font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    xy = (rng.randint(0, max(0, im.width - w - 8)), rng.randint(0, max(0, im.height - h - 8)))
    ImageDraw.Draw(im).text(xy, text, font=font, fill=fill, stroke_width=size // 12 if stroke else 0,
                            stroke_fill=stroke)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def recall(args) -> int:
    import opencc

    from tuwen.transforms.safety import image_text_categories, load_ocr, read_image_text
    from tuwen.transforms.text_steps import TextStepsConfig

    set_dir = photos.ensure_photos(args.n_recall, args.photos, quiet=True)
    paths = [json.loads(l)["image"] for l in (set_dir / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    sensitive = TextStepsConfig(lexicons=(str(PUBLIC_LIST),)).sensitive_words()
    matcher, gap = sensitive.matcher, sensitive.config.max_gap
    rng = random.Random(0)
    words = lexicon_words(rng, len(paths))
    everyday = everyday_words(rng, len(paths), matcher, gap)
    t2s = opencc.OpenCC("s2t")
    engine = load_ocr(1)
    hits, false_hits, misses, false_list = 0, 0, [], []
    by_evasion = {e: [0, 0] for e in EVASIONS}
    by_size = {s: [0, 0] for s in SIZES}
    started = time.process_time()
    for i, path in enumerate(paths):
        photo = Path(path).read_bytes()
        cat, word = words[i]
        how = EVASIONS[i % len(EVASIONS)]
        shown = evade(word, how, t2s.convert)
        found = read_image_text(engine, draw(photo, shown, i, random.Random(i)))
        hit = bool(image_text_categories(matcher, found, gap))
        hits += hit
        by_evasion[how][0] += hit
        by_evasion[how][1] += 1
        by_size[SIZES[i % len(SIZES)]][0] += hit
        by_size[SIZES[i % len(SIZES)]][1] += 1
        if not hit:
            misses.append((i, cat, shown, found.text.replace("\n", " | ")))
        plain = read_image_text(engine, draw(photo, everyday[i], i, random.Random(10_000 + i)))
        if image_text_categories(matcher, plain, gap):
            false_hits += 1
            false_list.append((i, everyday[i], plain.text.replace("\n", " | ")))
        if (i + 1) % 100 == 0:
            print(f"  {i + 1}/{len(paths)} photos, {(time.process_time() - started) / (2 * (i + 1)):.2f} s CPU an "
                  f"image", file=sys.stderr, flush=True)
    n = len(paths)
    print(f"(a) recall on {n} real ~1024 px photos, one word drawn on each (shipped lexicons + {PUBLIC_LIST.name}):")
    print(f"  sensitive words rejected: {hits}/{n} = {hits / n:.3f} "
          f"({'meets' if hits / n >= RECALL_GOAL else 'MISSES'} the >= {RECALL_GOAL} goal)")
    print("  by evasion: " + ", ".join(f"{e} {a}/{b}" for e, (a, b) in by_evasion.items()))
    print("  by font size: " + ", ".join(f"{s} px {a}/{b}" for s, (a, b) in by_size.items()))
    print(f"  everyday words rejected: {false_hits}/{n} = {false_hits / n:.3%} "
          f"({'meets' if false_hits / n <= EVERYDAY_GOAL else 'MISSES'} the <= {EVERYDAY_GOAL:.0%} goal)")
    for i, cat, shown, read in misses[:25]:
        print(f"    missed photo {i} ({cat}, {SIZES[i % len(SIZES)]} px): drew {shown!r}, read {read!r}")
    for i, word, read in false_list[:25]:
        print(f"    everyday photo {i}: drew {word!r}, read {read!r}")
    return 0


def tuwen_run(manifest_glob: str, out: Path, cpu, *extra) -> tuple[list[str], object]:
    cmd = pinned([str(TUWEN), "run", "--input", manifest_glob, "--output", str(out), "--overwrite",
                  "--progress-seconds", "0", *extra], cpu)
    return cmd, run_timed(cmd, log_path=out.parent / f"{out.name}.log")


def false_drops(args) -> int:
    import pyarrow.parquet as pq

    flickr = FLICKR
    manifest = OWORK / "flickr.jsonl"
    rows = range(flickr_manifest(manifest))
    out = OWORK / "flickr-out"
    cmd, res = tuwen_run(str(manifest), out, args.cpu, "--min-side", "200", "--image-safety=ocr", "--dedup", "off",
                         "--lexicon", str(PUBLIC_LIST))
    if res.returncode != 0:
        print(res.output_tail)
        return 1
    rejects = [r for p in glob.glob(f"{out}/rejects/*.parquet") for r in pq.read_table(p).to_pylist()]
    unsafe = sorted((r["id"], r["detail"]) for r in rejects if r["reason"] == "unsafe_image_text")
    stats = json.loads((out / "stats.json").read_text())
    checked = stats["read"] - sum(n for r, n in stats["rejected_by_reason"].items() if r != "unsafe_image_text")
    print(f"(b) false drops on {len(rows)} clean Flickr8k-CN photos: {len(unsafe)} of {checked} checked rejected as "
          f"unsafe_image_text = {len(unsafe) / checked:.2%} "
          f"({'meets' if len(unsafe) / checked <= FALSE_DROP_GOAL else 'MISSES'} the <= {FALSE_DROP_GOAL:.1%} goal)")
    for ident, detail in unsafe:
        print(f"    {flickr / 'images' / (ident + '.jpg')}  ({detail})")
    print(f"  other rejects: {stats['rejected_by_reason']}")
    print(f"  command: {shell_line(cmd)}  ({res.wall_s:.0f} s wall, {res.cpu_s:.0f} s CPU = "
          f"{res.cpu_s / len(rows) * 1000:.0f} ms a 224-px photo)")
    return 0


def cost(args) -> int:
    set_dir = photos.ensure_photos(args.n_cost, args.photos, quiet=True)
    print(f"(c) cost on one core: {photos.set_summary(set_dir)}")
    OWORK.mkdir(parents=True, exist_ok=True)
    runs = {}
    for label, flag in (("nsfw", "--image-safety=nsfw"), ("ocr", "--image-safety=nsfw,ocr")):
        out = OWORK / f"cost-{label}"
        shutil.rmtree(out, ignore_errors=True)
        cmd, res = tuwen_run(str(set_dir / "*.jsonl"), out, args.cpu, "--direct_num_workers", "1", flag)
        if res.returncode != 0:
            print(res.output_tail)
            return 1
        runs[label] = res
        print(f"  {shell_line(cmd)}\n    {res.wall_s:.1f} s wall, {res.cpu_s:.1f} s CPU, "
              f"{args.n_cost / res.wall_s:.1f} pairs/s", flush=True)
    n = args.n_cost
    without, with_ = runs["nsfw"].cpu_s / n * 1000, runs["ocr"].cpu_s / n * 1000
    print(f"  per pair: {without:.1f} ms CPU with nsfw only, {with_:.1f} ms with ocr too: ocr costs "
          f"{with_ - without:.0f} ms an image ({(with_ - without) / without:.1f}x the rest of the per-pair work, nsfw "
          f"included); whole command {n / runs['nsfw'].wall_s:.1f} -> {n / runs['ocr'].wall_s:.1f} pairs/s")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("all", "recall", "false-drops", "cost"), default="all")
    parser.add_argument("--n-recall", type=int, default=500, help="photos for the recall part (default 500)")
    parser.add_argument("--n-cost", type=int, default=2000, help="photos for the cost part (default 2000)")
    parser.add_argument("--cpu", type=int, default=0, help="the core every command is bound to (default 0)")
    parser.add_argument("--photos", type=Path, default=photos.DEFAULT_OUT, help="photo pool (bench/photos.py --out)")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # the recall part runs in this process
    rc = 0
    if args.part in ("all", "recall"):
        rc |= recall(args)
    if args.part in ("all", "false-drops"):
        rc |= false_drops(args)
    if args.part in ("all", "cost"):
        rc |= cost(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
