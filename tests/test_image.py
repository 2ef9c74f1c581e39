import io

import pytest
from PIL import Image

from tuwen.pipeline.sample import animated_gif, bomb_png, exif_rotated, gray16, palette_alpha, picture
from tuwen.transforms.image import ImageConfig, process_image

import random

CFG = ImageConfig()


def jpeg_bytes(w, h, mode="RGB", color=(120, 30, 200)):
    im = Image.new(mode, (w, h), color if mode == "RGB" else 0)
    buf = io.BytesIO()
    im.save(buf, format="JPEG")
    return buf.getvalue()


def decoded(result):
    return Image.open(io.BytesIO(result.jpeg))


def test_portrait_image_at_ratio_exactly_2_is_kept():
    r = process_image(jpeg_bytes(300, 600), CFG)
    assert r.ok and (r.width, r.height) == (300, 600)


def test_ratio_just_above_2_is_dropped():
    r = process_image(jpeg_bytes(300, 601), CFG)
    assert r.reason == "aspect_ratio"


def test_landscape_ratio_is_judged_like_portrait():
    assert process_image(jpeg_bytes(601, 300), CFG).reason == "aspect_ratio"
    assert process_image(jpeg_bytes(600, 300), CFG).ok


def test_short_side_255_is_dropped_and_256_kept():
    assert process_image(jpeg_bytes(255, 400), CFG).reason == "image_too_small"
    assert process_image(jpeg_bytes(256, 400), CFG).ok


def test_thresholds_are_configurable():
    cfg = ImageConfig(min_side=100, max_aspect_ratio=3.0)
    assert process_image(jpeg_bytes(100, 290), cfg).ok
    assert process_image(jpeg_bytes(99, 290), cfg).reason == "image_too_small"


def test_output_is_an_rgb_jpeg_with_its_sha256():
    import hashlib

    r = process_image(jpeg_bytes(300, 300), CFG)
    im = decoded(r)
    assert im.format == "JPEG" and im.mode == "RGB"
    assert r.sha256 == hashlib.sha256(r.jpeg).hexdigest()


def test_exif_orientation_is_applied_before_measuring():
    r = process_image(exif_rotated(random.Random(0)), CFG)  # stored 500x300, orientation 6
    assert r.ok
    assert (r.orig_width, r.orig_height) == (300, 500)
    assert decoded(r).size == (300, 500)


def test_exif_rotation_can_make_an_image_fail_min_side():
    im = Image.new("RGB", (500, 250))
    exif = Image.Exif()
    exif[0x0112] = 8
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes())
    r = process_image(buf.getvalue(), CFG)
    assert r.reason == "image_too_small" and "250x500" in r.detail


def test_cmyk_becomes_rgb():
    buf = io.BytesIO()
    Image.new("CMYK", (300, 300), (0, 255, 255, 0)).save(buf, format="JPEG")
    r = process_image(buf.getvalue(), CFG)
    assert r.ok and decoded(r).mode == "RGB"
    red, green, blue = decoded(r).getpixel((150, 150))
    assert red > 200 and green < 60 and blue < 60


def test_transparent_palette_image_is_composited_on_white():
    im = Image.new("P", (300, 300), 0)
    im.putpalette([0, 0, 0] + [255, 0, 0] * 255)
    buf = io.BytesIO()
    im.save(buf, format="PNG", transparency=0)
    r = process_image(buf.getvalue(), CFG)
    assert r.ok
    assert min(decoded(r).getpixel((10, 10))) > 245  # the transparent black became white


def test_rgba_alpha_is_composited_on_white():
    buf = io.BytesIO()
    Image.new("RGBA", (300, 300), (0, 0, 0, 0)).save(buf, format="PNG")
    assert min(decoded(process_image(buf.getvalue(), CFG)).getpixel((5, 5))) > 245


def test_16_bit_grey_is_scaled_not_clipped():
    r = process_image(gray16(random.Random(0)), CFG)
    assert r.ok
    im = decoded(r).convert("L")
    assert im.getpixel((0, 0)) < 10 and 100 < im.getpixel((160, 150)) < 160 and im.getpixel((319, 299)) > 245


def test_animated_gif_keeps_its_first_frame():
    r = process_image(animated_gif(random.Random(0)), CFG)
    assert r.ok and decoded(r).size == (320, 320)


def test_image_over_max_pixels_is_dropped_from_the_header_alone():
    r = process_image(jpeg_bytes(400, 300), ImageConfig(max_pixels=400 * 300 - 1))
    assert r.reason == "image_too_large" and "400x300" in r.detail


def test_decompression_bomb_is_dropped_from_the_header_alone():
    r = process_image(bomb_png(), CFG)
    assert r.reason == "image_too_large" and "pixels" in r.detail


