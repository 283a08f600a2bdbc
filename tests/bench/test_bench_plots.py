"""The suite's pictures from a recorded document (voiceflow_bench.plots), and the calibration picture at publish
(voiceflow_models.evaluation.calibration_plot): each is a PNG, and a missing series draws nothing instead of failing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voiceflow_bench.plots import write_plots
from voiceflow_models.evaluation.calibration_plot import plot_calibration

PNG = b"\x89PNG\r\n\x1a\n"


def _doc() -> dict:
    rng = np.random.default_rng(0)
    door = {"p50_ms": 2.0, "samples_ms": list(rng.gamma(4, 0.5, 60)), "bare_samples_ms": list(rng.gamma(4, 0.3, 60))}
    points = [{"concurrency": c, "rps": 100.0 * min(c, 4)} for c in (1, 4, 16, 64)]
    return {
        "mode": "quick",
        "raw": {
            "roundtrip": {"REST /infer (JSON)": door, "OIP infer binary": door},
            "throughput": points,
            "throughput_batching_on": [{**p, "rps": p["rps"] * 1.5} for p in points],
            "bare_ort_throughput": [{"windows_per_s": 450.0}],
            "hot_reload": {"rss_mb": [300.0, 305.0, 306.0, 306.5], "reloads_under_load": 2, "rss_growth": 0.0217},
        },
    }


def test_bench_pictures(tmp_path: Path) -> None:
    drawn = write_plots(_doc(), tmp_path)
    assert [p.name for p in drawn] == ["latency.png", "throughput.png", "rss.png"]
    assert all(p.read_bytes()[:8] == PNG for p in drawn)


def test_missing_series_draw_nothing(tmp_path: Path) -> None:
    assert write_plots({"mode": "quick", "raw": {}}, tmp_path) == []


def test_calibration_picture(tmp_path: Path) -> None:
    grid = [
        {"vector": "embedding", "method": "cohesion", "threshold": t, "der_collar_025": d, "der_collar_0": d + 0.05}
        for t, d in ((0.5, 0.3), (0.6, 0.2), (0.7, 0.25))
    ]
    grid.append(
        {"vector": "embedding", "method": "spectral", "threshold": 0.7, "der_collar_025": 0.22, "der_collar_0": 0.3}
    )
    calibration = {
        "vector": "embedding",
        "method": "cohesion",
        "threshold": 0.6,
        "grid": grid,
        "validation_conversations": 2,
    }
    path = plot_calibration(calibration, tmp_path / "calibration.png")
    assert path is not None and path.read_bytes()[:8] == PNG
    assert plot_calibration({"grid": []}, tmp_path / "none.png") is None
