"""The pipeline's own files through Beam's FileSystems (local, gs://, s3://): staging and output files opened
without Beam's compression guessing, whole files written under a temporary name and renamed into place, listings
that fail loudly, and the kill points of the kill-and-rerun tests.
"""
from __future__ import annotations

import os
import signal
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems


def _join(*parts: str) -> str:
    return FileSystems.join(*parts)


def _open_read(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _create(path: str):
    return FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _write_atomically(final_path: str, write) -> None:
    """Write through ``write(fileobj)`` to a temporary name beside ``final_path``, then rename over it."""
    tmp = f"{final_path}.tmp-{uuid.uuid4().hex[:12]}"
    with _create(tmp) as fh:
        write(fh)
    FileSystems.rename([tmp], [final_path])


def list_files(pattern: str) -> list[str]:
    """The paths matching ``pattern``, sorted; none when nothing matches. A listing that fails raises: Finalize must
    not take "could not list" for "nothing stale" (a rerun with --overwrite would keep the stale shards)."""
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def kill_point(name: str) -> None:
    """Fault injection for the kill-and-rerun tests: with ``TUWEN_KILL_AT=name`` the process SIGKILLs itself here
    (the points: ``dedup_index_written`` in pipeline/finalize.py; tuwen nightly's in pipeline/nightly.py)."""
    if os.environ.get("TUWEN_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
