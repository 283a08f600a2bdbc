"""The demo's closing summary: one table on the terminal and artifacts/demo/summary.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from demo.rest_load import Load
from demo.terminal import console


def report(
    *,
    artifacts: Path,
    registry: str,
    versions: tuple[str, str],
    load: Load,
    streamed: dict[str, Any],
    real: dict[str, Any] | None,
    model: str,
    wall_s: float,
    timings: dict[str, float],
) -> None:
    """Print the summary table and write summary.json next to the demo's artifacts."""
    version_a, version_b = versions
    scores = streamed["scores"]
    latencies = np.array(load.latencies_ms or [0.0])
    p50, p99 = np.percentile(latencies, 50), np.percentile(latencies, 99)
    der_025, der_0 = scores["der_collar_025"], scores["der_collar_0"]
    summary = Table(title="VoiceFlow demo summary", show_lines=False)
    summary.add_column("what")
    summary.add_column("value")
    summary.add_row("versions published", f"{model} v{version_a} (trained), v{version_b} (fine-tuned)")
    summary.add_row("served", f"v{version_a} -> hot reload -> v{version_b} -> rollback -> v{version_a}")
    summary.add_row("requests during reload + rollback", f"{load.requests} sent, {load.failures} failed")
    summary.add_row("REST /infer round trip", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    summary.add_row(
        "DER, synthetic held-out conversation", f"{der_025:.1%} (±0.25 s), {der_0:.1%} (collar 0), streamed"
    )
    if real is None:
        summary.add_row("DER, real sample (development recording)", "skipped: run `make real-sample`")
    else:
        real_scores = real["scores"]
        summary.add_row(
            "DER, real sample (development recording)",
            f"{real_scores['der_collar_025']:.1%} (±0.25 s), {real_scores['der_collar_0']:.1%} (collar 0); "
            f"{real['speakers_found']} speakers found ({real['reference_speakers']} in the reference)",
        )
    summary.add_row("streaming real-time factor", f"{streamed['rtf']}")
    metadata_path = artifacts / "publish-a" / "metadata.json"
    if metadata_path.is_file():
        perf = json.loads(metadata_path.read_text()).get("performance", {}).get("cpu", {})
        model_latency = f"p50 {perf.get('p50_ms')} ms, p99 {perf.get('p99_ms')} ms"
        summary.add_row("model latency (bare ONNX Runtime)", model_latency)
    pictures = [p for p in (artifacts / "timeline.png", artifacts / "publish-a" / "calibration.png") if p.is_file()]
    summary.add_row("pictures", ", ".join(str(p.relative_to(artifacts)) for p in pictures) or "none")
    summary.add_row("registry", registry)
    summary.add_row("artifacts", str(artifacts))
    wall = f"{wall_s:.0f} s (" + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()) + ")"
    summary.add_row("wall time", wall)
    console.print(summary)
    (artifacts / "summary.json").write_text(
        json.dumps(
            {
                "versions": [version_a, version_b],
                "requests": load.requests,
                "failures": load.failures,
                "model": model,
                "der": scores,
                "real_sample": None
                if real is None
                else {"der": real["scores"], "speakers_found": real["speakers_found"], "role": "development"},
                "timings_s": {name: round(seconds, 1) for name, seconds in timings.items()},
                "rtf": streamed["rtf"],
                "wall_s": round(wall_s, 1),
                "pictures": [str(p) for p in pictures],
            },
            indent=2,
        )
    )
