"""The calibration picture (PNG, matplotlib's Agg backend): validation DER against the clustering threshold, one
line per (output, final pass), the chosen point marked. Drawn at publish from accuracy.json's `calibration` grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")


def plot_calibration(calibration: dict[str, Any], path: str | Path, title: str = "") -> Path | None:
    """DER (collar 0.25 s, solid; collar 0, dotted) against the threshold for every calibrated (vector, method);
    a pass scored at one threshold only (spectral needs none) is a dashed level. None when the grid is empty."""
    grid = calibration.get("grid") or []
    if not grid:
        return None
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for point in grid:
        series.setdefault((point["vector"], point.get("method", "cohesion")), []).append(point)
    fig, ax = plt.subplots(figsize=(8, 4.6), dpi=100)
    for colour, ((vector, method), points) in zip(COLOURS * 4, series.items(), strict=False):
        points = sorted(points, key=lambda p: p["threshold"])
        if len(points) == 1:  # a pass that needs no threshold (spectral): a level across the axis
            ax.axhline(
                100 * points[0]["der_collar_025"],
                color=colour,
                linestyle="--",
                label=f"{vector}, {method} (no threshold)",
            )
            continue
        xs = [p["threshold"] for p in points]
        ax.plot(
            xs,
            [100 * p["der_collar_025"] for p in points],
            color=colour,
            marker="o",
            markersize=4,
            label=f"{vector}, {method}",
        )
        ax.plot(xs, [100 * p["der_collar_0"] for p in points], color=colour, linestyle=":", linewidth=1)
    chosen = [
        p
        for p in grid
        if p["vector"] == calibration.get("vector")
        and p["threshold"] == calibration.get("threshold")
        and p.get("method", "cohesion") == calibration.get("method", "cohesion")
    ]
    if chosen and len(series[(chosen[0]["vector"], chosen[0].get("method", "cohesion"))]) > 1:
        best = chosen[0]
        ax.plot(
            best["threshold"],
            100 * best["der_collar_025"],
            marker="*",
            markersize=16,
            color="black",
            linestyle="none",
            label=f"chosen: {best['vector']}, {best.get('method', 'cohesion')}, threshold {best['threshold']:g}",
        )
    ax.plot([], [], color="grey", linestyle=":", label="collar 0 (dotted)")
    ax.set_xlabel("clustering threshold")
    ax.set_ylabel("validation DER, collar 0.25 s (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    n = calibration.get("validation_conversations")
    ax.set_title(
        title or f"Calibration: DER against the clustering threshold ({n} validation conversations)", fontsize=11
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