def test_truncated_jpeg_is_reported_as_truncated():
    data = jpeg_bytes(400, 300)
    im = picture(random.Random(1), 400, 300)
    buf = io.BytesIO()
    im.save(buf, format="JPEG")
    r = process_image(buf.getvalue()[: len(buf.getvalue()) // 2], CFG)
    assert r.reason == "image_truncated"
    assert data  # the helper works on whole files


@pytest.mark.parametrize("data, reason", [
    (b"", "image_empty"),
    (b"not an image at all" * 10, "image_decode_error"),
    (b"\xff\xd8\xff" + b"\x00" * 100, "image_decode_error"),
])
def test_bad_bytes_get_a_reason_and_never_raise(data, reason):
    assert process_image(data, CFG).reason == reason


def test_max_side_downscales_keeping_the_ratio():
    r = process_image(jpeg_bytes(1200, 800), ImageConfig(max_side=600))
    assert r.ok and (r.width, r.height) == (600, 400) and (r.orig_width, r.orig_height) == (1200, 800)


def test_palette_alpha_sample_is_kept():
    assert process_image(palette_alpha(random.Random(0)), CFG).ok


def _dds_with_dxgi_format(fmt: int, w: int = 300, h: int = 300) -> bytes:
    """A DDS file whose DX10 header names a DXGI format Pillow's plugin does not implement."""
    import struct

    header = struct.pack("<7I44s", 124, 0x1 | 0x2 | 0x4 | 0x1000, h, w, w * 4, 0, 1, b"\0" * 44)
    pixel_format = struct.pack("<2I4s5I", 32, 0x4, b"DX10", 0, 0, 0, 0, 0)
    caps = struct.pack("<5I", 0x1000, 0, 0, 0, 0)
    dx10 = struct.pack("<5I", fmt, 3, 0, 1, 0)
    return b"DDS " + header + pixel_format + caps + dx10 + b"\0" * (w * h * 4)


def test_whatever_a_decoder_raises_is_the_pairs_reason_not_a_crash():
    r = process_image(_dds_with_dxgi_format(93), ImageConfig(min_side=100))
    assert r.reason == "image_decode_error" and r.detail == "NotImplementedError: Unimplemented DXGI format 93"


def test_reject_details_carry_no_object_addresses():
    r = process_image(b"not an image at all" * 10, ImageConfig())
    assert r.reason == "image_decode_error" and " at 0x" not in r.detail
    assert r.detail == process_image(b"not an image at all" * 10, ImageConfig()).detail


def test_an_image_path_that_is_a_fifo_is_rejected_without_being_opened(tmp_path):
    import os

    from tuwen.transforms.pairs import Dropped, read_image_bytes

    fifo = tmp_path / "image.jpg"
    os.mkfifo(fifo)  # opening it for reading would block forever
    out = read_image_bytes({"image_ref": str(fifo)}, 1 << 20)
    assert isinstance(out, Dropped) and out.reason == "image_read_error" and "a FIFO" in out.detail
    out = read_image_bytes({"image_ref": str(tmp_path)}, 1 << 20)
    assert isinstance(out, Dropped) and out.reason == "image_read_error" and "a folder" in out.detail


def _corrupt_deflate_tiff() -> bytes:
    """A TIFF whose deflate-compressed strip is garbage: libtiff, not Pillow, decodes it and complains."""
    rng = random.Random(0)
    buf = io.BytesIO()
    Image.frombytes("RGB", (300, 300), rng.randbytes(300 * 300 * 3)).save(buf, format="TIFF",
                                                                          compression="tiff_adobe_deflate")
    data = bytearray(buf.getvalue())
    strip = Image.open(io.BytesIO(bytes(data))).tag_v2[273][0]  # StripOffsets
    data[strip + 4: strip + 200] = bytes(range(196))
    return bytes(data)


def test_libtiffs_complaints_about_a_bad_file_stay_off_stderr(capfd):
    r = process_image(_corrupt_deflate_tiff(), CFG)  # libtiff: "ZIPDecode: Decoding error at scanline 0, ..."
    assert r.reason == "image_decode_error"
    assert capfd.readouterr().err == ""


def test_pillows_warnings_about_a_file_stay_off_stderr():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = process_image(bomb_png(10_000, 10_000), CFG)  # over Pillow's warning limit, under its error limit
    assert r.reason == "image_too_large" and "--max-pixels" in r.detail
    assert caught == []


def test_eps_is_never_handed_to_ghostscript(monkeypatch):
    from PIL import EpsImagePlugin

    ran = []

    def ghostscript(*args, **kwargs):
        ran.append(args)
        raise RuntimeError("ran Ghostscript")

    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 30, 30)).save(buf, format="EPS")
    r = process_image(buf.getvalue(), CFG)
    assert r.reason == "image_decode_error" and "EPS is not decoded" in r.detail
    assert (r.orig_width, r.orig_height) == (300, 300)
    assert ran == []
