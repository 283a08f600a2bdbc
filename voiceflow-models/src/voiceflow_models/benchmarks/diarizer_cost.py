"""Cost of the shared diarizer over long sessions: online push per window, finalize, memory (issue 12, finding 7).

Streams synthetic 256-d window embeddings (0.5 s hop, like a 1 s / 0.5 s session) through ``StreamingDiarizer`` for
sessions of 300 s, 1800 s and 3600 s and prints, per session: the mean and p99 time of ``push`` over the last 10 %
of windows (flat across lengths = bounded per window), the ``finalize`` time, the diarizer's state after the last
push (tracemalloc: it keeps one float32 unit vector per window for the final pass) and what ``finalize`` adds at
its peak. ``--worst`` uses threshold 1.0 (a new speaker per window until the online
cap): the case that was quadratic.

    python -m voiceflow_models.benchmarks.diarizer_cost [--seconds 300 1800 3600] [--method spectral] [--worst]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from voiceflow_contract.diarization import METHODS, StreamingDiarizer

HOP_S = 0.5
DIM = 256


def session_vectors(seconds: float, speakers: int = 4, seed: int = 0) -> np.ndarray:
    """[windows, DIM] embeddings: turns of 2-10 s among ``speakers`` voices sharing a common direction, plus noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds / HOP_S)
    shared, protos = rng.normal(0, 1, DIM) * 2.0, rng.normal(0, 1, (speakers, DIM))
    labels = np.empty(n, dtype=np.int64)
    i = 0
    while i < n:
        turn = int(rng.integers(4, 21))
        labels[i : i + turn] = rng.integers(0, speakers)
        i += turn
    return np.asarray(shared + protos[labels] + rng.normal(0, 0.8, (n, DIM)), dtype=np.float32)


def _run(vectors: np.ndarray, method: str, worst: bool) -> tuple[StreamingDiarizer, np.ndarray, float, int]:
    diarizer = StreamingDiarizer(1.0, HOP_S, threshold=1.0 if worst else 0.8, method=method)  # type: ignore[arg-type]
    times = np.empty(len(vectors))
    for i, vector in enumerate(vectors):
        t0 = time.perf_counter()
        diarizer.push(i * HOP_S, i * HOP_S + 1.0, vector)
        times[i] = time.perf_counter() - t0
    t0 = time.perf_counter()
    speakers = len({s.speaker for s in diarizer.finalize()})
    return diarizer, times, time.perf_counter() - t0, speakers


def measure(seconds: float, method: str, worst: bool) -> dict[str, Any]:
    """Times from a plain run; memory from a second run under tracemalloc (which slows every allocation)."""
    vectors = session_vectors(seconds)
    diarizer, times, finalize_s, speakers = _run(vectors, method, worst)
    tracemalloc.start()
    held = StreamingDiarizer(1.0, HOP_S, threshold=1.0 if worst else 0.8, method=method)  # type: ignore[arg-type]
    for i, vector in enumerate(vectors):
        held.push(i * HOP_S, i * HOP_S + 1.0, vector)
    state, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    held.finalize()
    _, final_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tail = times[int(0.9 * len(times)) :]
    return {
        "seconds": seconds,
        "windows": len(vectors),
        "push_mean_us": float(tail.mean() * 1e6),
        "push_p99_us": float(np.percentile(tail, 99) * 1e6),
        "online_speakers": diarizer.clusterer.num_speakers,
        "state_mb": state / 2**20,
        "finalize_s": finalize_s,
        "finalize_extra_mb": max(0, final_peak - state) / 2**20,
        "final_speakers": speakers,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="diarizer_cost")
    parser.add_argument("--seconds", type=float, nargs="+", default=[300.0, 1800.0, 3600.0])
    parser.add_argument("--method", choices=METHODS, default="spectral", help="finalize's pass (default spectral)")
    parser.add_argument("--worst", action="store_true", help="threshold 1.0: a new online speaker per window")
    args = parser.parse_args(argv)
    table = Table(title=f"StreamingDiarizer cost per window ({DIM}-d, hop {HOP_S} s, method {args.method})")
    for col in (
        "session",
        "windows",
        "push mean",
        "push p99",
        "online spk",
        "state",
        "finalize",
        "finalize extra",
        "final spk",
    ):
        table.add_column(col)
    for seconds in args.seconds:
        r = measure(seconds, args.method, args.worst)
        table.add_row(
            f"{seconds:.0f} s",
            str(r["windows"]),
            f"{r['push_mean_us']:.0f} us",
            f"{r['push_p99_us']:.0f} us",
            str(r["online_speakers"]),
            f"{r['state_mb']:.1f} MB",
            f"{r['finalize_s']:.2f} s",
            f"{r['finalize_extra_mb']:.1f} MB",
            str(r["final_speakers"]),
        )
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
