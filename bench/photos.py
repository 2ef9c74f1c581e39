"""Benchmark photos: real-size JPEGs made from real photos, with Chinese captions, for the pipeline benchmarks.

The sources are the photographs that scikit-image ships inside its wheel (astronaut, cat, coffee, rocket, Hubble
field, motorcycle, retina, ...). Each benchmark photo is one source, cropped at a random place and scale, maybe
mirrored, colour-jittered, resized to a real-world size about 1024 px wide (1024x768, 1024x683, 768x1024, ...),
given a little film grain (upscaled 512-px sources are otherwise too smooth to compress like real photos) and saved
as a JPEG at quality 85-95. Photo i depends only on (seed, i), so a set of N photos is a prefix of a set of 4N.

Layout under --out (default bench/_work/photos):
    images/000000.jpg ...                       the photo pool, grown on demand and reused between runs
    sets/n{N}/pairs.jsonl                        tuwen's manifest: {"id", "text", "image": absolute path}
    sets/n{N}/img2dataset/urls.jsonl             the same pairs for img2dataset: {"url": "file://...", "caption", "id"}
    sets/n{N}-pool{P}/...                        N pairs over the first P photos (--pool; memory runs on many pairs)
Captions come from templates and are all valid (Chinese, short), so nearly every pair survives the filters.

scikit-image is not a tuwen dependency: only its data files are needed, so when `skimage` is not importable the
wheel is fetched with `pip download --no-deps scikit-image==0.26.0` into bench/_work/skimage-wheel and the data
folder is unpacked from it (no scipy, no venv).

    .venv/bin/python bench/photos.py --n 5000
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
DEFAULT_OUT = WORK / "photos"
SKIMAGE_PIN = "scikit-image==0.26.0"
# Bump when the recipe changes: the pool is regenerated when its recorded recipe differs.
RECIPE_VERSION = 1

# Real photographs in scikit-image's wheel, with what a caption may say about them.
SOURCES = {
    "astronaut.png": ["一位宇航员", "身穿宇航服的女宇航员", "美国国旗前的宇航员"],
    "chelsea.png": ["一只橘猫", "趴着休息的小猫", "毛茸茸的猫咪"],
    "coffee.png": ["一杯咖啡", "白色杯子里的拿铁", "桌上的热咖啡"],
    "hubble_deep_field.jpg": ["深空中的星系", "哈勃望远镜拍到的星空", "遥远的星系团"],
    "ihc.png": ["显微镜下的组织切片", "染色的细胞切片", "免疫组化染色图像"],
    "motorcycle_left.png": ["一辆红色摩托车", "停在车库里的摩托车", "摩托车的侧面"],
    "motorcycle_right.png": ["一辆摩托车", "车库里的机车", "停放的红色摩托"],
    "retina.jpg": ["眼底视网膜照片", "视网膜上的血管", "医学眼底图像"],
    "rocket.jpg": ["发射台上的火箭", "即将升空的火箭", "航天发射场"],
    "camera.png": ["拿着相机的摄影师", "草地上的摄影师", "黑白人像照片"],
    "moon.png": ["月球表面的环形山", "灰色的月面", "月亮的特写"],
    "coins.png": ["桌上的一堆硬币", "散落的旧硬币", "各种硬币"],
    "brick.png": ["一面砖墙", "砖墙的纹理", "老房子的墙壁"],
    "grass.png": ["一片草地", "茂密的青草", "草坪的纹理"],
    "gravel.png": ["地上的碎石", "石子路面", "砂石地面"],
    "clock_motion.png": ["墙上的时钟", "模糊的钟表", "一只旧时钟"],
}
# Real-world sizes, about 1024 px on the long side (width, height). Aspect ratios stay within 2 and the short side
# over 256, so every photo passes tuwen's default image filters.
SIZES = [(1024, 768), (1024, 683), (768, 1024), (1024, 1024), (1024, 576), (683, 1024), (1024, 819), (960, 1024)]
QUALITIES = [85, 88, 90, 92, 95]
GRAIN_SIGMA = 5.0

STYLES = ["高清摄影", "自然光", "暖色调", "黑白风格", "近景特写", "广角镜头", "复古滤镜", "午后阳光下"]
MOODS = ["看起来很安静。", "画面很干净。", "色彩很鲜艳！", "让人印象深刻。", "细节清晰可见。", "氛围温馨。"]
TIMES = ["清晨", "傍晚", "夜里", "２０２３年夏天", "周末", "冬天"]
TEMPLATES = [
    "{subj}，{style}。",
    "这是一张{style}的{subj}照片",
    "{time}拍摄的{subj}，{mood}",
    "{subj}的特写（{style}）",
    "《{subj}》：{mood}",
    "图片内容：{subj}；拍摄时间：{time}。",
    "{subj}",
    "在{time}，我们看到了{subj}，{mood}",
]


def skimage_data_dir() -> Path:
    """Folder of scikit-image's bundled photos: the installed package's, else unpacked from its wheel."""
    try:
        import skimage.data  # noqa: F401  (only its folder is used)

        return Path(skimage.data.__file__).parent
    except ImportError:
        pass
    unpacked = WORK / "skimage-wheel" / "skimage" / "data"
    if all((unpacked / name).exists() for name in SOURCES):
        return unpacked
    wheel_dir = WORK / "skimage-wheel"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    print(f"photos: fetching the {SKIMAGE_PIN} wheel for its bundled photos ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                    "-d", str(wheel_dir), SKIMAGE_PIN], check=True, stderr=subprocess.DEVNULL)
    wheels = sorted(wheel_dir.glob("scikit_image-*.whl"))
    if not wheels:
        raise SystemExit(f"photos: pip download {SKIMAGE_PIN} gave no wheel in {wheel_dir}")
    with zipfile.ZipFile(wheels[-1]) as zf:
        for name in SOURCES:
            zf.extract(f"skimage/data/{name}", wheel_dir)
    return unpacked


def load_sources(data_dir: Path) -> list[tuple[str, Image.Image]]:
    """The source photos as RGB; grey ones tinted (colourised) at use time, so they are kept as L here."""
    out = []
    for name in SOURCES:
        im = Image.open(data_dir / name)
        im.load()
        out.append((name, im.convert("RGB") if im.mode not in ("L", "RGB") else im))
    return out


def _grain_tiles(seed: int, count: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, GRAIN_SIGMA, size=(1100, 1100, 3)).astype(np.int16) for _ in range(count)]


def make_photo(i: int, seed: int, sources, grain, qualities=QUALITIES) -> tuple[bytes, str]:
    """Photo number i (JPEG bytes) and the name of its source; depends only on (seed, i)."""
    rng = random.Random(f"{seed}:{i}")
    name, src = sources[rng.randrange(len(sources))]
    width, height = SIZES[rng.randrange(len(SIZES))]
    sw, sh = src.size
    # Largest crop of the target aspect ratio that fits, then a random 55-100 % of it at a random place.
    target_ratio = width / height
    cw, ch = (sw, sw / target_ratio) if sw / sh <= target_ratio else (sh * target_ratio, sh)
    scale = rng.uniform(0.55, 1.0)
    cw, ch = cw * scale, ch * scale
    x0, y0 = rng.uniform(0, sw - cw), rng.uniform(0, sh - ch)
    im = src.crop((round(x0), round(y0), round(x0 + cw), round(y0 + ch)))
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
    if im.mode == "L":
        dark = tuple(rng.randrange(0, 60) for _ in range(3))
        light = tuple(rng.randrange(200, 256) for _ in range(3))
        im = ImageOps.colorize(im, dark, light)
    im = im.resize((width, height), Image.BICUBIC)
    im = ImageEnhance.Color(im).enhance(rng.uniform(0.7, 1.3))
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.85, 1.15))
    tile = grain[rng.randrange(len(grain))]
    dy, dx = rng.randrange(1100 - height + 1), rng.randrange(1100 - width + 1)
    arr = np.asarray(im, dtype=np.int16) + tile[dy:dy + height, dx:dx + width]
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=qualities[rng.randrange(len(qualities))])
    return buf.getvalue(), name


def caption(i: int, seed: int, source_name: str) -> str:
    """A valid Chinese caption for photo i, from templates; deterministic."""
    rng = random.Random(f"caption:{seed}:{i}")
    return rng.choice(TEMPLATES).format(
        subj=rng.choice(SOURCES[source_name]), style=rng.choice(STYLES), mood=rng.choice(MOODS),
        time=rng.choice(TIMES))


def _meta(seed: int, qualities=QUALITIES) -> dict:
    return {"recipe": RECIPE_VERSION, "seed": seed, "sizes": SIZES, "qualities": list(qualities), "grain": GRAIN_SIGMA,
            "sources": sorted(SOURCES)}


def ensure_photos(n: int, out: Path = DEFAULT_OUT, seed: int = 0, quiet: bool = False, pool: int = 0,
                  qualities=QUALITIES) -> Path:
    """Make sure the manifests of a set of n pairs exist, and their photos; return the set's folder. Each photo's
    JPEG quality is drawn from ``qualities`` (another mix belongs in another ``out``: a pool is one recipe).

    pool=0: pair i has photo i (set n{n}). pool=P: pair i has photo i % P (set n{n}-pool{P}), for memory runs
    on many pairs without generating (and storing) as many photos; ids and captions stay distinct.
    """
    if pool and pool < n:
        ensure_photos(pool, out, seed, quiet, qualities=qualities)  # the pool's photos (and its own set)
        source_of = json.loads((out / "sources.json").read_text())
        return write_set(n, out, seed, source_of, pool)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    meta_path = out / "meta.json"
    meta = _meta(seed, qualities)
    if meta_path.exists() and json.loads(meta_path.read_text()) != json.loads(json.dumps(meta)):
        if not quiet:
            print(f"photos: recipe or seed changed; regenerating the pool in {images}", file=sys.stderr)
        for p in images.glob("*.jpg"):
            p.unlink()
        for p in (out / "sets").glob("n*/**/*.jsonl"):
            p.unlink()
    meta_path.write_text(json.dumps(meta))
    sources_path = out / "sources.json"  # photo index -> source name, so captions need no regeneration
    source_of = json.loads(sources_path.read_text()) if sources_path.exists() else {}
    sources = grain = None
    started, made = time.time(), 0
    for i in range(n):
        path = images / f"{i:06d}.jpg"
        if path.exists() and str(i) in source_of:
            continue
        if sources is None:
            sources = load_sources(skimage_data_dir())
            grain = _grain_tiles(seed)
        data, name = make_photo(i, seed, sources, grain, qualities)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        source_of[str(i)] = name
        made += 1
        if not quiet and made % 500 == 0:
            print(f"photos: {made} made ({i + 1}/{n}), {made / (time.time() - started):.0f}/s", file=sys.stderr)
            sources_path.write_text(json.dumps(source_of))
    if made:
        sources_path.write_text(json.dumps(source_of))
    return write_set(n, out, seed, source_of)


def write_set(n: int, out: Path, seed: int, source_of: dict, pool: int = 0) -> Path:
    """Write the two manifests of n pairs (same ids, same captions, same files); pair i has photo i % pool."""
    set_dir = out / "sets" / (f"n{n}-pool{pool}" if pool else f"n{n}")
    (set_dir / "img2dataset").mkdir(parents=True, exist_ok=True)
    images = (out / "images").resolve()
    tuwen_lines, i2d_lines = [], []
    for i in range(n):
        photo = i % pool if pool else i
        path = images / f"{photo:06d}.jpg"
        text = caption(i, seed, source_of[str(photo)])
        pair_id = f"bench-{i:06d}"
        tuwen_lines.append(json.dumps({"id": pair_id, "text": text, "image": str(path)}, ensure_ascii=False))
        i2d_lines.append(json.dumps({"url": path.as_uri(), "caption": text, "id": pair_id}, ensure_ascii=False))
    _write_if_changed(set_dir / "pairs.jsonl", "\n".join(tuwen_lines) + "\n")
    _write_if_changed(set_dir / "img2dataset" / "urls.jsonl", "\n".join(i2d_lines) + "\n")
    return set_dir


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def parse_qualities(text: str) -> list[int]:
    """'75,80,85' -> [75, 80, 85] (argparse type)."""
    values = [int(q) for q in text.split(",") if q.strip()]
    if not values or not all(1 <= q <= 100 for q in values):
        raise argparse.ArgumentTypeError(f"qualities must be 1-100, comma-separated: {text!r}")
    return values


def set_summary(set_dir: Path) -> str:
    """One line: how many pairs and distinct photos, their size, and a digest of the photos' bytes in pair order."""
    rows = [json.loads(line) for line in (set_dir / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    sizes = [os.path.getsize(r["image"]) for r in rows]
    digest = hashlib.sha256()
    for r in rows:
        digest.update(Path(r["image"]).read_bytes())
    distinct = len({r["image"] for r in rows})
    return (f"{len(rows)} pairs over {distinct} photos, {sum(sizes) / 1e6:.1f} MB read in all, mean "
            f"{sum(sizes) / len(sizes) / 1e3:.0f} KB, sha256 of all bytes {digest.hexdigest()[:16]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="number of photos/pairs (default 5000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0, help="seed of crops, sizes, grain and captions (default 0)")
    parser.add_argument("--pool", type=int, default=0,
                        help="reuse the first POOL photos for the n pairs (pair i has photo i %% POOL); 0: one each")
    parser.add_argument("--qualities", type=parse_qualities, default=QUALITIES,
                        help=f"JPEG qualities to draw from, comma-separated (default {','.join(map(str, QUALITIES))}); "
                             "another mix needs another --out")
    args = parser.parse_args(argv)
    set_dir = ensure_photos(args.n, args.out, args.seed, pool=args.pool, qualities=args.qualities)
    print(f"photos: {set_summary(set_dir)}")
    print(f"tuwen manifest:       {set_dir / 'pairs.jsonl'}")
    print(f"img2dataset manifest: {set_dir / 'img2dataset' / 'urls.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
