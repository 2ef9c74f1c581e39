"""Reading training and evaluation data: WebDataset shards (the pipeline's format) and JSONL/Parquet manifests.

Shard specs: brace patterns and globs, several joined with ``::`` (webdataset's and open_clip's convention).
A shard sample is ``KEY.jpg`` + ``KEY.txt`` (+ optional ``KEY.gen.txt``, ``KEY.json``).

The training stream is deterministic given (seed, rank, worker count) and resumable: shards are shuffled per epoch
with a seeded RNG, split across ranks and loader workers, passed through a seeded shuffle buffer, and a resumed run
skips the samples it already consumed *before* decoding them. Caption augmentation draws from an RNG seeded by
(seed, epoch, key), so the choice does not depend on how far the stream was skipped; so does the optional image
augmentation (a random resized crop, ``--image-aug``), for the same reason and so that worker count and resume do
not change which crop a sample gets.
"""
from __future__ import annotations

import glob
import io
import json
import math
import os
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import IterableDataset, get_worker_info

from tuwen.transforms.shards import SIZES_NAME

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
MANIFEST_EXTS = (".jsonl", ".json", ".parquet")


def read_shard_list(path: str) -> list[str]:
    """A ``.txt`` shard list (``tuwen nightly``'s manifest.txt): one shard path a line, relative ones to the list's
    folder; blank lines and ``#`` comments skipped."""
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as fh:
        lines = [line.strip() for line in fh]
    return [line if os.path.isabs(line) or "://" in line else os.path.join(folder, line)
            for line in lines if line and not line.startswith("#")]


def expand_shards(spec: str) -> list[str]:
    """``a/{000000..000009}.tar::b/*.tar`` -> list of paths (globs sorted; braces in order); a part ending in
    ``.txt`` is a shard list (:func:`read_shard_list`)."""
    from webdataset.shardlists import expand_urls

    urls: list[str] = []
    for part in spec.split("::"):
        if part.endswith(".txt"):
            urls.extend(read_shard_list(part))
            continue
        for url in expand_urls(part):
            if any(c in url for c in "*?["):
                urls.extend(sorted(glob.glob(url)))
            else:
                urls.append(url)
    return urls


def is_manifest(spec: str) -> bool:
    return spec.endswith(MANIFEST_EXTS) and "::" not in spec


def _split_key(name: str) -> tuple[str, str]:
    base = os.path.basename(name)
    key, _, ext = base.partition(".")  # keys have no dots (the pipeline's contract); everything after is the field
    prefix = os.path.dirname(name)
    return (f"{prefix}/{key}" if prefix else key), ext.lower()


