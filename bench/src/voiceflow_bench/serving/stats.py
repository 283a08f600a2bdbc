"""Latency summaries and result rows shared by every serving benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Verdict = Literal["pass", "miss", "info", "pending"]


@dataclass(frozen=True)
class Summary:
    """Percentiles of one set of timed calls (milliseconds); ``failures`` counts calls that did not succeed."""

    n: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    failures: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def summarize(samples_s: Sequence[float] | np.ndarray, failures: int = 0) -> Summary:
    """Summarise per-call latencies given in seconds (NaN percentiles when there are none)."""
    data = np.asarray(samples_s, dtype=np.float64) * 1000.0
    if data.size == 0:
        nan = float("nan")
        return Summary(0, nan, nan, nan, nan, failures)
    p50, p99 = np.percentile(data, [50, 99])
    return Summary(
        n=int(data.size),
        p50_ms=round(float(p50), 4),
        p99_ms=round(float(p99), 4),
        mean_ms=round(float(data.mean()), 4),
        max_ms=round(float(data.max()), 4),
        failures=failures,
    )


@dataclass
class Row:
    """One line of the benchmark table: what was measured, against which target, and the verdict."""

    section: str
    name: str
    measured: float | None
    unit: str
    target: str = ""
    verdict: Verdict = "info"
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN/inf become None so the JSON stays standard)."""
        out = asdict(self)
        if self.measured is not None and not math.isfinite(self.measured):
            out["measured"] = None
        return out


def at_most(value: float | None, limit: float) -> Verdict:
    """``pass`` when ``value <= limit`` (``miss`` for a missing or non-finite value)."""
    return "pass" if value is not None and math.isfinite(value) and value <= limit else "miss"


def at_least(value: float | None, limit: float) -> Verdict:
    """``pass`` when ``value >= limit`` (``miss`` for a missing or non-finite value)."""
    return "pass" if value is not None and math.isfinite(value) and value >= limit else "miss"


__all__ = ["Row", "Summary", "Verdict", "at_least", "at_most", "summarize"]
