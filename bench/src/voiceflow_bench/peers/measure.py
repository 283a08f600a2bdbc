"""What the harness measures on one running server, with the same load generator for every one: round trips at
concurrency 1 interleaved with bare ONNX Runtime (tritonclient binary OIP where the server speaks it, otherwise its own
request sent as pre-built bytes over one keep-alive connection), then closed-loop throughput at each concurrency
(``voiceflow_bench.serving.throughput``), then the RSS of the server's process tree."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from voiceflow_bench.serving.http_client import Request
from voiceflow_bench.serving.roundtrip import Call, interleaved_samples, oip_caller
from voiceflow_bench.serving.stats import summarize
from voiceflow_bench.serving.throughput import measure_throughput

REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Target:
    """A started server as the load generator sees it."""

    port: int
    request: Request  # one window, in the server's protocol
    oip_model: str | None  # binary OIP: c=1 goes through tritonclient
    rss_mb: Callable[[], float]
    cpu_s: Callable[[], float]  # CPU seconds used so far by the server's process tree

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Plan:
    """How much to send: c=1 round trips, and (concurrency, requests) levels, each capped at ``level_seconds``."""

    c1_runs: int
    levels: tuple[tuple[int, int], ...]
    level_seconds: float
    warmup: int = 20


@contextmanager
def raw_caller(port: int, request: Request) -> Iterator[Call]:
    """``request`` (pre-encoded body) over one keep-alive ``http.client`` connection; 200 means success."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    headers = dict(request.headers)

    def call() -> bool:
        try:
            connection.request(request.method, request.path, body=request.body, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            return False
        return response.status == 200

    try:
        yield call
    finally:
        connection.close()


def caller(target: Target) -> AbstractContextManager[Call]:
    """The c=1 caller for ``target``."""
    if target.oip_model is not None:
        return oip_caller(target.url, target.oip_model, binary=True)
    return raw_caller(target.port, target.request)


def measure(target: Target, bare_call: Call, plan: Plan, tick: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every measurement of one server; the dict becomes (most of) its row."""
    note = tick or (lambda _: None)
    note("c=1 round trips")
    with caller(target) as call:
        (server_s, bare_s), (failed, _) = interleaved_samples([call, bare_call], runs=plan.c1_runs)
    server, bare = summarize(server_s, failed), summarize(bare_s)
    out: dict[str, Any] = {
        "c1_p50_ms": server.p50_ms,
        "c1_p99_ms": server.p99_ms,
        "bare_c1_p50_ms": bare.p50_ms,
        "bare_c1_p99_ms": bare.p99_ms,
        "c1_overhead_p50_ms": round(server.p50_ms - bare.p50_ms, 3),
        "c1_overhead_p99_ms": round(server.p99_ms - bare.p99_ms, 3),
        "c1_failures": server.failures,
        "throughput": [],
    }
    failures = server.failures
    cpu_before, sent = target.cpu_s(), 0
    for concurrency, total in plan.levels:
        note(f"throughput c={concurrency}")
        result = measure_throughput(
            target.port,
            target.request,
            concurrency=concurrency,
            total=total,
            warmup=plan.warmup,
            max_seconds=plan.level_seconds,
            timeout_s=REQUEST_TIMEOUT_S,
        )
        out["throughput"].append(result.to_dict())
        out[f"rps_c{concurrency}"] = result.rps
        failures += result.latency.failures
        sent += result.requests + plan.warmup
    out["max_throughput_rps"] = max((p["rps"] for p in out["throughput"]), default=float("nan"))
    out["failed_requests"] = failures
    # Server CPU per request over the whole sweep (warm-ups included): less sensitive to a busy machine than req/s.
    out["cpu_ms_per_request"] = round((target.cpu_s() - cpu_before) * 1000.0 / max(1, sent), 3)
    out["rss_mb"] = target.rss_mb()
    return out


def levels_for(concurrencies: Sequence[int], requests: int) -> tuple[tuple[int, int], ...]:
    """``requests`` per level (at least 4 per connection, so every connection sends more than one)."""
    return tuple((c, max(requests, 4 * c)) for c in concurrencies)


__all__ = ["Plan", "Target", "caller", "levels_for", "measure", "raw_caller"]
