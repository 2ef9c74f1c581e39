"""--reencode auto: a conforming JPEG keeps its coded data with every metadata segment dropped; the rest re-encode."""
import io
import random

import numpy as np
import pytest
from PIL import Image, ImageCms

from tuwen.pipeline.sample import picture
from tuwen.transforms.dedup import perceptual_hash
from tuwen.transforms.image import ImageConfig, process_image
from tuwen.transforms.jpeg import NotKept, estimate_quality, stripped

AUTO = ImageConfig()
ALWAYS = ImageConfig(reencode="always")
GPS_IFD = 0x8825


def photo(w=400, h=300, seed=1, mode="RGB"):
    return picture(random.Random(seed), w, h, mode)


def jpeg(im, **kw):
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def with_metadata(im, quality=80, orientation=1, **kw):
    """A JPEG carrying what a phone photo carries: EXIF with a GPS position, an ICC profile, XMP and a comment."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)})
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    return jpeg(im, quality=quality, exif=exif.tobytes(), icc_profile=icc, comment="shot at home", xmp=xmp, **kw)


def markers(data):
    """The marker bytes of the segments before the first scan."""
    out, pos = [], 2
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        out.append(data[pos + 1])
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return out


def pixels(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_a_conforming_jpeg_keeps_its_pixels_and_loses_all_metadata():
    src = with_metadata(photo())
    assert 0xE1 in markers(src) and 0xE2 in markers(src) and 0xFE in markers(src)  # EXIF/XMP, ICC, comment in
    assert Image.open(io.BytesIO(src)).getexif().get_ifd(GPS_IFD)
    r = process_image(src, AUTO)
    assert r.ok and r.kept and (r.width, r.height) == (400, 300)
    assert np.array_equal(pixels(r.jpeg), pixels(src))
    assert set(markers(r.jpeg)) <= {0xE0, 0xDB, 0xC4, 0xC0, 0xDD}  # JFIF and what decoding needs, nothing else
    out = Image.open(io.BytesIO(r.jpeg))
    assert not out.getexif() and "icc_profile" not in out.info and "comment" not in out.info and "xmp" not in out.info
    assert b"PhoneMaker" not in r.jpeg and b"xmpmeta" not in r.jpeg and b"shot at home" not in r.jpeg
    assert len(r.jpeg) < len(src)


@pytest.mark.parametrize("kw", [{"progressive": True}, {"subsampling": 0}, {"optimize": True}])
def test_progressive_and_other_subsamplings_are_kept_too(kw):
    src = jpeg(photo(), quality=85, **kw)
    r = process_image(src, AUTO)
    assert r.kept and np.array_equal(pixels(r.jpeg), pixels(src))


def test_grey_jpeg_is_kept():
    src = jpeg(photo(mode="L"), quality=85)
    r = process_image(src, AUTO)
    assert r.kept and np.array_equal(np.asarray(Image.open(io.BytesIO(r.jpeg))), np.asarray(Image.open(io.BytesIO(src))))


def test_trailing_bytes_after_the_image_are_dropped():
    src = jpeg(photo(), quality=85)
    r = process_image(src + b"appended zip archive", AUTO)
    assert r.kept and r.jpeg.endswith(b"\xff\xd9") and b"appended" not in r.jpeg


def reencoded(src, cfg=AUTO):
    r = process_image(src, cfg)
    assert r.ok and not r.kept
    return r


def test_quality_above_the_target_is_reencoded_at_the_target():
    src = jpeg(photo(), quality=95)
    r = reencoded(src)
    assert estimate_quality(Image.open(io.BytesIO(r.jpeg)).quantization) == 90
    assert process_image(src, ImageConfig(jpeg_quality=95)).kept  # at the target itself: kept


def test_cmyk_is_reencoded_as_rgb():
    r = reencoded(jpeg(photo(mode="CMYK"), quality=80))
    assert Image.open(io.BytesIO(r.jpeg)).mode == "RGB"


def test_exif_rotated_is_reencoded_upright_and_without_metadata():
    src = with_metadata(photo(400, 300), orientation=6)
    r = reencoded(src)
    assert (r.width, r.height) == (300, 400)
    out = Image.open(io.BytesIO(r.jpeg))
    # The re-encode writes no EXIF, ICC profile or comment either (Pillow writes them only when asked to).
    assert not out.getexif() and "icc_profile" not in out.info and "comment" not in out.info
    assert b"PhoneMaker" not in r.jpeg and b"xmpmeta" not in r.jpeg


def test_over_max_side_is_reencoded_smaller():
    r = reencoded(jpeg(photo(400, 300), quality=80), ImageConfig(max_side=200))
    assert (r.width, r.height) == (200, 150)


def test_png_is_reencoded():
    buf = io.BytesIO()
    photo().save(buf, format="PNG")
    reencoded(buf.getvalue())


def test_always_reencodes_even_a_conforming_jpeg():
    src = jpeg(photo(), quality=80)
    assert process_image(src, AUTO).kept
    r = reencoded(src, ALWAYS)
    assert r.jpeg != src


def test_adobe_rgb_transform_is_not_kept():
    src = jpeg(photo(), quality=80)
    adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"  # transform 0: the components are R, G, B
    with pytest.raises(NotKept):
        stripped(src[:2] + adobe + src[2:])


@pytest.mark.parametrize("cfg", [AUTO, ALWAYS], ids=["auto", "always"])
def test_truncated_and_corrupt_jpegs_are_still_rejected(cfg):
    src = jpeg(photo(), quality=80)
    assert process_image(src[: len(src) // 2], cfg).reason == "image_truncated"
    bad_tables = src.replace(b"\xff\xc4", b"\xff\xc4\x00\x03\x00", 1)  # a Huffman table segment of 1 byte
    assert process_image(bad_tables, cfg).reason in ("image_decode_error", "image_truncated")


def test_both_modes_agree_on_what_is_rejected():
    # Coded data cut short with the end-of-image marker still there is only a libjpeg warning (grey fill), in a
    # full decode and a 1/8-scale one alike: the two modes must judge every cut the same.
    src = jpeg(photo(), quality=80)
    for cut in range(300, len(src), max(1, len(src) // 40)):
        data = src[:cut] + b"\xff\xd9"
        assert process_image(data, AUTO).reason == process_image(data, ALWAYS).reason, cut


def test_the_preview_hash_barely_moves_with_the_way_the_image_is_written():
    src = with_metadata(photo(640, 480), quality=85)
    a = process_image(src, AUTO, keep_preview=True)
    b = process_image(src, ALWAYS, keep_preview=True)
    assert a.kept and not b.kept
    assert a.preview.size == b.preview.size == (80, 60)
    distance = bin(int(perceptual_hash(a.preview), 16) ^ int(perceptual_hash(b.preview), 16)).count("1")
    assert distance <= 4


def test_a_reencoded_image_is_decoded_once(monkeypatch):
    # The preview of a re-encoded image comes from its full decode: a second (1/8-scale) decode would cost 40 % more.
    import tuwen.transforms.image as image_module

    def no_second_decode(*_):
        raise AssertionError("a second decode")

    monkeypatch.setattr(image_module, "_preview", no_second_decode)
    r = process_image(jpeg(photo(640, 480), quality=95), AUTO, keep_preview=True)
    assert r.ok and not r.kept and r.preview.size == (80, 60)
    drafted = process_image(jpeg(photo(640, 480), quality=80), ImageConfig(min_side=64, max_side=320),
                            keep_preview=True)  # decoded at 1/2 scale (over --max-side), then resized
    assert drafted.ok and not drafted.kept and drafted.preview.size == (80, 60)


def test_results_are_identical_between_calls():
    for src in (with_metadata(photo(), quality=85), jpeg(photo(), quality=95)):
        assert process_image(src, AUTO).jpeg == process_image(src, AUTO).jpeg


@pytest.mark.parametrize("q", [10, 50, 75, 85, 90, 91, 95, 100])
def test_quality_is_read_back_from_libjpeg_tables(q):
    assert estimate_quality(Image.open(io.BytesIO(jpeg(photo(64, 64), quality=q))).quantization) == q


def test_non_standard_tables_get_the_nearest_quality():
    assert estimate_quality({0: [3] * 64, 1: [3] * 64}) == 98  # flat tables, as some camera firmware writes
    assert estimate_quality({0: [2] * 64, 1: [4] * 64}) == 98
    assert estimate_quality({0: [255] * 64}) < 10


def test_a_kept_jpeg_is_decoded_no_larger_than_the_model_needs():
    # The scorer needs its input size (decoded_side) and nothing else needs a kept JPEG's pixels: libjpeg's DCT
    # scaling, the smallest scale with at least that many pixels on each side. A re-encoded image is decoded in full
    # for its encode anyway and handed on at that size.
    kept = process_image(jpeg(photo(1024, 768), quality=80), AUTO, keep_decoded=True, decoded_side=224)
    assert kept.kept and kept.decoded.size == (512, 384)  # 1/4 would be 256x192: under 224
    assert process_image(jpeg(photo(1024, 768), quality=80), AUTO, keep_decoded=True).decoded.size == (1024, 768)
    small = process_image(jpeg(photo(400, 300), quality=80), AUTO, keep_decoded=True, decoded_side=224)
    assert small.kept and small.decoded.size == (400, 300)  # 1/2 would be 200x150
    reencoded = process_image(jpeg(photo(1024, 768), quality=95), AUTO, keep_decoded=True, decoded_side=224)
    assert not reencoded.kept and reencoded.decoded.size == (1024, 768)
    both = process_image(jpeg(photo(1024, 768), quality=80), AUTO, keep_decoded=True, keep_preview=True,
                         decoded_side=224)  # the preview (perceptual hash) is still the 1/8-scale decode
    assert both.preview.size == (128, 96) and both.decoded.size == (512, 384)
