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
