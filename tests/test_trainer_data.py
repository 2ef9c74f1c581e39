"""Shard specs, sample counting, caption augmentation, the training stream and evaluation sets."""
import json

import pytest
import torch

from tuwen.trainer.data import (StreamConfig, TrainStream, augment_image, choose_caption, crop_box, count_samples, expand_shards,
                                iter_tar_samples, load_eval_set)
from tuwen.trainer.synthetic import encode_jpeg, synthetic_pairs, write_shards
from tuwen.trainer.tokenizer import ChineseWordPieceTokenizer
from tuwen.transforms.shards import sample_key


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("d")
    write_shards(synthetic_pairs(40, size=32, seed=1), out, shard_size=16)
    return out


def test_shards_follow_the_pipeline_format(shard_dir):
    samples = list(iter_tar_samples(str(shard_dir / "000000.tar")))
    assert len(samples) == 16
    keys = [s["__key__"] for s in samples]
    assert keys == sorted(keys) and all(len(k) == 16 and "." not in k for k in keys)
    meta = json.loads(samples[0]["json"])
    assert sample_key(meta["id"]) == keys[0]
    for field in ("id", "source", "width", "height", "orig_width", "orig_height", "sha256"):
        assert field in meta
    assert set(samples[0]) >= {"jpg", "txt", "json", "gen.txt"}
    assert json.loads((shard_dir / "sizes.json").read_text()) == {"000000.tar": 16, "000001.tar": 16,
                                                                  "000002.tar": 8}


def test_expand_shards_braces_globs_and_double_colon(shard_dir):
    d = str(shard_dir)
    assert expand_shards(f"{d}/{{000000..000001}}.tar") == [f"{d}/000000.tar", f"{d}/000001.tar"]
    assert expand_shards(f"{d}/*.tar") == [f"{d}/00000{i}.tar" for i in range(3)]
    assert expand_shards(f"{d}/000002.tar::{d}/000000.tar") == [f"{d}/000002.tar", f"{d}/000000.tar"]


def test_a_txt_shard_list_names_shards_absolute_or_relative_to_itself(shard_dir, tmp_path):
    d = shard_dir
    listing = tmp_path / "lists" / "manifest.txt"
    listing.parent.mkdir()
    listing.write_text(f"# published shards\n{d}/000001.tar\n\n../rel/000009.tar\n")
    assert expand_shards(str(listing)) == [f"{d}/000001.tar", f"{tmp_path}/lists/../rel/000009.tar"]
    assert expand_shards(f"{listing}::{d}/000000.tar")[-1] == f"{d}/000000.tar"


def test_count_samples_with_and_without_sizes_json(shard_dir, tmp_path):
    urls = expand_shards(f"{shard_dir}/*.tar")
    assert count_samples(urls) == 40
    import shutil

    for u in urls:
        shutil.copy(u, tmp_path)
    assert count_samples(expand_shards(f"{tmp_path}/*.tar")) == 40


def test_caption_aug_probability_0_1_and_half():
    sample = {"__key__": "k", "txt": "原来的".encode(), "gen.txt": "生成的".encode()}
    assert choose_caption(sample, 0.0, 0, 0) == "原来的"
    assert choose_caption(sample, 1.0, 0, 0) == "生成的"
    picks = [choose_caption({**sample, "__key__": f"k{i}"}, 0.5, 0, 0) for i in range(400)]
    assert 150 < picks.count("生成的") < 250
    assert choose_caption({"__key__": "k", "txt": "原来的".encode()}, 1.0, 0, 0) == "原来的"  # no gen.txt
    for blank in (b"", b" \n"):
        assert choose_caption({**sample, "gen.txt": blank}, 1.0, 0, 0) == "原来的"


