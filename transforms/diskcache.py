"""The on-disk cache of objects that take a second or more to build from the package's data and jieba's
dictionary (the sensitive-word matcher, the person-name statistics), shared by the processes of a machine.

Where: ``$TUWEN_CACHE_DIR``, else ``~/.cache/tuwen``; ``TUWEN_CACHE_DIR=""`` turns it off. Callers key their files
by everything the object is built from, so a stale file is never read. The cache is never fatal: a missing,
corrupt, foreign or unwritable file only means building the object again.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Optional


def cache_root(override: Optional[str] = None) -> Optional[Path]:
    """The cache folder: ``override`` when given ("" = no cache), else $TUWEN_CACHE_DIR, else ~/.cache/tuwen;
    None when caching is off or there is no home to put it in."""
    d = override if override is not None else os.environ.get("TUWEN_CACHE_DIR")
    if d == "":
        return None
    if d:
        return Path(d)
    home = os.path.expanduser("~")
    return None if home == "~" else Path(home) / ".cache" / "tuwen"


def load(path: Optional[Path]):
    """The object pickled at ``path``, or None (no file, or one that cannot be read back)."""
    if path is None:
        return None
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception:  # a corrupt or foreign file, a folder we may not read
        return None


def save(path: Optional[Path], obj, keep: Optional[int] = None) -> None:
    """Pickle ``obj`` to ``path`` atomically (parallel workers never read half a file), readable by others sharing
    the folder; with ``keep``, only the newest ``keep`` files of the folder stay (every input change makes a new
    key, old files would pile up)."""
    if path is None:
        return
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
        if keep is not None:
            old = sorted(path.parent.glob("*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)[keep:]
            for p in old:
                p.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only home on a worker, a full disk, a file another process removed first
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
