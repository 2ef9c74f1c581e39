"""Small shard writer and a synthetic, learnable image-text set, for tests, demos and benchmarks.

``write_shards`` writes the pipeline's shard format through the pipeline's own writer
(:mod:`tuwen.transforms.shards`: ``KEY.jpg``, ``KEY.txt``, ``KEY.json``, optional ``KEY.gen.txt``, samples in key
order, the same tar headers, ``sizes.json``), so the trainer can be exercised before (and independently of) a Beam
run on the very shards a run writes.
``synthetic_pairs`` draws coloured shapes captioned in Chinese ("红色的圆形"), which a tiny model learns in seconds.
"""
from __future__ import annotations

import io
import random
from pathlib import Path

from tuwen.transforms import shards as fmt

COLOURS = {"红色": (220, 30, 30), "绿色": (30, 180, 40), "蓝色": (30, 60, 220), "黄色": (230, 210, 20),
           "紫色": (140, 40, 180), "黑色": (15, 15, 15)}
SHAPES = ("圆形", "方形", "三角形")
# The fields of a sample dict that are not extra metadata (everything else goes to KEY.json as it is).
_SAMPLE_FIELDS = ("id", "jpg", "text", "gen_text", "source", "orig_width", "orig_height")


def encode_jpeg(image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write_shards(samples, out_dir: str | Path, shard_size: int = fmt.DEFAULT_SHARD_SIZE) -> list[Path]:
    """samples: dicts with ``id``, ``jpg`` (bytes), ``text``, optional ``gen_text``, ``source``, ``orig_width``,
    ``orig_height`` and any extra JSON fields (``label``...). Returns the shard paths."""
    from PIL import Image

    records = []
    for s in samples:
        im = Image.open(io.BytesIO(s["jpg"]))
        record = fmt.sample_record(s["id"], s.get("source", "synthetic"), s["text"], s["jpg"], im.width, im.height,
                                   s.get("orig_width"), s.get("orig_height"), gen_text=s.get("gen_text"),
                                   extra={k: v for k, v in s.items() if k not in _SAMPLE_FIELDS})
        records.append((record, s["jpg"]))
    return fmt.write_shard_folder(records, out_dir, shard_size)


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
