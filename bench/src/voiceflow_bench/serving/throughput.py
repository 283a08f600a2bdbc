"""Requests per second at a fixed concurrency: C keep-alive connections, each sending its next request as soon as
the previous one is answered, until a bounded number of requests is done (closed-loop load)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from voiceflow_bench.serving.http_client import HttpError, RawHttpConnection, Request
from voiceflow_bench.serving.stats import Summary, summarize


@dataclass(frozen=True)
class ThroughputResult:
    """Completed requests per second at one concurrency, with the latency each request saw."""

    concurrency: int
    requests: int
    rps: float
    latency: Summary

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"concurrency": self.concurrency, "requests": self.requests, "rps": self.rps, **self.latency.to_dict()}


async def _closed_loop(
    port: int,
    request: Request,
    concurrency: int,
    total: int,
    max_seconds: float | None = None,
    timeout_s: float | None = None,
) -> ThroughputResult:
    payload = request.encode(f"127.0.0.1:{port}")
    remaining = total
    samples: list[float] = []
    failures = 0
    stop_at = time.perf_counter() + max_seconds if max_seconds is not None else float("inf")

    async def worker() -> None:
        nonlocal remaining, failures
        connection = RawHttpConnection(port)
        try:
            while remaining > 0 and time.perf_counter() < stop_at:
                remaining -= 1
                started = time.perf_counter()
                try:
                    response = await asyncio.wait_for(connection.send(payload), timeout_s)
                except (HttpError, TimeoutError):
                    failures += 1
                    await connection.close()
                    continue
                if response.status == 200:
                    samples.append(time.perf_counter() - started)
                else:
                    failures += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    sent = len(samples) + failures
    return ThroughputResult(concurrency, sent, round(len(samples) / wall, 2), summarize(samples, failures))


def measure_throughput(
    port: int,
    request: Request,
    *,
    concurrency: int,
    total: int,
    warmup: int = 20,
    max_seconds: float | None = None,
    timeout_s: float | None = None,
) -> ThroughputResult:
    """Closed-loop load of ``total`` requests over ``concurrency`` connections (after ``warmup`` untimed ones).

    ``max_seconds`` stops sending new requests after that long (a slow server gets fewer than ``total``; the result's
    ``requests`` says how many were sent); ``timeout_s`` fails a request that takes longer (its connection is reset).
    """
    if warmup:
        asyncio.run(_closed_loop(port, request, min(concurrency, warmup), warmup, max_seconds, timeout_s))
    return asyncio.run(_closed_loop(port, request, concurrency, total, max_seconds, timeout_s))


__all__ = ["ThroughputResult", "measure_throughput"]