def test_at_the_default_caption_aug_only_samples_with_a_generated_caption_change(tmp_path):
    from tuwen.trainer.cli import DEFAULT_CAPTION_AUG

    with_gen = synthetic_pairs(40, size=32, seed=1)
    rows = [dict(s, id=f"g{i}") for i, s in enumerate(with_gen[:20])]
    rows += [dict({k: v for k, v in s.items() if k != "gen_text"}, id=f"n{i}") for i, s in enumerate(with_gen[20:])]
    write_shards(rows, tmp_path, shard_size=40)
    samples = list(iter_tar_samples(str(tmp_path / "000000.tar")))
    picked = {s["__key__"]: choose_caption(s, DEFAULT_CAPTION_AUG, 0, 0) for s in samples}
    own = {s["__key__"]: s["txt"].decode() for s in samples}
    changed = {k for k in picked if picked[k] != own[k]}
    has_gen = {s["__key__"] for s in samples if "gen.txt" in s}
    assert len(has_gen) == 20 and changed <= has_gen
    assert 0 < len(changed) < 20  # some, not all, of the samples that have one


def _stream(shard_dir, **kw):
    from tuwen.trainer.model import image_preprocess

    cfg = StreamConfig(urls=expand_shards(f"{shard_dir}/*.tar"), batch_size=8, **kw)
    return TrainStream(cfg, image_preprocess(32), ChineseWordPieceTokenizer())


def test_stream_batches_are_shaped_and_an_epoch_covers_every_sample(shard_dir):
    it = iter(_stream(shard_dir, shuffle_buffer=10))
    images, ids = next(it)
    assert images.shape == (8, 3, 32, 32) and ids.shape == (8, 52) and ids.dtype == torch.long
    seen = [ids] + [next(it)[1] for _ in range(4)]
    texts = {tuple(r.tolist()) for r in torch.cat(seen)}
    assert len(texts) >= 15  # 40 samples, 18 possible captions: most distinct captions appear in one epoch


def test_resume_skip_yields_the_same_later_batches(shard_dir):
    full = iter(_stream(shard_dir, shuffle_buffer=10, seed=2))
    batches = [next(full) for _ in range(4)]
    resumed = iter(_stream(shard_dir, shuffle_buffer=10, seed=2, skip_batches=2))
    for expect in batches[2:]:
        got = next(resumed)
        assert torch.equal(got[0], expect[0]) and torch.equal(got[1], expect[1])


def test_ranks_see_disjoint_shards(shard_dir):
    a = _stream(shard_dir, shuffle_buffer=0, world_size=2, rank=0)
    b = _stream(shard_dir, shuffle_buffer=0, world_size=2, rank=1)
    ka = {s["__key__"] for _, s in zip(range(16), (x for _, x in a._raw_samples(0, 1)))}
    kb = {s["__key__"] for _, s in zip(range(8), (x for _, x in b._raw_samples(0, 1)))}
    assert ka and kb and not ka & kb


def test_eval_set_groups_shard_pairs_by_image_sha256(tmp_path):
    from PIL import Image

    jpg = encode_jpeg(Image.new("RGB", (32, 32), (200, 10, 10)))
    other = encode_jpeg(Image.new("RGB", (32, 32), (10, 10, 200)))
    rows = [{"id": f"a{i}", "jpg": jpg, "text": f"红色{i}"} for i in range(3)]
    rows.append({"id": "b", "jpg": other, "text": "蓝色"})
    write_shards(rows, tmp_path, shard_size=10)
    data = load_eval_set(f"{tmp_path}/000000.tar")
    assert len(data.images) == 2 and len(data.captions) == 4
    red = data.caption_image[data.captions.index("红色0")]
    assert [data.caption_image[data.captions.index(f"红色{i}")] for i in range(3)] == [red] * 3
    assert data.caption_image[data.captions.index("蓝色")] != red


