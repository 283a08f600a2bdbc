"""Hot reload under load: mixed REST + WebSocket traffic while the watched model file is swapped again and again.

Measures failed requests, p99 while reloading over steady p99, the swap latency (``os.replace`` of the watched file ->
``/ready`` reports the new version) and the server's RSS after every reload cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import orjson
from websockets.asyncio.client import connect

from voiceflow_bench.serving.audio import window_batch
from voiceflow_bench.serving.http_client import HttpError, RawHttpConnection, rest_request
from voiceflow_bench.serving.stats import Summary, summarize
from voiceflow_contract.spec import SAMPLE_RATE


class ModelSwapper:
    """Writes a fresh variant of the model (same weights, a different metadata stamp, so a different sha256 and
    version ``local-<sha12>``) into the watch directory with an atomic ``os.replace``."""

    def __init__(self, model_path: Path, watch_dir: Path, filename: str = "model.onnx") -> None:
        self.proto = onnx.load(str(model_path))
        self.watch_dir = watch_dir
        self.target = watch_dir / filename
        self.count = 0

    def swap(self) -> tuple[str, float]:
        """Write the next variant; returns (the version the server will report, perf_counter at the replace)."""
        self.count += 1
        del self.proto.metadata_props[:]
        self.proto.metadata_props.add(key="voiceflow.bench_variant", value=f"{self.count}-{time.time_ns()}")
        data = self.proto.SerializeToString()
        tmp = self.watch_dir / f".{self.target.name}.tmp"
        tmp.write_bytes(data)
        replaced = time.perf_counter()
        tmp.replace(self.target)
        return f"local-{hashlib.sha256(data).hexdigest()[:12]}", replaced


def wait_for_version(client: httpx.Client, version: str, timeout: float = 60.0) -> float | None:
    """Poll ``/ready`` every 5 ms until it reports ``version``; the perf_counter time it did (None on timeout)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if client.get("/ready").json().get("version") == version:
                return time.perf_counter()
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.005)
    return None


@dataclass
class Sample:
    """One request of the load: when it started, how long it took, whether it succeeded, which endpoint."""

    started: float
    seconds: float
    ok: bool
    kind: str


@dataclass
class ReloadResult:
    """Everything the hot-reload benchmark measured."""

    steady: Summary
    during: Summary
    swap: Summary
    reloads_under_load: int
    failed_reloads: int
    failed_requests: int
    total_requests: int
    rss_mb: list[float] = field(default_factory=list)

    @property
    def p99_ratio(self) -> float:
        """p99 while reloading over steady p99."""
        return self.during.p99_ms / self.steady.p99_ms if self.steady.p99_ms > 0 else float("nan")

    @property
    def rss_growth(self) -> float:
        """RSS after the last cycle over RSS after the first, minus 1 (0.05 = 5 % growth)."""
        return self.rss_mb[-1] / self.rss_mb[0] - 1.0 if len(self.rss_mb) >= 2 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "steady": self.steady.to_dict(),
            "during_reloads": self.during.to_dict(),
            "swap_latency": self.swap.to_dict(),
            "p99_ratio": round(self.p99_ratio, 3),
            "reloads_under_load": self.reloads_under_load,
            "failed_reloads": self.failed_reloads,
            "failed_requests": self.failed_requests,
            "total_requests": self.total_requests,
            "rss_mb": [round(x, 1) for x in self.rss_mb],
            "rss_growth": round(self.rss_growth, 4),
        }


