"""One odd image never fails a run: every file of Pillow's own Tests/images (every format Pillow opens, fuzzer
crashers, truncated files, decompression bombs, and the non-images beside them) as the image of a pair, through a
real `tuwen run`. Each pair is kept as a JPEG that decodes or rejected with an image reason whose detail names what
went wrong, and the decoders say nothing on the user's stderr (libtiff's "TIFFFillStrip: Read error ...", Pillow's
warnings and log lines).

About 20 s here (2 cores) once tests/_cache/ holds the images; fetching them (pip download of Pillow's sdist) takes
seconds more, once."""
import glob
import io
import json
import os
import re
import subprocess
import sys
import tarfile

import pyarrow.parquet as pq
import pytest
from PIL import Image

from tuwen.transforms.reasons import REASONS

pytestmark = pytest.mark.slow
RUN_TIMEOUT_S = 600  # a decoder that hangs fails the test instead of blocking the suite
# Decode every file: no size or shape filter hides one from the decoders (the bombs still meet --max-pixels).
PERMISSIVE = ["--min-side=1", "--max-aspect-ratio=100000"]
ADDRESS = re.compile(r"0x[0-9a-f]{6,}", re.IGNORECASE)


@pytest.fixture(scope="module")
def corpus_run(pillow_images, tmp_path_factory):
    files = sorted(p for p in pillow_images.rglob("*") if p.is_file())
    d = tmp_path_factory.mktemp("odd_images")
    ids = {}
    with open(d / "pairs.jsonl", "w", encoding="utf-8") as fh:
        for i, path in enumerate(files):
            ids[f"pil-{i:04d}"] = path.relative_to(pillow_images)
            fh.write(json.dumps({"id": f"pil-{i:04d}", "text": f"一张测试图片，第{i}号。", "image": str(path)},
                                ensure_ascii=False) + "\n")
    out = d / "out"
    exe = os.path.join(os.path.dirname(sys.executable), "tuwen")
    done = subprocess.run([exe, "run", "--runner=FnApiRunner", f"--input={d}/pairs.jsonl", f"--output={out}",
                           "--image-safety=", "--text-steps=", "--progress-seconds=1", "--shard-size=500",
                           *PERMISSIVE], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    return ids, out, done


def _rejects(out):
    return pq.read_table(glob.glob(f"{out}/rejects/*.parquet")).to_pylist()


def _kept_images(out):
    """sample key -> JPEG bytes, from every shard."""
    images = {}
    for shard in sorted(glob.glob(f"{out}/shards/*.tar")):
        with tarfile.open(shard) as tar:
            for m in tar.getmembers():
                if m.name.endswith(".jpg"):
                    images[m.name[:-4]] = tar.extractfile(m).read()
    return images


def test_the_run_finishes_and_every_file_is_kept_or_rejected_once(corpus_run):
    ids, out, done = corpus_run
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["read"] == len(ids) == stats["kept"] + stats["rejected"]
    kept = [r["id"] for r in pq.read_table(glob.glob(f"{out}/index/*.parquet")).to_pylist()]
    rejected = [r["id"] for r in _rejects(out)]
    assert len(kept) == len(set(kept)) and len(rejected) == len(set(rejected))
    assert not set(kept) & set(rejected) and set(kept) | set(rejected) == set(ids)
    # The corpus reaches every way an image can fail, and most of it decodes.
    assert {"image_decode_error", "image_truncated", "image_too_large"} <= set(stats["rejected_by_reason"])
    assert stats["kept"] > len(ids) // 2


def test_every_reject_has_an_image_reason_and_a_detail_without_addresses(corpus_run):
    ids, out, _ = corpus_run
    for r in _rejects(out):
        where = f"{r['id']} ({ids[r['id']]}): {r['reason']} {r['detail']!r}"
        assert r["reason"] in REASONS and REASONS[r["reason"]][0] == "image", where  # the captions are all fine
        assert r["detail"] and not ADDRESS.search(r["detail"]), where
        if "decompression bomb" in r["detail"]:  # Pillow's own guard, at open or (ICNS) only at decode
            assert r["reason"] == "image_too_large", where


def test_every_kept_image_is_a_jpeg_that_decodes_at_its_indexed_size(corpus_run):
    _, out, _ = corpus_run
    images = _kept_images(out)
    index = pq.read_table(glob.glob(f"{out}/index/*.parquet")).to_pylist()
    assert set(images) == {r["key"] for r in index}
    for r in index:
        im = Image.open(io.BytesIO(images[r["key"]]))
        assert im.format == "JPEG" and im.size == (r["width"], r["height"]), r["id"]
        im.load()


def test_decoders_say_nothing_on_stderr(corpus_run):
    _, _, done = corpus_run
    foreign = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("tuwen")]
    assert not foreign, "\n".join(foreign[:20])
    assert "pairs checked" in done.stderr  # the progress lines the noise used to break up
