"""The perceptual hash of dedup: imagehash.phash's bits, without imagehash, deterministic on flat images."""
import json
import random

import imagehash
import pytest
from PIL import Image

from tuwen.pipeline.sample import picture
from tuwen.transforms.dedup import perceptual_hash


def _reference(im) -> str:
    return str(imagehash.phash(im))


def test_the_hash_is_imagehash_phash_on_generated_pictures():
    rng = random.Random(7)
    ims = [picture(rng, rng.choice((64, 200, 333)), rng.choice((48, 150, 256)), rng.choice(("RGB", "L")))
           for _ in range(60)]
    ims += [im.convert("RGBA") for im in ims[:5]] + [im.reduce(8) for im in ims[:5] if min(im.size) >= 64]
    assert [perceptual_hash(im) for im in ims] == [_reference(im) for im in ims]


@pytest.mark.slow
def test_the_hash_is_imagehash_phash_on_photos(shared_data):
    # Every photo of the shared set, in full and at 1/8 scale (the preview a run hashes): the same 64 bits.
    rows = [json.loads(line) for line in open(shared_data / "flickr8k_cn" / "pairs.jsonl", encoding="utf-8")]
    paths = sorted({shared_data / "flickr8k_cn" / r["image"] for r in rows})
    assert len(paths) >= 2000
    differ = []
    for path in paths:
        with Image.open(path) as im:
            im = im.convert("RGB")
            for version in (im, im.reduce(8)):
                if perceptual_hash(version) != _reference(version):
                    differ.append(path.name)
    assert differ == []


def test_a_flat_image_hashes_the_same_everywhere():
    # All its low frequencies but the mean are zero; unrounded, the last bits of the products would pick the bits.
    assert perceptual_hash(Image.new("RGB", (97, 61), (0, 0, 0))) == "0" * 16  # no coefficient above zero
    for colour in ((120, 130, 140), (255, 255, 255)):  # only the mean's
        assert perceptual_hash(Image.new("RGB", (97, 61), colour)) == "8" + "0" * 15
