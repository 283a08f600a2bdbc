"""Post-deploy smoke test of a running service: `/health`, `/ready`, then `/infer` on synthetic 1 s windows.

Each check is named (``smoke.health``, ``smoke.ready``, ``smoke.infer``, ``smoke.version``, ``smoke.probabilities``,
``smoke.latency``) so a failed deploy says which rule broke. The windows are deterministic tones plus a near-silent
window (no data files needed); values are rounded to 4 decimals to keep each JSON body small (~0.4 MB per window).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from voiceflow_contract.spec import SAMPLE_RATE, WINDOW_SAMPLES
from voiceflow_inference.client.service_client import ServiceCallError, ServiceClient

ROW_SUM_TOLERANCE = 1e-3  # float32 softmax rows sum to 1 within ~1e-6; leave room for JSON float rounding


def synthetic_windows(count: int, seed: int = 0) -> npt.NDArray[np.float64]:
    """``count`` deterministic 1 s windows at 48 kHz: window 0 near silence, then tones of rising pitch + noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW_SAMPLES, dtype=np.float64) / SAMPLE_RATE
    rows = []
    for i in range(count):
        noise = rng.standard_normal(WINDOW_SAMPLES) * 0.01
        if i == 0:
            rows.append(noise * 0.1)
        else:
            freq = 110.0 * (1 + i)  # speech-like fundamental and harmonics
            rows.append(0.3 * np.sin(2 * np.pi * freq * t) + 0.1 * np.sin(2 * np.pi * 2.5 * freq * t) + noise)
    return np.round(np.clip(np.stack(rows), -1.0, 1.0), 4).astype(np.float64)


@dataclass
class SmokeCheck:
    """One named smoke rule: passed or not, with what was seen."""

    name: str
    passed: bool
    detail: str
    seconds: float = 0.0


@dataclass
class SmokeResult:
    """Every check run (in order) and the single-window latencies (ms)."""

    checks: list[SmokeCheck] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def first_failure(self) -> SmokeCheck | None:
        """The first failed check (the one a failed deploy names)."""
        return next((c for c in self.checks if not c.passed), None)

    def percentile_ms(self, q: float) -> float | None:
        """A latency percentile (linear interpolation) over the single-window calls; None with no calls."""
        if not self.latencies_ms:
            return None
        return float(np.percentile(np.asarray(self.latencies_ms), q))


def check_probabilities(body: dict[str, Any], windows: int, num_speakers: int | None) -> str | None:
    """Why ``body["probabilities"]`` is not [windows, num_speakers] finite rows in [0, 1] summing to 1 (None: fine)."""
    probs = body.get("probabilities")
    if not isinstance(probs, list) or len(probs) != windows:
        got = len(probs) if isinstance(probs, list) else type(probs).__name__
        return f"expected {windows} rows of probabilities, got {got}"
    for i, row in enumerate(probs):
        if not isinstance(row, list) or not row:
            return f"row {i} is not a list of numbers"
        if num_speakers is not None and len(row) != num_speakers:
            return f"row {i} has {len(row)} speakers, the model's metadata says {num_speakers}"
        if not all(isinstance(p, int | float) and math.isfinite(p) for p in row):
            return f"row {i} holds a non-finite value"
        if any(p < -1e-6 or p > 1 + 1e-6 for p in row):
            return f"row {i} has a value outside [0, 1]"
        total = math.fsum(row)
        if abs(total - 1.0) > ROW_SUM_TOLERANCE:
            return f"row {i} sums to {total:.6f}, not 1"
    return None


