"""Shared fixtures. Tests pin Beam to the FnApiRunner and run offline."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TUWEN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip (fail when TUWEN_REQUIRE_SHARED=1, as in CI)."""
    if not SHARED_DATA.is_dir():
        msg = f"shared test data not found at {SHARED_DATA}"
        if os.environ.get("TUWEN_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " (TUWEN_REQUIRE_SHARED=1)")
        pytest.skip(msg)
    return SHARED_DATA


@pytest.fixture(scope="session")
def pillow_images() -> Path:
    """Pillow's own Tests/images for the installed version (tests/pillow_corpus.py: pip download, cached in
    tests/_cache/), or skip when it cannot be fetched (fail in CI: TUWEN_REQUIRE_SHARED=1 or CI=true)."""
    from pillow_corpus import NotFetched, pillow_test_images

    try:
        return pillow_test_images()
    except NotFetched as e:
        msg = f"Pillow's test images could not be fetched: {e}"
        if os.environ.get("TUWEN_REQUIRE_SHARED") == "1" or os.environ.get("CI") == "true":
            pytest.fail(msg + " (in CI)")
        pytest.skip(msg)


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory):
    """A tiny dual encoder trained on synthetic coloured shapes ("一个红色的圆形"), as `tuwen train` trains one:
    80 steps put its red pictures 0.5-0.7 nearer "红色" than any other colour, and the others 0.46+ away."""
    import subprocess
    import sys

    from tuwen.trainer.synthetic import synthetic_pairs, write_shards

    d = tmp_path_factory.mktemp("colours")
    write_shards(synthetic_pairs(512, size=64, seed=1), d / "shards", shard_size=128)
    exe = os.path.join(os.path.dirname(sys.executable), "tuwen")
    subprocess.run([exe, "train", "--data", f"{d}/shards/*.tar", "--output", str(d / "model"), "--model", "tiny",
                    "--max-steps", "80", "--batch-size", "32", "--lr", "1e-3", "--precision", "fp32", "--seed", "0"],
                   check=True, capture_output=True, timeout=900)
    return d / "model"
