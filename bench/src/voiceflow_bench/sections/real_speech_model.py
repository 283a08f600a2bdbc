"""Section 7, the real-speech model (issue 11's default, ge2e): batch-1 latency interleaved with fast-cnn in one run,
then its own server's real-time factor and concurrent real-time sessions (the streaming section's measurement).

Interleaving matters on a shared machine: both models see the same load, so their ratio means something even when
the absolute p99 says as much about the machine as about the model.
"""

from __future__ import annotations

import os
from pathlib import Path

from voiceflow_bench.config import REAL_SPEECH_MODEL_NAME, REAL_SPEECH_P99_TARGET_MS, WINDOW_P99_BUDGET_MS
from voiceflow_bench.model_under_test import export_ge2e, publish_for_serving
from voiceflow_bench.recorder import Recorder
from voiceflow_bench.sections.streaming import streaming
from voiceflow_bench.serving.server import ServerProcess
from voiceflow_bench.serving.stats import Row, at_most
from voiceflow_models.benchmarks.latency_compare import compare_latency

SECTION = f"real-speech model ({REAL_SPEECH_MODEL_NAME})"
RUNS_PER_ROUND = 50


def real_speech_model(rec: Recorder, fast_cnn: Path, work_dir: Path, env: dict[str, str]) -> None:
    """Latency of ge2e beside ``fast_cnn`` (same run, interleaved), then RTF and capacity on a ge2e server."""
    rounds = rec.config.real_speech_rounds
    if rounds <= 0:
        rec.add(
            Row(SECTION, "ge2e latency, RTF, sessions", None, "", "full run only", "pending", "left out of --quick")
        )
        return
    model = export_ge2e(work_dir / f"{REAL_SPEECH_MODEL_NAME}.onnx")
    load_before = os.getloadavg()[0]
    timed = compare_latency([model, fast_cnn], threads=1, rounds=rounds, runs_per_round=RUNS_PER_ROUND)
    load = f"interleaved {rounds} x {RUNS_PER_ROUND} calls each, load {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    ge2e, cnn = timed[str(model)], timed[str(fast_cnn)]
    rec.raw["real_speech_model_latency"] = {"ge2e": ge2e.__dict__, "fast-cnn": cnn.__dict__, "note": load}
    size_mb = model.stat().st_size / 1e6
    rec.add(
        Row(SECTION, "ge2e ORT batch 1, 1 thread p50", ge2e.p50_ms, "ms", "info", "info", load),
        Row(
            SECTION,
            "ge2e ORT batch 1, 1 thread p99",
            ge2e.p99_ms,
            "ms",
            f"<= {REAL_SPEECH_P99_TARGET_MS} (issue 11); <= {WINDOW_P99_BUDGET_MS:g} cpu-realtime",
            at_most(ge2e.p99_ms, REAL_SPEECH_P99_TARGET_MS),
            f"{size_mb:.1f} MB file",
        ),
        Row(SECTION, "fast-cnn ORT batch 1, 1 thread p50 (same run)", cnn.p50_ms, "ms", "info"),
        Row(SECTION, "fast-cnn ORT batch 1, 1 thread p99 (same run)", cnn.p99_ms, "ms", "info"),
        Row(SECTION, "ge2e / fast-cnn p50", round(ge2e.p50_ms / cnn.p50_ms, 2), "x", "info"),
    )
    url = publish_for_serving(model, work_dir / "registry-ge2e", name=REAL_SPEECH_MODEL_NAME)
    with ServerProcess(
        registry_url=url, work_dir=work_dir / "server-ge2e", model_name=REAL_SPEECH_MODEL_NAME, env=env
    ) as server:
        streaming(rec, server, section=SECTION)
