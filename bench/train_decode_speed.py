"""The trainer's image loading: full decode against the reduced-scale JPEG decode (``training_image`` with the
model's input size), per image, on real-size photos (bench/photos.py: ~1024 px JPEGs) and on Flickr8k-CN's 224 px
photos, in this one process. Loading = decode + the random square crop + the model's preprocessing to a tensor.

    .venv/bin/python bench/train_decode_speed.py [--n 300] [--size 96] [--image-aug 0.5]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "_work"


def main(argv=None) -> int:
    from tuwen.trainer.data import augment_image, decode_image, training_image
    from tuwen.trainer.model import image_preprocess

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="images per set")
    ap.add_argument("--size", type=int, default=96, help="model input size (tiny 96, small 160, base 224)")
    ap.add_argument("--image-aug", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    photos = sorted((WORK / "photos" / "images").glob("*.jpg"))[: args.n]
    if len(photos) < args.n:
        import subprocess

        subprocess.run([sys.executable, str(REPO / "bench" / "photos.py"), "--n", str(args.n)], check=True)
        photos = sorted((WORK / "photos" / "images").glob("*.jpg"))[: args.n]
    flickr = sorted((REPO.parent / "shared" / "data" / "flickr8k_cn").rglob("*.jpg"))[: args.n]
    pre = image_preprocess(args.size)
    for label, files in (("real-size photos (~1024 px)", photos), ("Flickr8k-CN (224 px)", flickr)):
        blobs = [f.read_bytes() for f in files]
        if not blobs:
            print(f"{label}: none found, skipped")
            continue

        def full():
            for i, b in enumerate(blobs):
                pre(augment_image(decode_image(b), f"k{i}", args.image_aug, 0, 0))

        def reduced():
            for i, b in enumerate(blobs):
                pre(training_image(b, f"k{i}", args.image_aug, 0, 0, args.size))

        best = {}
        for name, fn in (("full", full), ("reduced", reduced)):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            best[name] = min(times) / len(blobs) * 1000
        print(f"{label}, {len(blobs)} images, input {args.size}, --image-aug {args.image_aug}: full decode "
              f"{best['full']:.2f} ms/image, reduced-scale decode {best['reduced']:.2f} ms/image -> "
              f"{best['full'] / best['reduced']:.2f}x faster")
    print("command: .venv/bin/python bench/train_decode_speed.py " + " ".join(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
