"""What the suite measures and against which targets: the full and quick configurations, the pass/miss thresholds and
the micro-batcher settings measured beside the default."""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA = "voiceflow.bench-suite/1"
MODEL_NAME = "fast-cnn"
#: The real-speech default model (issue 11), measured beside fast-cnn in its own section.
REAL_SPEECH_MODEL_NAME = "ge2e"
#: Issue 11's per-window target for the real-speech model (the seed's fast-cnn p99), batch 1, 1 thread.
REAL_SPEECH_P99_TARGET_MS = 4.48
WS_OVERHEAD_TARGET_MS = 1.0
OIP_BINARY_OVERHEAD_TARGET_MS = 1.0
THROUGHPUT_FRACTION_TARGET = 0.8
P99_RATIO_TARGET = 2.0
RSS_GROWTH_TARGET = 0.10
WINDOW_P99_BUDGET_MS = 10.0
GPU_P99_TARGET_MS = 5.0
#: The micro-batcher configuration measured beside the default (batching off).
BATCHING_ENV = {
    "VOICEFLOW_BATCHING__ENABLED": "true",
    "VOICEFLOW_BATCHING__MAX_BATCH": "16",
    "VOICEFLOW_BATCHING__MAX_DELAY_MS": "0",
    "VOICEFLOW_BATCHING__MAX_CONCURRENT": "2",
}


@dataclass(frozen=True)
class SuiteConfig:
    """How much of everything to measure."""

    latency_runs: int
    training_steps: int
    training_batch: int
    bare_runs: int
    batch_sizes: tuple[int, ...]
    batch_seconds: float
    roundtrip_runs: int
    concurrency: tuple[tuple[int, int], ...]  # (concurrency, requests)
    rtf_seconds: float
    capacity_levels: tuple[int, ...]
    capacity_seconds: float
    capacity_min_windows: int
    steady_s: float
    reload_s: float
    reloads: int
    reload_cycles: int
    real_speech_rounds: int  # interleaved latency rounds of ge2e beside fast-cnn; 0 leaves the section out


FULL = SuiteConfig(
    latency_runs=500,
    training_steps=8,
    training_batch=32,
    bare_runs=500,
    batch_sizes=(1, 4, 16, 32),
    batch_seconds=1.5,
    roundtrip_runs=300,
    concurrency=((1, 300), (4, 600), (16, 1200), (64, 1600)),
    rtf_seconds=30.0,
    capacity_levels=(1, 2, 4, 8, 16, 24, 32, 48, 64),
    capacity_seconds=6.0,
    capacity_min_windows=100,
    steady_s=15.0,
    reload_s=60.0,
    reloads=20,
    reload_cycles=50,
    real_speech_rounds=20,
)
QUICK = SuiteConfig(
    latency_runs=30,
    training_steps=1,
    training_batch=4,
    bare_runs=40,
    batch_sizes=(1, 8),
    batch_seconds=0.25,
    roundtrip_runs=25,
    concurrency=((1, 40), (4, 80), (16, 96), (64, 128)),
    rtf_seconds=4.0,
    capacity_levels=(1, 4),
    capacity_seconds=2.0,
    capacity_min_windows=0,
    steady_s=2.0,
    reload_s=4.0,
    reloads=2,
    reload_cycles=4,
    real_speech_rounds=0,
)
