"""The peers picture (PNG, matplotlib's Agg backend, as ``voiceflow_bench.plots``): left, requests per second against
concurrency for every server that ran, with bare ONNX Runtime's best as a dashed line; right, the c=1 round-trip
overhead over bare ORT (p50 bar, p99 tick) per server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BARE_COLOUR = "#7f7f7f"
COLOURS = ("#1f77b4", "#17becf", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def peers_plot(doc: dict[str, Any], path: Path) -> Path | None:
    """Draw ``doc`` (the peers JSON document) to ``path``; None when no server ran."""
    rows = [r for r in doc["rows"] if r["status"] == "ok" and r["throughput"]]
    if not rows:
        return None
    colours = {r["server"]: COLOURS[i % len(COLOURS)] for i, r in enumerate(rows)}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), dpi=100, gridspec_kw={"width_ratios": [3, 2]})
    for row in rows:
        points = row["throughput"]
        left.plot(
            [p["concurrency"] for p in points],
            [p["rps"] for p in points],
            marker="o",
            color=colours[row["server"]],
            label=f"{row['server']} {row['version']} ({row['protocol']})",
        )
    bare = doc["bare_ort"]["best_windows_per_s"]
    left.axhline(bare, color=BARE_COLOUR, linestyle="--", label=f"bare ONNX Runtime best ({bare:,.0f}/s)")
    left.set_xscale("log", base=2)
    left.set_xticks(sorted({p["concurrency"] for r in rows for p in r["throughput"]}))
    left.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    left.set_xlabel("concurrent clients (one 1 s window per request)")
    left.set_ylabel("requests (windows) per second")
    left.set_ylim(bottom=0)
    left.grid(alpha=0.3)
    left.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(0, -0.14), ncol=2, frameon=False)
    left.set_title("Throughput against concurrency", fontsize=11)

    names = [r["server"] for r in rows]
    p50 = [r["c1_overhead_p50_ms"] or 0.0 for r in rows]
    p99 = [r["c1_overhead_p99_ms"] or 0.0 for r in rows]
    ys = range(len(rows))
    right.barh(ys, p50, color=[colours[n] for n in names], alpha=0.85, label="p50")
    right.scatter(p99, ys, marker="|", s=300, color="black", label="p99", zorder=3)
    for y, value, tail in zip(ys, p50, p99, strict=True):  # the label right of both the bar and the p99 tick
        right.text(max(value, tail) * 1.08, y, f" {value:.2f}", va="center", fontsize=8)
    right.set_yticks(list(ys), names, fontsize=8)
    right.invert_yaxis()
    right.set_xscale("symlog", linthresh=1.0)
    right.set_xlabel("c=1 round trip minus bare ORT alongside (ms, symlog)")
    right.set_title("Serving overhead at concurrency 1", fontsize=11)
    right.grid(alpha=0.3, axis="x")
    right.set_xlim(0, max([*p50, *p99, 1.0]) * 2.5)  # room for the labels
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    host = doc["host"]
    fig.suptitle(
        f"VoiceFlow and its peers, one run on {host['cpu']} x{host['cpu_count']} "
        f"(load {host['loadavg_start']} -> {host['loadavg_end']}), {doc['created_at'][:16]} UTC",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["peers_plot"]
