"""The demo ./run_pipeline.sh runs with no arguments, end to end: clean the sample, train the tiny model on it,
calibrate, clean again with it as the scorer. The trained model must keep matched pairs far more often than
mismatched ones, and the last report must show the relevance and dedup filters acting."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_the_demo_closes_the_loop_and_the_trained_scorer_prefers_matched_pairs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tuwen.pipeline.demo", "--sample", str(tmp_path / "sample"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out"
    for run in ("sample", "sample-scored"):
        stats = json.loads((out / run / "stats.json").read_text())
        assert stats["read"] == stats["kept"] + stats["rejected"]
        assert (out / run / "_SUCCESS").exists()
    clean = json.loads((out / "sample" / "stats.json").read_text())
    scored = json.loads((out / "sample-scored" / "stats.json").read_text())
    assert clean["similarity"] == "skipped: no --scorer"
    # The first run reads the text in the pictures: the sample's poster with a sensitive slogan is dropped.
    assert clean["image_safety"]["checks"] == ["nsfw", "ocr"]
    expected = json.loads((tmp_path / "sample" / "expected.json").read_text())["with_ocr"]
    assert expected == {"sensitive_image_text": "unsafe_image_text"}
    assert clean["rejected_by_reason"]["unsafe_image_text"] == 1
    assert "unsafe_image_text" in (out / "sample" / "report.txt").read_text()
    assert scored["similarity"]["scorer"] == str(out / "sample-model")
    assert clean["read"] == scored["read"]
    assert scored["rejected_by_reason"]["low_similarity"] > 0
    assert scored["rejected_by_reason"]["duplicate_pair"] > 0
    report = (out / "sample-scored" / "report.txt").read_text()
    assert "low_similarity" in report and "duplicate_pair" in report
    assert done.stdout.rstrip().splitlines()[-1].startswith("demo: the model trained on the cleaned sample kept")
    summary = json.loads((out / "sample-scored" / "relevance_demo.json").read_text())
    matched, mismatched = summary["matched"]["kept_share"], summary["mismatched"]["kept_share"]
    assert summary["matched"]["pairs"] >= 50 and summary["mismatched"]["pairs"] >= 20
    assert matched > 0.1 and matched >= 2 * mismatched, summary
    assert (out / "sample-calibration.png").stat().st_size > 1000
