"""The progress lines a worker of the fused stage logs (the FnApiRunner gives the launcher no live metrics, so the
workers say it themselves): pairs checked, of the run's total when the launcher could count it, passed, rejected,
pairs/s and the time left."""
from __future__ import annotations

import logging
import os
import time
from typing import NamedTuple, Optional

log = logging.getLogger("tuwen")


class ProgressConfig(NamedTuple):
    """What a worker's progress lines say: every ``seconds`` (0: never); ``total`` the pairs of the whole run when
    the launcher could count them (None: unknown), shared by ``workers`` workers."""
    seconds: float = 0.0
    total: Optional[int] = None
    workers: int = 1


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """A worker's progress line every ``seconds``, and a last one when the worker is done: pairs checked (of the
    run's total when known), passed and rejected by the checks so far, pairs/s, and the time left (assuming the
    workers share the total evenly)."""

    def __init__(self, config: ProgressConfig):
        self.config = config
        self.seen = self.passed = 0
        self.started = self.last_report = time.monotonic()

    def tick(self) -> None:
        self.seen += 1
        if self.config.seconds and time.monotonic() - self.last_report >= self.config.seconds:
            self.last_report = time.monotonic()
            self.report()

    def line(self, now: float, final: bool = False) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.seen / elapsed
        total, workers = self.config.total, max(self.config.workers, 1)
        of = ""
        if total:
            share = total / workers  # this worker's expected share
            of = f" of {'~' if workers > 1 else ''}{round(share):,} ({min(self.seen / share, 1):.0%})"
        said = (f"tuwen: worker {os.getpid()}{' done' if final else ''}: {self.seen:,} pairs checked{of}, "
                f"{self.passed:,} passed, {self.seen - self.passed:,} rejected, {rate:.0f} pairs/s")
        if total and not final and rate > 0:
            said += f", about {_duration(max(total / workers - self.seen, 0) / rate)} left"
        return said

    def report(self, final: bool = False) -> None:
        log.info("%s", self.line(time.monotonic(), final))
