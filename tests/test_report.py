"""report.html: every section from a real scored run, no removed original in it, provenance in stats.json, and the
page rendered by headless Chromium with its images (Debian's chromium and a CJK font, installed with apt-get by
this test's set-up when missing; without them the browser test skips on a user's machine and fails in CI)."""
import hashlib
import importlib.resources
import json
import os
import re
import shutil
import subprocess

import pytest
from PIL import Image

from tuwen.pipeline.report import HIST_ALPHA, KEPT_COLOUR, REJECTED_COLOUR
from tuwen.pipeline.run import run
from tuwen.pipeline.provenance import model_files

pytestmark = pytest.mark.slow
IN_CI = os.environ.get("TUWEN_REQUIRE_SHARED") == "1"  # .ci/run sets it: what would skip on a laptop fails there
BROWSER_PACKAGES = ("chromium", "fonts-noto-cjk")
SECRET = "QXJVSECRET"  # in a line that cannot be read (malformed_line): nothing of it may reach the report


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory, colour_model):
    from tuwen.trainer.synthetic import synthetic_pairs

    d = tmp_path_factory.mktemp("report")
    (d / "img").mkdir()
    lines = []
    samples = synthetic_pairs(40, size=64, seed=7, with_gen=False)
    for i, s in enumerate(samples):
        (d / "img" / f"{s['id']}.jpg").write_bytes(s["jpg"])
        text = s["text"] if i % 4 else samples[(i + 1) % len(samples)]["text"]  # every 4th caption mismatched
        lines.append({"id": s["id"], "text": text, "image": f"img/{s['id']}.jpg"})
    for line in lines[1::2]:
        line["text"] += "，旁边是赌场"  # kept, with a masked sensitive word
    lines.append({"id": "english", "text": "only english words", "image": f"img/{samples[0]['id']}.jpg"})
    Image.new("RGB", (20, 20), "red").save(d / "img" / "tiny.png")
    lines.append({"id": "tiny", "text": "一个很小的红色圆形在赌场", "image": "img/tiny.png"})
    lines.append({"id": "gone", "text": "一张不存在的图片", "image": "img/nope.jpg"})
    text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines) + f'{{"text": "{SECRET}", \n'
    (d / "m.jsonl").write_text(text, encoding="utf-8")
    out = d / "out"
    stats = run([f"--input={d}/m.jsonl", f"--output={out}", "--runner=FnApiRunner", "--progress-seconds=0",
                 "--min-side=32", f"--scorer={colour_model}", "--similarity-threshold=0.1", "--shard-size=16"])
    return out, stats


def test_the_report_has_every_section_from_the_runs_outputs_and_no_removed_original(scored_run):
    out, stats = scored_run
    page = (out / "report.html").read_text(encoding="utf-8")
    assert stats["read"] == stats["kept"] + stats["rejected"] and {
        "no_chinese", "image_too_small", "image_missing", "malformed_line", "low_similarity"} <= set(
        stats["rejected_by_reason"])
    for heading in ("Why pairs were rejected", "Similarity", "Images and texts", "Kept examples",
                    "Rejected examples", "What the run was"):
        assert f"<h2>{heading}</h2>" in page
    cells = set(re.findall(r"<td>([^<]*)</td>", page))
    for reason, n in stats["rejected_by_reason"].items():  # each code as text beside its plot, with its count
        assert reason in cells and str(n) in cells
    for alt in ("rejected pairs per reason", "rejected pairs per stage", "similarity histogram",
                "shorter side histogram", "aspect ratio histogram", "text length histogram"):
        assert re.search(rf'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="{alt}">', page), alt
    kept_part, rejected_part = page.split("<h2>Rejected examples</h2>")
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', kept_part)) == min(12, stats["kept"])
    # rejected examples: the image where the run decoded it (too small, low similarity), the caption masked
    shown = {m.group(1) for m in re.finditer(r'<img src="data:image/jpeg;base64,[^"]+" alt="([^"]+)">',
                                             rejected_part)}
    assert "tiny" in shown and any(i.startswith("synthetic") for i in shown) and not {"gone", "english"} & shown
    assert "<td>一个很小的红色圆形在**</td>" in rejected_part and "<td>only english words</td>" in rejected_part
    assert SECRET not in page and "赌场" not in page  # nothing of an unreadable row; every caption masked
    assert "旁边是**" in kept_part
    assert "src=\"http" not in page and "src=\"file" not in page  # self-contained


def test_stats_json_says_what_the_run_was(scored_run, colour_model):
    out, stats = scored_run
    prov = stats["provenance"]
    assert prov["tuwen"] == "0.1.0" and prov["options"]["min_side"] == 32 and "output" not in prov["options"]
    assert prov["scorer_sha256"] == stats["similarity"]["scorer_sha256"] and len(prov["scorer_sha256"]) == 64
    shipped = importlib.resources.files("tuwen.lexicons").joinpath("sensitive_gambling.txt").read_bytes()
    assert prov["lexicons"]["sensitive_gambling.txt"] == hashlib.sha256(shipped).hexdigest()
    (name, path), = model_files(["nsfw"]).items()
    assert prov["models"][name] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert prov["scorer_sha256"] in page and prov["lexicons"]["sensitive_gambling.txt"] in page


@pytest.fixture(scope="module")
def chromium():
    exe = shutil.which("chromium")
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout if shutil.which(
        "fc-list") else ""
    if exe and fonts.strip():
        return exe
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *BROWSER_PACKAGES]
        if subprocess.run(install, capture_output=True, env=env, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=900)  # stale lists
            subprocess.run(install, capture_output=True, env=env, timeout=900)
        exe = shutil.which("chromium")
    if not exe:
        message = f"no chromium (apt-get install {' '.join(BROWSER_PACKAGES)} could not run)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return exe


def test_the_report_renders_in_headless_chromium_with_its_images(scored_run, chromium, tmp_path):
    out, _ = scored_run
    shot = tmp_path / "report.png"
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1300,2600", f"--screenshot={shot}", f"file://{out / 'report.html'}"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    im = Image.open(shot).convert("RGB")
    assert im.size == (1300, 2600)
    colours = im.getcolors(maxcolors=1 << 20)

    def pixels(hexa, alpha=1.0, tol=12):  # pixels of a plot colour drawn with alpha over white
        want = [alpha * int(hexa[1 + 2 * i:3 + 2 * i], 16) + (1 - alpha) * 255 for i in range(3)]
        return sum(n for n, rgb in colours if all(abs(a - b) <= tol for a, b in zip(rgb, want)))

    assert pixels(REJECTED_COLOUR) > 2000, "the reject bar plots did not render"
    assert pixels(KEPT_COLOUR, HIST_ALPHA) > 1000, "the kept histograms did not render"
    assert len(colours) > 500  # thumbnails, text and plots, not an empty page


def test_what_a_rejected_example_may_show():
    from tuwen.pipeline.report import what_to_show

    assert what_to_show("low_similarity") == (True, True) and what_to_show("image_too_small") == (True, True)
    for unsafe in ("unsafe_image_nsfw", "unsafe_image_text", "unsafe_image_prompt", "unsafe_image_head"):
        assert what_to_show(unsafe) == (True, False)  # never the image a safety check removed
    for bad in ("image_too_large", "image_decode_error", "no_chinese"):
        assert what_to_show(bad) == (True, False)  # images the run did not decode are never opened for a report
    for nothing in ("malformed_line", "invalid_utf8", "removed_on_request"):
        assert what_to_show(nothing) == (False, False)
