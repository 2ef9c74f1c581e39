"""Pillow's own test images (Tests/images of its source distribution: ~1,050 files of every format Pillow opens,
fuzzer crashers, truncated files, decompression bombs, non-images), fetched once for the installed Pillow version
with pip and kept in tests/_cache/ (ignored by git), for the tests that feed every kind of odd file to a run."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CACHE = Path(__file__).resolve().parent / "_cache"
PIP_TIMEOUT_S = 300


class NotFetched(Exception):
    """The sdist could not be downloaded or read (offline, no pip, no such version on the index)."""


def pillow_test_images(cache: Path = CACHE) -> Path:
    """The folder Tests/images of the installed Pillow's sdist, downloaded and extracted on first use."""
    import PIL

    version = PIL.__version__
    images = cache / f"pillow-{version}" / "Tests" / "images"
    if (cache / f"pillow-{version}.complete").exists():
        return images
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        # --no-binary for pillow alone: pip still prepares the sdist's metadata, and with ':all:' it would build
        # setuptools and the other build requirements from source too (a minute instead of seconds).
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "pillow",
               f"pillow=={version}", "-d", tmp]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise NotFetched(f"{' '.join(cmd[2:-2])}: {e}") from e
        sdists = list(Path(tmp).glob("*.tar.gz"))
        if done.returncode or len(sdists) != 1:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise NotFetched(f"{' '.join(cmd[2:-2])} failed: {tail[0]}")
        prefix = f"{sdists[0].name[:-len('.tar.gz')]}/Tests/images/"
        staging = Path(tmp) / "x"
        try:
            with tarfile.open(sdists[0]) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
                for m in members:
                    m.name = f"pillow-{version}/Tests/images/" + m.name[len(prefix):]
                kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(staging, members=members, **kw)
        except (tarfile.TarError, OSError) as e:
            raise NotFetched(f"{sdists[0].name}: {e}") from e
        shutil.rmtree(cache / f"pillow-{version}", ignore_errors=True)
        os.replace(staging / f"pillow-{version}", cache / f"pillow-{version}")
    (cache / f"pillow-{version}.complete").write_text(f"{len(list(images.rglob('*')))} entries\n")
    return images