def test_eval_set_from_manifest_with_captions_lists_and_shared_images(tmp_path):
    from PIL import Image

    (tmp_path / "img").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "img" / "a.jpg")
    Image.new("RGB", (16, 16), (255, 255, 255)).save(tmp_path / "img" / "b.jpg")
    rows = [{"image": "img/a.jpg", "text": "黑色"}, {"image": "img/a.jpg", "text": "暗的"},
            {"image": "img/b.jpg", "captions": ["白色", "亮的"], "label": "白"}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    data = load_eval_set(str(tmp_path / "m.jsonl"))
    assert len(data.images) == 2
    assert data.captions == ["黑色", "暗的", "白色", "亮的"]
    assert data.caption_image == [0, 0, 1, 1]
    assert data.labels == [None, "白"]


def test_image_aug_crops_a_seeded_square_of_at_least_the_asked_area():
    from PIL import Image
    import random

    im = Image.new("RGB", (300, 200))
    assert augment_image(im, "k", 0.0, 0, 0) is im  # off
    sizes = set()
    for i in range(200):
        out = augment_image(im, f"k{i}", 0.5, 0, 0)
        assert out.width == out.height <= 200
        sizes.add(out.width)
        assert out.width * out.height <= 300 * 200
        assert augment_image(im, f"k{i}", 0.5, 0, 0).getbbox() == out.getbbox()  # same (seed, epoch, key) -> same crop
    assert len(sizes) > 20  # the crop really varies
    for i in range(200):  # the box before squaring covers at least min_scale of the area
        left, top, w, h = crop_box(300, 200, 0.5, random.Random(i))
        assert w * h >= 0.5 * 300 * 200 * 0.97 and left + w <= 300 and top + h <= 200


def test_image_aug_changes_the_pixels_but_not_the_captions(shard_dir):
    plain = next(iter(_stream(shard_dir, shuffle_buffer=10, seed=3)))
    aug = next(iter(_stream(shard_dir, shuffle_buffer=10, seed=3, image_aug=0.3)))
    assert torch.equal(plain[1], aug[1])
    assert not torch.equal(plain[0], aug[0])
    again = next(iter(_stream(shard_dir, shuffle_buffer=10, seed=3, image_aug=0.3)))
    assert torch.equal(aug[0], again[0])


def test_training_images_decode_jpegs_small_but_show_the_same_region():
    import numpy as np
    from PIL import Image

    from tuwen.trainer.data import decode_image, training_image

    # a smooth 800x600 photo-like gradient, so that a decode at 1/4 scale and a full decode look alike
    y, x = np.mgrid[0:600, 0:800]
    pixels = np.stack([x * 255 // 800, y * 255 // 600, (x + y) * 255 // 1400], axis=-1).astype(np.uint8)
    data = encode_jpeg(Image.fromarray(pixels))
    full = decode_image(data)
    small = training_image(data, "k", 0.0, 0, 0, min_side=96)
    assert small.size == (200, 150)  # 1/4 scale: the short side still >= 96
    assert np.abs(np.asarray(full.resize(small.size, Image.BICUBIC), dtype=int) - np.asarray(small, dtype=int)).mean() < 3
    for i in range(20):  # with the crop: the same region as augment_image takes from the full decode
        ref = augment_image(full, f"k{i}", 0.5, 0, 0).resize((96, 96), Image.BICUBIC)
        out = training_image(data, f"k{i}", 0.5, 0, 0, min_side=96)
        assert out.size[0] == out.size[1] >= 96
        diff = np.abs(np.asarray(ref, dtype=int) - np.asarray(out.resize((96, 96), Image.BICUBIC), dtype=int))
        assert diff.mean() < 3
    assert training_image(data, "k", 0.5, 0, 0).size == augment_image(full, "k", 0.5, 0, 0).size  # 0: full decode
    png = Image.fromarray(pixels)
    import io

    buf = io.BytesIO()
    png.save(buf, format="PNG")
    assert training_image(buf.getvalue(), "k", 0.0, 0, 0, min_side=96).size == (800, 600)  # only JPEGs are drafted
