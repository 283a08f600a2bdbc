"""The suite's pictures (PNG, matplotlib's Agg backend), drawn from the JSON document's recorded data:

- ``latency.png``: round-trip latency distribution of each front door beside bare ONNX Runtime timed alongside;
- ``throughput.png``: requests per second against concurrency (micro-batching off and on) and bare ORT's best;
- ``rss.png``: the server's RSS after each hot-reload cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

BARE_COLOUR = "#7f7f7f"
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _ecdf(ax: Any, samples: Sequence[float], **style: Any) -> None:
    data = np.sort(np.asarray(samples, dtype=np.float64))
    ax.step(data, np.arange(1, data.size + 1) / data.size, where="post", **style)


def latency_plot(doc: dict[str, Any], path: Path) -> Path | None:
    """Cumulative distribution of each door's round trip (solid) and bare ORT alongside it (dotted, same colour)."""
    doors = {k: v for k, v in doc["raw"].get("roundtrip", {}).items() if v.get("samples_ms")}
    if not doors:
        return None
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=100)
    for colour, (name, door) in zip(COLOURS, doors.items(), strict=False):
        _ecdf(ax, door["samples_ms"], color=colour, linewidth=1.8, label=f"{name} (p50 {door['p50_ms']:.2f} ms)")
        _ecdf(ax, door["bare_samples_ms"], color=colour, linewidth=1.0, linestyle=":")
    ax.plot([], [], color=BARE_COLOUR, linestyle=":", label="bare ONNX Runtime timed alongside (dotted)")
    ax.set_xscale("log")
    ax.set_xlabel("latency per call, batch 1 (ms, log scale)")
    ax.set_ylabel("fraction of calls")
    ax.set_ylim(0, 1.01)
    ax.axhline(0.99, color="black", linewidth=0.6, alpha=0.5)
    ax.text(ax.get_xlim()[0], 0.985, " p99", va="top", fontsize=8)
    ax.set_title(f"Latency at concurrency 1: server vs bare ONNX Runtime ({doc['mode']} run)", fontsize=11)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def throughput_plot(doc: dict[str, Any], path: Path) -> Path | None:
    """Binary OIP requests/s against concurrency, batching off and on, with bare ORT's best windows/s."""
    raw = doc["raw"]
    series = {"micro-batching off": raw.get("throughput"), "micro-batching on": raw.get("throughput_batching_on")}
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.6), dpi=100)
    for colour, (name, points) in zip(COLOURS, series.items(), strict=False):
        conc = [p["concurrency"] for p in points]
        ax.plot(conc, [p["rps"] for p in points], marker="o", color=colour, label=f"server, {name}")
    bare = [p["windows_per_s"] for p in raw.get("bare_ort_throughput", [])]
    if bare:
        ax.axhline(max(bare), color=BARE_COLOUR, linestyle="--", label=f"bare ONNX Runtime best ({max(bare):.0f}/s)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({p["concurrency"] for v in series.values() for p in v}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("concurrent clients (binary OIP, one 1 s window per request)")
    ax.set_ylabel("requests (windows) per second")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Throughput against concurrency ({doc['mode']} run)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def rss_plot(doc: dict[str, Any], path: Path) -> Path | None:
    """Server RSS after each reload cycle (the first cycles under load, the rest without)."""
    reload = doc["raw"].get("hot_reload", {})
    rss = reload.get("rss_mb") or []
    if not rss:
        return None
    under_load = int(reload.get("reloads_under_load", 0))
    cycles = np.arange(1, len(rss) + 1)
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    ax.plot(cycles, rss, marker="o", color=COLOURS[0])
    if 0 < under_load < len(rss):
        ax.axvspan(0.5, under_load + 0.5, color=COLOURS[1], alpha=0.08, label="reloads under mixed load")
        ax.legend(fontsize=8)
    growth = reload.get("rss_growth")
    suffix = f": {growth:+.1%} last vs first" if isinstance(growth, float) else ""
    ax.set_title(f"Server RSS over hot-reload cycles{suffix}", fontsize=11)
    ax.set_xlabel("reload cycle")
    ax.set_ylabel("RSS (MiB)")
    ax.set_xticks(cycles)
    low, high = min(rss), max(rss)
    ax.set_ylim(low - max(5.0, 0.1 * low), high + max(5.0, 0.1 * high))
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(doc: dict[str, Any], out_dir: Path, prefix: str = "") -> list[Path]:
    """Every picture the document has data for, as ``out_dir/<prefix>{latency,throughput,rss}.png``."""
    drawn = [
        latency_plot(doc, out_dir / f"{prefix}latency.png"),
        throughput_plot(doc, out_dir / f"{prefix}throughput.png"),
        rss_plot(doc, out_dir / f"{prefix}rss.png"),
    ]
    return [p for p in drawn if p is not None]
