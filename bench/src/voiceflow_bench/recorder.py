"""The state of one suite run: the table rows, the raw results for the JSON, and each step's wall time under the
progress bar."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from rich.progress import Progress

from voiceflow_bench.config import SuiteConfig
from voiceflow_bench.serving.stats import Row

T = TypeVar("T")
#: Progress-bar ticks: the ten steps of ``run_suite`` plus the final one.
STEPS = 11


def finite(value: float, digits: int = 3) -> float:
    """``value`` rounded, or NaN when it is not finite (NaN and inf both become NaN, later written as null)."""
    return round(value, digits) if math.isfinite(value) else float("nan")


class Recorder:
    """Collects rows (for the table) and raw results (for the JSON) while the sections run."""

    def __init__(self, config: SuiteConfig, progress: Progress) -> None:
        self.config = config
        self.progress = progress
        self.rows: list[Row] = []
        self.raw: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.task = progress.add_task("benchmark suite", total=STEPS)

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """Run one step under the progress bar, timing it."""
        self.progress.update(self.task, description=name)
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[name] = round(time.perf_counter() - started, 2)
            self.progress.advance(self.task)

    def describe(self, text: str) -> None:
        """Show what the current step is doing."""
        self.progress.update(self.task, description=text)

    def add(self, *rows: Row) -> None:
        """Record rows."""
        self.rows.extend(rows)