def _check_answer(
    body: Any, *, model: str, version: str, sha256: str | None, windows: int, num_speakers: int | None
) -> list[SmokeCheck]:
    if not isinstance(body, dict):
        return [SmokeCheck("smoke.infer", False, f"answer is not a JSON object: {str(body)[:200]}")]
    served = (body.get("model"), body.get("version"))
    if served != (model, version):
        return [SmokeCheck("smoke.version", False, f"served {served[0]} {served[1]}, expected {model} {version}")]
    if sha256 is not None and body.get("sha256") != sha256:
        return [
            SmokeCheck(
                "smoke.version", False, f"served sha256 {str(body.get('sha256'))[:12]}…, registry has {sha256[:12]}…"
            )
        ]
    problem = check_probabilities(body, windows, num_speakers)
    if problem is not None:
        return [SmokeCheck("smoke.probabilities", False, problem)]
    return []


def run_smoke(
    client: ServiceClient,
    *,
    model: str,
    version: str,
    sha256: str | None,
    num_speakers: int | None,
    windows: int,
    max_latency_ms: float,
    on_call: Any = None,
) -> SmokeResult:
    """Smoke-test the service now serving ``model`` ``version``; stops at the first failed check.

    Order: ``/health`` 200; ``/ready`` 200 on ``version`` (and ``sha256``); one ``/infer`` with all ``windows``
    (the batch path); ``windows`` single-window ``/infer`` calls whose round-trip p99 must be <= ``max_latency_ms``.
    Every answer must name ``model`` ``version`` (and ``sha256``) and hold finite probability rows summing to 1.
    ``on_call()`` is called after each HTTP call (progress).
    """
    if windows < 1:
        raise ValueError(f"windows: must be >= 1, got {windows}")
    result = SmokeResult()
    tick = on_call if callable(on_call) else (lambda: None)
    mark = [time.perf_counter()]

    def add(name: str, passed: bool, detail: str) -> bool:
        now = time.perf_counter()
        result.checks.append(SmokeCheck(name, passed, detail, round(now - mark[0], 3)))
        mark[0] = now
        return passed

    try:
        client.health()
        tick()
        add("smoke.health", True, "GET /health 200")
        status, ready = client.ready()
        tick()
        if status != 200 or ready.get("version") != version:
            add("smoke.ready", False, f"/ready {status} serving {ready.get('version')}, expected {version}")
            return result
        add("smoke.ready", True, f"/ready 200 on {version}")

        audio = synthetic_windows(windows)
        batch = client.infer(orjson.dumps({"audio": audio.tolist()}), "deploy-smoke-batch")
        tick()
        if batch.status != 200:
            add("smoke.infer", False, f"POST /infer ({windows} windows) HTTP {batch.status}: {str(batch.body)[:300]}")
            return result
        problems = _check_answer(
            batch.body, model=model, version=version, sha256=sha256, windows=windows, num_speakers=num_speakers
        )
        if problems:
            result.checks.extend(problems)
            return result
        for i in range(windows):
            single = client.infer(orjson.dumps({"audio": [audio[i].tolist()]}), f"deploy-smoke-{i}")
            tick()
            if single.status != 200:
                add("smoke.infer", False, f"POST /infer (window {i}) HTTP {single.status}: {str(single.body)[:300]}")
                return result
            problems = _check_answer(
                single.body, model=model, version=version, sha256=sha256, windows=1, num_speakers=num_speakers
            )
            if problems:
                result.checks.extend(problems)
                return result
            result.latencies_ms.append(single.seconds * 1000.0)
        add("smoke.infer", True, f"{windows + 1} calls 200 ({windows}-window batch + {windows} single)")
        add("smoke.version", True, f"every answer from {model} {version}")
        add("smoke.probabilities", True, "finite rows in [0, 1] summing to 1")
        p99 = float(np.percentile(np.asarray(result.latencies_ms), 99))
        add(
            "smoke.latency",
            p99 <= max_latency_ms,
            f"p99 {p99:.1f} ms {'<=' if p99 <= max_latency_ms else '>'} budget {max_latency_ms:g} ms "
            f"over {windows} single-window calls",
        )
    except ServiceCallError as exc:
        add("smoke.http", False, str(exc))
    return result


__all__ = ["SmokeCheck", "SmokeResult", "check_probabilities", "run_smoke", "synthetic_windows"]
