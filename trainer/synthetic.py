"""Small shard writer and a synthetic, learnable image-text set, for tests, demos and benchmarks.

``write_shards`` writes the pipeline's shard format (issue 2, "Outputs"): ``KEY.jpg``, ``KEY.txt``, ``KEY.json``,
optional ``KEY.gen.txt``, KEY = first 16 hex of sha256(id), samples in key order, fixed tar headers, ``sizes.json``.
It exists so the trainer can be exercised before (and independently of) the Beam pipeline.
``synthetic_pairs`` draws coloured shapes captioned in Chinese ("红色的圆形"), which a tiny model learns in seconds.
"""
from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

COLOURS = {"红色": (220, 30, 30), "绿色": (30, 180, 40), "蓝色": (30, 60, 220), "黄色": (230, 210, 20),
           "紫色": (140, 40, 180), "黑色": (15, 15, 15)}
SHAPES = ("圆形", "方形", "三角形")


def sample_key(sample_id: str) -> str:
    return hashlib.sha256(sample_id.encode("utf-8")).hexdigest()[:16]


def encode_jpeg(image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write_shards(samples, out_dir: str | Path, shard_size: int = 1000) -> list[Path]:
    """samples: dicts with ``id``, ``jpg`` (bytes), ``text``, optional ``gen_text``, ``source``, ``orig_width``,
    ``orig_height`` and any extra JSON fields (``label``...). Returns the shard paths."""
    import webdataset as wds
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(samples, key=lambda s: sample_key(s["id"]))
    paths, sizes = [], {}
    for n, start in enumerate(range(0, len(rows), shard_size)):
        name = f"{n:06d}.tar"
        tmp = out / (name + ".tmp")
        with open(tmp, "wb") as f, wds.TarWriter(f, mtime=0, user="tuwen", group="tuwen", mode=0o444) as w:
            for s in rows[start : start + shard_size]:
                im = Image.open(io.BytesIO(s["jpg"]))
                meta = {"id": s["id"], "source": s.get("source", "synthetic"), "width": im.width,
                        "height": im.height, "orig_width": s.get("orig_width", im.width),
                        "orig_height": s.get("orig_height", im.height),
                        "sha256": hashlib.sha256(s["jpg"]).hexdigest()}
                meta.update({k: v for k, v in s.items()
                             if k not in ("id", "jpg", "text", "gen_text", "source", "orig_width", "orig_height")})
                rec = {"__key__": sample_key(s["id"]), "jpg": s["jpg"], "txt": s["text"],
                       "json": json.dumps(meta, ensure_ascii=False, sort_keys=True)}
                if s.get("gen_text"):
                    rec["gen.txt"] = s["gen_text"]
                w.write(rec)
        tmp.rename(out / name)
        paths.append(out / name)
        sizes[name] = len(rows[start : start + shard_size])
    (out / "sizes.json").write_text(json.dumps(sizes, indent=1), encoding="utf-8")
    return paths


def draw_shape(colour: str, shape: str, size: int, rng: random.Random):
    from PIL import Image, ImageDraw

    bg = tuple(rng.randrange(150, 256) for _ in range(3))
    im = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(im)
    r = rng.randrange(size // 5, size // 3)
    cx, cy = rng.randrange(r, size - r), rng.randrange(r, size - r)
    fill = COLOURS[colour]
    if shape == "圆形":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "方形":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    return im


def synthetic_pairs(n: int, size: int = 64, seed: int = 0, with_gen: bool = True) -> list[dict]:
    """n samples of coloured shapes; ``label`` is "颜色形状" (18 classes), text says it, gen_text paraphrases it."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
        im = draw_shape(colour, shape, size, rng)
        s = {"id": f"synthetic-{seed}-{i}", "jpg": encode_jpeg(im), "text": f"一个{colour}的{shape}",
             "label": f"{colour}{shape}"}
        if with_gen:
            s["gen_text"] = f"图中有{colour}{shape}"
        out.append(s)
    return out
