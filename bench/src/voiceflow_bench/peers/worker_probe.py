"""Would more server processes raise throughput here? N VoiceFlow servers share one port (``SO_REUSEPORT``, the
kernel spreads connections) against the same closed-loop binary-OIP load, with the CPU accounts that explain the
answer.

    python -m voiceflow_bench.peers.worker_probe [--workers 1,2] [--concurrency 16] [--seconds 12] [--rounds 2]
                                                 [--no-floor]

An experiment, not a serving mode: each process loads the model itself with registry polling off, because reloads,
A/B stickiness and admin calls are not coordinated across processes (docs/PERFORMANCE_ANALYSIS.md, "Peers side by
side"). Per row: req/s, server CPU per request (all worker processes), the load generator's own CPU per request, and
the cores both keep busy; beside it bare ORT's best windows/s on the same file. When servers plus load generator
already fill every core, a second process can only trade the event loop's idle time for contention. The floor row
serves the same requests from :mod:`voiceflow_bench.peers.asgi_floor`, the smallest uvicorn app that can: what any
uvicorn-based server pays here before routing, validation, metrics or reloads.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from voiceflow_bench.config import MODEL_NAME
from voiceflow_bench.model_under_test import export_fast_cnn, publish_for_serving
from voiceflow_bench.peers.asgi_floor import MODEL_ENV
from voiceflow_bench.peers.process import tree_cpu_s
from voiceflow_bench.serving.audio import window_batch
from voiceflow_bench.serving.bare_ort import best_batched_throughput
from voiceflow_bench.serving.http_client import oip_binary_request
from voiceflow_bench.serving.server import free_port, serving_env
from voiceflow_bench.serving.throughput import measure_throughput

PROG = "python -m voiceflow_bench.peers.worker_probe"
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ProbeRow:
    """One measurement: ``workers`` processes of ``server`` at ``concurrency``."""

    server: str
    workers: int
    concurrency: int
    requests: int
    failures: int
    rps: float
    server_cpu_ms_per_request: float
    client_cpu_ms_per_request: float
    cores_busy: float
    per_worker_cpu_s: tuple[float, ...]


def _serve(port: int, own_port: int, registry_url: str, cache_dir: str) -> None:
    """One worker process: the ordinary app on a shared ``SO_REUSEPORT`` socket (and on ``own_port``, so that its
    own readiness can be asked), polling off, 1 ORT thread."""
    os.environ.update(serving_env(registry_url, Path(cache_dir), MODEL_NAME))
    os.environ["VOICEFLOW_ORT__INTRA_OP_THREADS"] = "1"
    import uvicorn

    from voiceflow_inference.app import create_app
    from voiceflow_inference.config import load_settings

    shared = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    shared.bind(("127.0.0.1", port))
    shared.listen(512)
    own = socket.create_server(("127.0.0.1", own_port))
    config = uvicorn.Config(create_app(load_settings(None)), log_level="warning")
    uvicorn.Server(config).run(sockets=[shared, own])


def _wait_ready(port: int, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("a server process exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"workers not ready after {READY_TIMEOUT_S:.0f} s")


@contextmanager
def _voiceflow_workers(workers: int, registry_url: str, work: Path) -> Iterator[tuple[int, list[int]]]:
    """``workers`` VoiceFlow processes on one shared port, every one ready; yields (port, pids)."""
    port = free_port()
    own_ports = [free_port() for _ in range(workers)]
    context = mp.get_context("spawn")  # a fresh interpreter per worker, as a process manager would start it
    processes = [
        context.Process(target=_serve, args=(port, own, registry_url, str(work / f"cache-{i}")), daemon=True)
        for i, own in enumerate(own_ports)
    ]
    for process in processes:
        process.start()
    try:
        # Every worker must have its model before any load: the shared port answers for a random one.
        for own in own_ports:
            _wait_ready(own, lambda: all(p.is_alive() for p in processes))
        yield port, [p.pid for p in processes if p.pid is not None]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()


@contextmanager
def _floor_server(model: Path) -> Iterator[tuple[int, list[int]]]:
    """The minimal uvicorn app (:mod:`voiceflow_bench.peers.asgi_floor`) on 127.0.0.1; yields (port, [pid])."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "voiceflow_bench.peers.asgi_floor:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, env={**os.environ, MODEL_ENV: str(model)})
    try:
        _wait_ready(port, lambda: process.poll() is None)
        yield port, [process.pid]
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def measure(
    server: str, workers: int, port: int, pids: list[int], *, concurrency: int, seconds: float, requests: int
) -> ProbeRow:
    """Warm up, then one closed-loop level of binary-OIP windows with the CPU both sides used."""
    request = oip_binary_request(MODEL_NAME, window_batch(1))
    measure_throughput(port, request, concurrency=concurrency, total=max(concurrency * 20, 100), warmup=20)
    cpu_before = [tree_cpu_s(pid) for pid in pids]
    client_before = os.times()
    result = measure_throughput(
        port, request, concurrency=concurrency, total=requests, warmup=0, max_seconds=seconds, timeout_s=30.0
    )
    client_after = os.times()
    per_worker = tuple(round(tree_cpu_s(pid) - before, 2) for pid, before in zip(pids, cpu_before, strict=True))
    done = max(1, result.requests)
    client_s = (client_after.user + client_after.system) - (client_before.user + client_before.system)
    server_ms = sum(per_worker) * 1000.0 / done
    client_ms = client_s * 1000.0 / done
    return ProbeRow(
        server=server,
        workers=workers,
        concurrency=concurrency,
        requests=result.requests,
        failures=result.latency.failures,
        rps=result.rps,
        server_cpu_ms_per_request=round(server_ms, 3),
        client_cpu_ms_per_request=round(client_ms, 3),
        cores_busy=round(result.rps * (server_ms + client_ms) / 1000.0, 2),
        per_worker_cpu_s=per_worker,
    )