class MixedLoad:
    """Paced (open-loop) REST and WebSocket traffic in a background event loop; samples are kept with timestamps."""

    def __init__(
        self, port: int, ws_url: str, *, rest_workers: int = 2, ws_workers: int = 2, rate_per_worker: float = 20.0
    ) -> None:
        self.port, self.ws_url = port, ws_url
        self.rest_workers, self.ws_workers = rest_workers, ws_workers
        self.interval = 1.0 / rate_per_worker
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> MixedLoad:
        """Begin sending."""
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        """Stop and return every sample."""
        self._stop.set()
        self._thread.join(timeout=120)
        return self.samples

    async def _paced(self, send: Callable[[], Any]) -> None:
        next_at = time.perf_counter()
        while not self._stop.is_set():
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at = max(next_at + self.interval, time.perf_counter() - self.interval)
            await send()

    async def _rest(self) -> None:
        payload = rest_request(window_batch(1, seed=3)).encode(f"127.0.0.1:{self.port}")
        connection = RawHttpConnection(self.port)

        async def send() -> None:
            started = time.perf_counter()
            try:
                ok = (await connection.send(payload)).status == 200
            except HttpError:
                ok = False
            self.samples.append(Sample(started, time.perf_counter() - started, ok, "rest"))

        try:
            await self._paced(send)
        finally:
            await connection.close()

    async def _ws(self) -> None:
        frame = window_batch(1, seed=5)[0].astype("<f4").tobytes()
        start = orjson.dumps(
            {"type": "start", "sample_rate": SAMPLE_RATE, "encoding": "pcm_f32le", "hop_s": 1.0}
        ).decode()
        while not self._stop.is_set():
            # A new session every ~20 windows, so sessions also begin (and pick a version) while reloads happen.
            opened = time.perf_counter()
            try:
                async with connect(self.ws_url, max_size=2**22, open_timeout=30, ping_interval=None) as ws:
                    await ws.send(start)
                    if orjson.loads(await ws.recv()).get("type") != "started":
                        raise RuntimeError("no started message")
                    sent = 0

                    async def send() -> None:
                        nonlocal sent
                        started = time.perf_counter()
                        await ws.send(frame)
                        message = orjson.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                        ok = message.get("type") == "window"
                        self.samples.append(Sample(started, time.perf_counter() - started, ok, "websocket"))
                        sent += 1
                        if sent >= 20:
                            raise _SessionDoneError

                    with contextlib.suppress(_SessionDoneError):
                        await self._paced(send)
                    await ws.send(orjson.dumps({"type": "stop"}).decode())
                    async for raw in ws:
                        if orjson.loads(raw).get("type") == "final":
                            break
            except Exception:  # a broken session is a failed request, and the worker carries on
                self.samples.append(Sample(opened, time.perf_counter() - opened, False, "websocket"))
                await asyncio.sleep(self.interval)

    async def _main(self) -> None:
        tasks = [self._rest() for _ in range(self.rest_workers)] + [self._ws() for _ in range(self.ws_workers)]
        await asyncio.gather(*tasks)


class _SessionDoneError(Exception):
    """Internal: end this WebSocket session and open a new one."""


def hot_reload_under_load(
    *,
    url: str,
    ws_url: str,
    port: int,
    model_path: Path,
    watch_dir: Path,
    rss: Callable[[], float],
    steady_s: float = 15.0,
    reload_s: float = 60.0,
    reloads: int = 20,
    total_cycles: int = 50,
    rest_workers: int = 2,
    ws_workers: int = 2,
    rate_per_worker: float = 20.0,
    progress: Callable[[str], None] | None = None,
) -> ReloadResult:
    """Steady load for ``steady_s``, then ``reloads`` swaps spread over ``reload_s`` under the same load, then more
    swaps without load up to ``total_cycles``; RSS is read after every completed cycle."""
    swapper = ModelSwapper(model_path, watch_dir)
    swaps: list[float] = []
    failed_reloads = 0
    rss_mb: list[float] = []
    load = MixedLoad(port, ws_url, rest_workers=rest_workers, ws_workers=ws_workers, rate_per_worker=rate_per_worker)
    with httpx.Client(base_url=url, timeout=10.0) as client:

        def cycle() -> None:
            nonlocal failed_reloads
            version, replaced = swapper.swap()
            serving = wait_for_version(client, version)
            if serving is None:
                failed_reloads += 1
            else:
                swaps.append(serving - replaced)
            rss_mb.append(rss())

        load.start()
        time.sleep(steady_s)
        reload_start = time.perf_counter()
        for i in range(reloads):
            due = reload_start + i * reload_s / reloads
            time.sleep(max(0.0, due - time.perf_counter()))
            cycle()
            if progress is not None:
                progress(f"reload {i + 1}/{reloads} under load")
        time.sleep(max(0.0, reload_start + reload_s - time.perf_counter()))
        samples = load.stop()
        for i in range(reloads, total_cycles):
            cycle()
            if progress is not None and (i + 1) % 5 == 0:
                progress(f"reload cycle {i + 1}/{total_cycles}")
    steady = [s.seconds for s in samples if s.ok and s.started < reload_start]
    during = [s.seconds for s in samples if s.ok and s.started >= reload_start]
    failed = sum(1 for s in samples if not s.ok)
    return ReloadResult(
        steady=summarize(steady),
        during=summarize(during),
        swap=summarize(np.asarray(swaps)),
        reloads_under_load=reloads,
        failed_reloads=failed_reloads,
        failed_requests=failed,
        total_requests=len(samples),
        rss_mb=rss_mb,
    )


__all__ = ["MixedLoad", "ModelSwapper", "ReloadResult", "hot_reload_under_load", "wait_for_version"]