def iter_tar_samples(path: str) -> Iterator[dict]:
    """Samples of one tar in member order: {"__key__", "__url__", ext: bytes, ...}."""
    current: dict | None = None
    with tarfile.open(path, "r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, ext = _split_key(member.name)
            data = tar.extractfile(member).read()
            if current is None or current["__key__"] != key:
                if current is not None:
                    yield current
                current = {"__key__": key, "__url__": path}
            current[ext] = data
    if current is not None:
        yield current


def count_samples(urls: list[str]) -> int:
    """Samples in the shards: from ``sizes.json`` next to them when it names every shard, else by reading headers."""
    total, missing = 0, []
    sizes_cache: dict[str, dict] = {}
    for url in urls:
        folder = os.path.dirname(url)
        if folder not in sizes_cache:
            p = Path(folder) / SIZES_NAME
            sizes_cache[folder] = json.loads(p.read_text()) if p.is_file() else {}
        n = sizes_cache[folder].get(os.path.basename(url))
        if n is None:
            missing.append(url)
        else:
            total += int(n)
    for url in missing:
        with tarfile.open(url, "r|*") as tar:
            total += len({_split_key(m.name)[0] for m in tar if m.isfile() and _split_key(m.name)[1] == "txt"})
    return total


def choose_caption(sample: dict, caption_aug: float, seed: int, epoch: int) -> str:
    """The original caption, or (with probability ``caption_aug``) the generated one when the sample has one: a
    sample without ``gen.txt``, or with a blank one, always keeps its own caption."""
    text = sample["txt"].decode("utf-8")
    gen = sample.get("gen.txt")
    if gen and gen.strip() and caption_aug > 0:
        rng = random.Random(f"{seed}:{epoch}:{sample['__key__']}")
        if rng.random() < caption_aug:
            return gen.decode("utf-8")
    return text


def crop_box(width: int, height: int, min_scale: float, rng: random.Random) -> tuple[int, int, int, int]:
    """A random-resized-crop box (left, top, w, h): area in [min_scale, 1] of the image, aspect ratio in [3/4, 4/3]
    (log-uniform), drawn from ``rng`` (torchvision's RandomResizedCrop rule, 10 tries, then the whole image)."""
    import math

    area = width * height
    for _ in range(10):
        target = area * rng.uniform(min_scale, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    return 0, 0, width, height


def square_crop_box(width: int, height: int, sample_key: str, min_scale: float, seed: int,
                    epoch: int) -> tuple[int, int, int] | None:
    """The random square crop (left, top, side) of a sample, seeded by (seed, epoch, key); None when off."""
    if min_scale <= 0 or min_scale >= 1:
        return None
    rng = random.Random(f"{seed}:{epoch}:{sample_key}:crop")
    left, top, w, h = crop_box(width, height, min_scale, rng)
    side = min(w, h)  # the model's transform then resizes the short side and centre-crops: keep a square box
    return left + (w - side) // 2, top + (h - side) // 2, side


def augment_image(image, sample_key: str, min_scale: float, seed: int, epoch: int):
    """Random resized crop (before the model's resize/centre-crop), seeded by (seed, epoch, key); off at 0."""
    box = square_crop_box(image.width, image.height, sample_key, min_scale, seed, epoch)
    if box is None:
        return image
    left, top, side = box
    return image.crop((left, top, left + side, top + side))


def decode_image(data: bytes):
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    return im.convert("RGB")


def training_image(data: bytes, sample_key: str, min_scale: float, seed: int, epoch: int, min_side: int = 0):
    """:func:`augment_image` of :func:`decode_image`, decoded no larger than needed: a JPEG is decoded at 1/2, 1/4
    or 1/8 scale (libjpeg's DCT scaling, ``Image.draft``) when the part the model will see still has at least
    ``min_side`` pixels on its short side, which saves most of the decoding and resizing work (the loader worker
    competes with the training step for this machine's cores). The same crop region as at full size; pixels differ
    only by the resampling. ``min_side`` 0: full decode."""
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    width, height = im.size
    box = square_crop_box(width, height, sample_key, min_scale, seed, epoch)
    region = box[2] if box else min(width, height)
    factor = 1.0
    if min_side > 0 and im.format == "JPEG" and region >= 2 * min_side:
        keep = min_side / region  # the smallest size ratio that keeps min_side pixels across the region
        im.draft("RGB", (max(1, math.ceil(width * keep)), max(1, math.ceil(height * keep))))
        factor = width / im.size[0]
    im = im.convert("RGB")
    if factor == 1.0:
        return augment_image(im, sample_key, min_scale, seed, epoch)
    if box is None:
        return im
    left, top, side = (v / factor for v in box)
    return im.resize((min_side, min_side), Image.BICUBIC, box=(left, top, left + side, top + side))


def _image_bytes(sample: dict) -> bytes | None:
    for ext in IMAGE_EXTS:
        if ext in sample:
            return sample[ext]
    return None


@dataclass
class StreamConfig:
    urls: list
    batch_size: int            # per rank
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    shuffle_buffer: int = 1000
    caption_aug: float = 0.0   # 0 = off here; `tuwen train`'s defaults are in cli.py
    image_aug: float = 0.0     # random-resized-crop minimum area share (0 = off)
    decode_side: int = 0       # decode JPEGs at a reduced scale that keeps this many pixels (the model's input size)
    skip_batches: int = 0      # batches this rank already consumed (resume)


class TrainStream(IterableDataset):
    """Endless stream of (pixels [B,3,H,W], token ids [B,L]) batches for one rank, epoch after epoch."""

    def __init__(self, cfg: StreamConfig, preprocess, tokenizer):
        self.cfg, self.preprocess, self.tokenizer = cfg, preprocess, tokenizer

    def _raw_samples(self, worker: int, workers: int) -> Iterator[tuple[int, dict]]:
        c = self.cfg
        slots, slot = c.world_size * workers, c.rank * workers + worker
        epoch = 0
        while True:
            urls = list(c.urls)
            random.Random(c.seed * 100003 + epoch).shuffle(urls)  # same order on every rank
            by_shard = len(urls) >= slots
            mine = urls[slot::slots] if by_shard else urls
            buffer: list[dict] = []
            rng = random.Random(f"{c.seed}:{epoch}:{slot}")
            produced = 0
            index = 0
            for url in mine:
                for sample in iter_tar_samples(url):
                    if "txt" not in sample or _image_bytes(sample) is None:
                        continue
                    if not by_shard:
                        index += 1
                        if (index - 1) % slots != slot:
                            continue
                    if c.shuffle_buffer > 1:
                        buffer.append(sample)
                        if len(buffer) >= c.shuffle_buffer:
                            j = rng.randrange(len(buffer))
                            buffer[j], buffer[-1] = buffer[-1], buffer[j]
                            produced += 1
                            yield epoch, buffer.pop()
                    else:
                        produced += 1
                        yield epoch, sample
            rng.shuffle(buffer)
            for sample in buffer:
                produced += 1
                yield epoch, sample
            if produced == 0:
                raise RuntimeError(f"no usable samples (jpg+txt) for rank {c.rank} worker {worker} in {c.urls[:3]}...")
            epoch += 1

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        c = self.cfg
        # The DataLoader takes batches round-robin from workers: of the first k batches, worker w made these.
        skip = sum(1 for k in range(c.skip_batches) if k % workers == worker) * c.batch_size
        images, texts = [], []
        for n, (epoch, sample) in enumerate(self._raw_samples(worker, workers)):
            if n < skip:
                continue
            image = training_image(_image_bytes(sample), sample["__key__"], c.image_aug, c.seed, epoch, c.decode_side)
            images.append(self.preprocess(image))
            texts.append(choose_caption(sample, c.caption_aug, c.seed, epoch))
            if len(images) == c.batch_size:
                yield torch.stack(images), self.tokenizer(texts)
                images, texts = [], []


def make_train_loader(cfg: StreamConfig, preprocess, tokenizer, workers: int):
    from torch.utils.data import DataLoader

    ds = TrainStream(cfg, preprocess, tokenizer)
    # Its own generator, so creating the iterator does not draw from the global RNG that dropout uses (resume
    # creates the iterator at a different point of the RNG stream than the uninterrupted run did).
    kwargs = dict(batch_size=None, num_workers=workers, generator=torch.Generator().manual_seed(cfg.seed))
    if workers > 0:
        kwargs.update(prefetch_factor=2, persistent_workers=False)
    return DataLoader(ds, **kwargs)


# ---------------------------------------------------------------- evaluation data


@dataclass
class EvalSet:
    """Distinct images, all captions, and which image each caption belongs to (plus optional labels)."""
    images: list            # callables/bytes -> PIL image loaders (one per distinct image)
    captions: list          # str
    caption_image: list     # int index into images, per caption
    labels: list | None = None  # per image, when the manifest has a ``label`` column


def _read_manifest_rows(path: str) -> list[dict]:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json") and text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _file_loader(path: str):
    return lambda: decode_image(Path(path).read_bytes())


def _bytes_loader(data: bytes):
    return lambda: decode_image(data)


def load_eval_set(spec: str) -> EvalSet:
    """Read a shard spec or a manifest. Pairs sharing an image (same ``sha256`` in shards, same ``image`` in a
    manifest) become one image with several captions; a manifest row may carry a ``captions`` list."""
    images, captions, owner, labels = [], [], [], []
    index: dict[str, int] = {}
    has_label = False
    if is_manifest(spec):
        root = os.path.dirname(os.path.abspath(spec))
        for row in _read_manifest_rows(spec):
            if row.get("image_bytes") is not None:
                import hashlib

                ident = "sha256:" + hashlib.sha256(row["image_bytes"]).hexdigest()
                loader = _bytes_loader(row["image_bytes"])
            else:
                p = row["image"]
                p = p if os.path.isabs(p) else os.path.join(root, p)
                ident, loader = os.path.normpath(p), _file_loader(p)
            if ident not in index:
                index[ident] = len(images)
                images.append(loader)
                labels.append(row.get("label"))
                has_label |= row.get("label") is not None
            texts = list(row.get("captions") or [])
            if row.get("text"):
                texts.insert(0, row["text"])
            for t in texts:
                captions.append(t)
                owner.append(index[ident])
    else:
        for url in expand_shards(spec):
            for sample in iter_tar_samples(url):
                data = _image_bytes(sample)
                if data is None or "txt" not in sample:
                    continue
                meta = json.loads(sample["json"]) if "json" in sample else {}
                ident = meta.get("sha256") or sample["__key__"]
                if ident not in index:
                    index[ident] = len(images)
                    images.append(_bytes_loader(data))
                    labels.append(meta.get("label"))
                    has_label |= meta.get("label") is not None
                captions.append(sample["txt"].decode("utf-8"))
                owner.append(index[ident])
    return EvalSet(images, captions, owner, labels if has_label else None)