def probe(workers: int, registry_url: str, work: Path, *, concurrency: int, seconds: float, requests: int) -> ProbeRow:
    """Start ``workers`` VoiceFlow processes on one port, measure one closed-loop level, stop them."""
    with _voiceflow_workers(workers, registry_url, work) as (port, pids):
        return measure("voiceflow", workers, port, pids, concurrency=concurrency, seconds=seconds, requests=requests)


def probe_floor(model: Path, *, concurrency: int, seconds: float, requests: int) -> ProbeRow:
    """The same measurement against the minimal uvicorn app on the same model file."""
    with _floor_server(model) as (port, pids):
        return measure("uvicorn floor", 1, port, pids, concurrency=concurrency, seconds=seconds, requests=requests)


def _table(rows: list[ProbeRow], bare_best: float) -> Table:
    table = Table(
        title=f"Server processes on one port ({os.cpu_count()} cores; bare ORT best {bare_best:.0f} windows/s)"
    )
    for column in (
        "server",
        "workers",
        "c",
        "req/s",
        "/ bare best",
        "server CPU ms/req",
        "client CPU ms/req",
        "cores busy",
    ):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row.server,
            str(row.workers),
            str(row.concurrency),
            f"{row.rps:.0f}",
            f"{row.rps / bare_best:.2f}",
            f"{row.server_cpu_ms_per_request:.2f}",
            f"{row.client_cpu_ms_per_request:.2f}",
            f"{row.cores_busy:.2f}",
        )
    return table


def _parse_workers(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("workers: comma-separated counts >= 1, e.g. 1,2")
    return counts


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the table, returns 0 (1 when a level failed requests)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=_parse_workers, default=[1, 2], help="process counts to try (default 1,2)")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop connections (default 16)")
    parser.add_argument("--seconds", type=float, default=12.0, help="cap on each measurement (default 12 s)")
    parser.add_argument("--requests", type=int, default=4000, help="requests per measurement at most (default 4000)")
    parser.add_argument("--rounds", type=int, default=2, help="alternate the worker counts this many times (default 2)")
    parser.add_argument("--model", type=Path, help="serve this ONNX file instead of an untrained fast-cnn export")
    parser.add_argument("--no-floor", action="store_true", help="leave out the minimal-uvicorn-app row")
    args = parser.parse_args(argv)
    rows: list[ProbeRow] = []
    with tempfile.TemporaryDirectory(prefix="worker-probe-") as tmp:
        work = Path(tmp)
        model = args.model or export_fast_cnn(work / "fast-cnn.onnx")[0]
        registry_url = publish_for_serving(model, work / "registry")
        bare, _ = best_batched_throughput(model, seconds=1.0)
        plan = [n for _ in range(args.rounds) for n in [*args.workers, *([] if args.no_floor else [0])]]
        level = {"concurrency": args.concurrency, "seconds": args.seconds, "requests": args.requests}
        for workers in tqdm(plan, desc="worker probe", unit="run", file=sys.stderr):
            if workers == 0:  # the floor, alternated with the VoiceFlow rows
                rows.append(probe_floor(model, **level))
            else:
                rows.append(probe(workers, registry_url, work / f"run-{len(rows)}", **level))
    Console(width=max(120, Console().width)).print(_table(rows, bare.windows_per_s))
    for row in rows:
        print(asdict(row))
    return 1 if any(row.failures for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
