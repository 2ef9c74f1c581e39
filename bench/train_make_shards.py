"""Write Flickr8k-CN (../shared/data/flickr8k_cn) as pipeline-format WebDataset shards for the trainer benchmarks.

Each human caption is its own sample (id ``IMAGE#i``, text = caption i) and carries the machine translation of an
English caption as ``KEY.gen.txt`` (for ``--caption-aug``). Until the Beam pipeline lands this stands in for its
output; the format is the pipeline's (see trainer/synthetic.py).

    .venv/bin/python bench/train_make_shards.py --out bench/_work/flickr_shards
    -> OUT/train/{000000..000009}.tar (10,000-ish pairs of 2,000 images), OUT/val/... (500 images)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "flickr8k_cn"


def flickr_samples(root: Path, split: str, limit_images: int | None = None) -> list[dict]:
    """One sample per human caption of the split's images (at most ``limit_images`` images)."""
    from PIL import Image

    samples = []
    n_images = 0
    with open(root / "pairs.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["split"] != split:
                continue
            if limit_images is not None and n_images >= limit_images:
                break
            n_images += 1
            jpg = (root / row["image"]).read_bytes()
            with Image.open(root / row["image"]) as im:
                w, h = im.size
            mt = row.get("captions_mt") or []
            for i, caption in enumerate(row["captions"]):
                s = {"id": f"{row['image']}#{i}", "jpg": jpg, "text": caption, "source": "pairs.jsonl",
                     "orig_width": w, "orig_height": h}
                if i < len(mt) and mt[i]:
                    s["gen_text"] = mt[i]
                samples.append(s)
    return samples


def main(argv=None) -> int:
    sys.path.insert(0, str(REPO))
    from tuwen.trainer.synthetic import write_shards

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "_work" / "flickr_shards")
    p.add_argument("--shard-size", type=int, default=1000)
    p.add_argument("--limit-images", type=int, default=None)
    args = p.parse_args(argv)
    for split in ("train", "val"):
        samples = flickr_samples(args.root, split, args.limit_images)
        paths = write_shards(samples, args.out / split, args.shard_size)
        print(f"{split}: {len(samples)} pairs in {len(paths)} shards under {args.out / split}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
