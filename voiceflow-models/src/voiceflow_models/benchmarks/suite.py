"""`make bench`: the whole performance suite in one run, every comparison side by side on the same model file.

    python -m voiceflow_models.benchmarks.suite [--quick] [--model model.onnx] [--output bench.json]

1. Model: bare ONNX Runtime p50/p99 at batch 1 (1 and 2 threads) beside PyTorch eager and the seed's figures;
   fast-cnn training throughput on CPU.
2. Serving overhead at concurrency 1: REST /infer, OIP JSON and binary (tritonclient), one WebSocket window, each
   minus bare ONNX Runtime with the server's own session options.
3. Throughput at concurrency 1/4/16/64 (binary OIP) beside bare ONNX Runtime's best batched throughput.
4. Hot reload under mixed REST + WebSocket load; RSS over repeated reload cycles.
5. Streaming: real-time factor of one /ws/diarize session; concurrent real-time sessions with p99 window < 10 ms.

Without --model it exports an untrained fast-cnn (latency does not depend on the weights' values). The server is the
real one (`voiceflow-inference serve` in a subprocess on 127.0.0.1) reading a temporary file:// registry.
Prints one table and writes JSON. --quick (used by the tests) finishes in well under a minute.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from voiceflow_inference.benchmarks.stats import Row, at_least, at_most

SCHEMA = "voiceflow.bench-suite/1"
MODEL_NAME = "fast-cnn"
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
T = TypeVar("T")


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
)


def export_fast_cnn(out: Path, seed: int = 0) -> tuple[Path, Any]:
    """An untrained fast-cnn (the training config's shape, 2 output speakers) exported to the contract's ONNX."""
    import torch

    from voiceflow_models.export.to_onnx import export_onnx
    from voiceflow_models.models.fast_cnn import FastCNN

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" chatter
    torch.manual_seed(seed)
    network = FastCNN(num_speakers=2).eval()
    export_onnx(network, out, check_parity=False)
    return out, network


def publish_for_serving(model_path: Path, registry_root: Path, version: str = "1.0.0") -> str:
    """Validate (real validator, no latency re-measure) and publish ``model_path`` as fast-cnn ``version`` to a
    file:// registry; returns its URL."""
    from voiceflow_contract.errors import ContractError
    from voiceflow_contract.schemas import Accuracy, Architecture, DevicePerformance, Lineage, Training
    from voiceflow_contract.testing import contract_metadata, publish_model_file
    from voiceflow_models.release.publish import model_file_facts

    facts = model_file_facts(model_path)
    metadata = contract_metadata(
        model_path,
        MODEL_NAME,
        version,
        num_speakers=facts.num_speakers,
        embedding_dim=facts.embedding_dim,
        extra_outputs=facts.extra_outputs,
        onnx_opset=facts.opset,
        git_commit="benchmark",
        training=Training(dataset="untrained", epochs=0, batch_size=1, optimizer="none", learning_rate=1e-3),
        architecture=Architecture(type=facts.stamped.get("architecture_type", "cnn"), params=0, layers=0),
        performance={"cpu": DevicePerformance(p50_ms=0.0, p99_ms=0.0, throughput_rps=0.0)},
        accuracy=Accuracy(der_test_set=1.0, precision=0.0, recall=0.0),
        lineage=Lineage(config_hash="benchmark", dataset_fingerprint="none", seed=0, package_versions={}),
    )
    registry_root.mkdir(parents=True, exist_ok=True)
    url = registry_root.resolve().as_uri()
    try:
        publish_model_file(url, MODEL_NAME, version, model_path, metadata=metadata, num_speakers=facts.num_speakers)
    except ContractError as exc:
        raise RuntimeError(f"benchmark model fails the contract: {exc}") from exc
    return url


def vad_cost_ms(runs: int = 200) -> float:
    """Median time of the streaming path's VAD (``is_speech``) on one 1 s speech window, in ms."""
    import numpy as np

    from voiceflow_contract.diarization import is_speech
    from voiceflow_inference.benchmarks.audio import SAMPLE_RATE, window_batch

    window = window_batch(1)[0]
    samples = []
    for _ in range(runs + 10):
        started = time.perf_counter()
        is_speech(window, SAMPLE_RATE)
        samples.append(time.perf_counter() - started)
    return round(float(np.median(samples[10:])) * 1000.0, 4)


def host_facts() -> dict[str, Any]:
    """The machine the numbers come from."""
    from voiceflow_models.benchmarks.latency import host_info

    info: dict[str, Any] = dict(host_info())
    info["machine"] = platform.machine()
    info["gpu"] = "none"
    return info


def _num(value: float, digits: int = 3) -> float:
    return round(value, digits) if math.isfinite(value) else float("nan")


# ---------------------------------------------------------------------------------------------------- the run
class Suite:
    """Runs the steps, collecting rows (for the table) and raw results (for the JSON)."""

    def __init__(self, config: SuiteConfig, console: Console, progress: Progress) -> None:
        self.config = config
        self.console = console
        self.progress = progress
        self.rows: list[Row] = []
        self.raw: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.task = progress.add_task("benchmark suite", total=10)

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """Run one step under the progress bar, timing it."""
        self.progress.update(self.task, description=name)
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[name] = round(time.perf_counter() - started, 2)
            self.progress.advance(self.task)

    def add(self, *rows: Row) -> None:
        """Record rows."""
        self.rows.extend(rows)

    # ------------------------------------------------------------------ 1. model
    def model_rows(self, model_path: Path, network: Any) -> None:
        """ORT vs PyTorch eager at batch 1, against the seed's figures; training throughput."""
        from voiceflow_models.benchmarks.model_rows import (
            SEED_P50_MS,
            SEED_P99_MS,
            model_latency,
            training_throughput,
        )

        results = model_latency(
            model_path, network, runs=self.config.latency_runs, warmup=min(20, self.config.latency_runs)
        )
        self.raw["model_latency"] = [r.__dict__ for r in results]
        for r in results:
            engine = "ORT" if r.engine == "onnxruntime" else "PyTorch eager"
            label = f"{engine} batch 1, {r.threads} thread{'s' if r.threads > 1 else ''}"
            if r.engine == "onnxruntime":
                self.add(
                    Row(
                        "model",
                        f"{label} p50",
                        r.p50_ms,
                        "ms",
                        f"<= {SEED_P50_MS} (seed)",
                        at_most(r.p50_ms, SEED_P50_MS),
                    ),
                    Row(
                        "model",
                        f"{label} p99",
                        r.p99_ms,
                        "ms",
                        f"<= {SEED_P99_MS} (seed)",
                        at_most(r.p99_ms, SEED_P99_MS),
                    ),
                )
            else:
                self.add(
                    Row("model", f"{label} p50", r.p50_ms, "ms", "info"),
                    Row("model", f"{label} p99", r.p99_ms, "ms", "info"),
                )
        if network is None:
            self.add(Row("model", "PyTorch eager / training", None, "", "needs the network", "info", "--model given"))
            return
        train = training_throughput(
            copy.deepcopy(network), batch_size=self.config.training_batch, steps=self.config.training_steps
        )
        self.raw["training"] = train.to_dict()
        self.add(
            Row(
                "model",
                f"training throughput (batch {train.batch_size}, {train.threads} threads)",
                train.samples_per_s,
                "samples/s",
                "info",
                note="fwd+bwd+AdamW on in-memory windows",
            )
        )

    # ------------------------------------------------------------------ 2. serving overhead
    def bare_ort(self, model_path: Path, threads: int) -> Any:
        """Bare ORT with the server's session options (same file, same threads) + best batched throughput."""
        from voiceflow_inference.benchmarks.bare_ort import bare_latency, best_batched_throughput

        bare = bare_latency(model_path, threads=threads, runs=self.config.bare_runs)
        best, points = best_batched_throughput(
            model_path, batch_sizes=self.config.batch_sizes, seconds=self.config.batch_seconds
        )
        self.raw["bare_ort"] = {"latency": bare.to_dict(), "threads": threads}
        self.raw["bare_ort_throughput"] = [p.__dict__ for p in points]
        self.add(
            Row("serving", f"bare ORT p50 ({threads} thread, server options)", bare.p50_ms, "ms", "reference"),
            Row("serving", f"bare ORT p99 ({threads} thread, server options)", bare.p99_ms, "ms", "reference"),
        )
        return bare, best

    def overhead(self, server: Any, model_path: Path, threads: int) -> None:
        """Round trips at concurrency 1 minus bare ORT, each endpoint interleaved with bare ORT in blocks of 10 calls
        so that both see the same background load."""
        from voiceflow_inference.benchmarks.roundtrip import (
            bare_caller,
            health_latency,
            interleaved,
            oip_caller,
            overhead_ms,
            rest_caller,
            ws_window_caller,
        )

        runs = self.config.roundtrip_runs
        doors = {
            "REST /infer (JSON)": (lambda: rest_caller(server.url), None),
            "OIP infer JSON": (lambda: oip_caller(server.url, MODEL_NAME, binary=False), None),
            "OIP infer binary": (
                lambda: oip_caller(server.url, MODEL_NAME, binary=True),
                OIP_BINARY_OVERHEAD_TARGET_MS,
            ),
            "WebSocket window": (lambda: ws_window_caller(server.ws_url), WS_OVERHEAD_TARGET_MS),
        }
        self.raw["roundtrip"] = {}
        with bare_caller(model_path, threads) as bare_call:
            for name, (caller, target) in doors.items():
                with caller() as call:
                    summary, bare = interleaved([call, bare_call], runs=runs)
                over = overhead_ms(summary, bare)
                self.raw["roundtrip"][name] = {
                    **summary.to_dict(),
                    "overhead_p50_ms": over,
                    "bare_interleaved": bare.to_dict(),
                }
                note = (
                    f"round trip p50 {summary.p50_ms:.2f} / p99 {summary.p99_ms:.2f} ms; "
                    f"bare ORT alongside p50 {bare.p50_ms:.2f} ms"
                )
                if summary.failures:
                    note += f"; {summary.failures} failed"
                if target is None:
                    self.add(Row("serving", f"{name} overhead p50", over, "ms", "info", "info", note))
                else:
                    self.add(
                        Row(
                            "serving", f"{name} overhead p50", over, "ms", f"<= {target:g}", at_most(over, target), note
                        )
                    )

        floor = health_latency(server.url, runs=runs)
        self.raw["health_roundtrip"] = floor.to_dict()
        self.add(
            Row(
                "serving",
                "GET /health round trip (HTTP stack floor)",
                floor.p50_ms,
                "ms",
                "info",
                "info",
                f"p99 {floor.p99_ms:.2f} ms; no model, no body: what any HTTP route costs here",
            )
        )
        vad = vad_cost_ms(runs=max(50, runs))
        self.raw["vad_ms"] = vad
        ws_over = self.raw["roundtrip"]["WebSocket window"]["overhead_p50_ms"]
        self.add(
            Row(
                "serving",
                "VAD per window (part of the WebSocket overhead)",
                vad,
                "ms",
                "info",
                "info",
                f"WebSocket overhead without VAD: {ws_over - vad:.2f} ms",
            )
        )

    # ------------------------------------------------------------------ 3. throughput
    def throughput(self, server: Any, best: Any, label: str = "", section: str = "throughput") -> float:
        """Binary OIP at each concurrency; returns the best requests/s."""
        import numpy as np

        from voiceflow_inference.benchmarks.http_client import oip_binary_request
        from voiceflow_inference.benchmarks.throughput import measure_throughput
        from voiceflow_models.benchmarks.model_rows import SEED_RPS

        request = oip_binary_request(MODEL_NAME, np.zeros((1, 48000), dtype=np.float32) + 0.01)
        results = []
        for concurrency, total in self.config.concurrency:
            result = measure_throughput(server.port, request, concurrency=concurrency, total=total)
            results.append(result)
            note = f"p50 {result.latency.p50_ms:.1f} / p99 {result.latency.p99_ms:.1f} ms, {total} requests"
            if result.latency.failures:
                note += f", {result.latency.failures} failed"
            self.add(
                Row(
                    section,
                    f"OIP binary{label}, concurrency {concurrency}",
                    result.rps,
                    "req/s",
                    "info",
                    "info",
                    note,
                )
            )
        self.raw["throughput" + label.replace(",", "").replace(" ", "_")] = [r.to_dict() for r in results]
        top = max(r.rps for r in results)
        fraction = top / best.windows_per_s if best.windows_per_s > 0 else float("nan")
        self.add(
            Row(
                section,
                f"best server throughput{label}",
                top,
                "req/s",
                f">= {SEED_RPS:g} (seed)",
                at_least(top, SEED_RPS),
            ),
            Row(
                section,
                f"server / bare ORT best{label}",
                _num(fraction),
                "ratio",
                f">= {THROUGHPUT_FRACTION_TARGET:g}",
                at_least(fraction, THROUGHPUT_FRACTION_TARGET),
                f"bare ORT best {best.windows_per_s:.0f} windows/s (threads {best.threads}, callers {best.workers}, "
                f"batch {best.batch})",
            ),
        )
        return top

    def batching(self, server: Any, model_path: Path, threads: int, best: Any) -> None:
        """Concurrency-1 latency (does batching cost latency?) and the throughput sweep with the batcher on."""
        from voiceflow_inference.benchmarks.roundtrip import bare_caller, interleaved, oip_caller, overhead_ms

        with bare_caller(model_path, threads) as bare_call, oip_caller(server.url, MODEL_NAME, binary=True) as call:
            summary, bare = interleaved([call, bare_call], runs=self.config.roundtrip_runs)
        over = overhead_ms(summary, bare)
        self.raw["batching"] = {"env": BATCHING_ENV, "oip_binary_c1": {**summary.to_dict(), "overhead_p50_ms": over}}
        self.add(
            Row(
                "batching",
                "OIP infer binary overhead p50, batching on",
                over,
                "ms",
                f"<= {OIP_BINARY_OVERHEAD_TARGET_MS:g}",
                at_most(over, OIP_BINARY_OVERHEAD_TARGET_MS),
                f"round trip p50 {summary.p50_ms:.2f} / p99 {summary.p99_ms:.2f} ms, bare ORT alongside "
                f"{bare.p50_ms:.2f} ms; max_batch 16, max_delay 0 ms, 2 concurrent",
            )
        )
        self.throughput(server, best, label=", batching on", section="batching")

    # ------------------------------------------------------------------ 4. streaming
    def streaming(self, server: Any) -> None:
        """RTF of one session and concurrent real-time capacity."""
        from voiceflow_inference.benchmarks.streaming import realtime_capacity, realtime_factor

        rtf, session = realtime_factor(server.ws_url, seconds=self.config.rtf_seconds)
        best, levels = realtime_capacity(
            server.ws_url,
            levels=self.config.capacity_levels,
            seconds=self.config.capacity_seconds,
            p99_budget_ms=WINDOW_P99_BUDGET_MS,
            min_windows=self.config.capacity_min_windows,
        )
        self.raw["streaming"] = {
            "rtf": rtf,
            "rtf_session": {"audio_s": session.audio_s, "wall_s": session.wall_s, "windows": session.windows},
            "rtf_errors": session.errors,
            "capacity": [level.to_dict() for level in levels],
            "max_realtime_sessions": best,
        }
        last = levels[-1]
        self.add(
            Row(
                "streaming",
                "real-time factor per /ws/diarize session",
                _num(rtf, 4),
                "x",
                "< 1",
                at_most(rtf, 0.999),
                f"{session.audio_s:g} s of audio sent as fast as possible, hop 0.5 s",
            ),
            Row(
                "streaming",
                "max concurrent real-time sessions, p99 window < 10 ms",
                float(best),
                "sessions",
                ">= 1",
                at_least(best, 1),
                f"levels {[lv.sessions for lv in levels]}; at {last.sessions}: p99 {last.latency.p99_ms:.1f} ms, "
                f"{last.failed_sessions} failed (client shares the 2 cores)",
            ),
        )

    # ------------------------------------------------------------------ 5. hot reload
    def hot_reload(self, server: Any, model_path: Path, watch_dir: Path) -> None:
        """Reloads under mixed load, then reload cycles for the RSS."""
        from voiceflow_inference.benchmarks.reload_load import hot_reload_under_load

        c = self.config
        result = hot_reload_under_load(
            url=server.url,
            ws_url=server.ws_url,
            port=server.port,
            model_path=model_path,
            watch_dir=watch_dir,
            rss=server.rss_mb,
            steady_s=c.steady_s,
            reload_s=c.reload_s,
            reloads=c.reloads,
            total_cycles=c.reload_cycles,
            rate_per_worker=10.0,
            progress=lambda text: self.progress.update(self.task, description=f"hot reload: {text}"),
        )
        self.raw["hot_reload"] = result.to_dict()
        rss = result.rss_mb
        settled = rss[-1] / rss[c.reloads - 1] - 1.0 if len(rss) > c.reloads >= 1 else float("nan")
        ratio = result.p99_ratio
        self.add(
            Row(
                "hot reload",
                f"failed requests ({c.reloads} reloads in {c.reload_s:g} s)",
                float(result.failed_requests),
                "requests",
                "0",
                at_most(result.failed_requests, 0),
                f"{result.total_requests} REST + WebSocket requests; {result.failed_reloads} reloads not seen serving",
            ),
            Row(
                "hot reload",
                "p99 during reloads / steady p99",
                _num(ratio),
                "ratio",
                f"<= {P99_RATIO_TARGET:g}",
                at_most(ratio, P99_RATIO_TARGET),
                f"steady p99 {result.steady.p99_ms:.1f} ms, during {result.during.p99_ms:.1f} ms",
            ),
            Row(
                "hot reload",
                "swap latency p50 (file swap -> new version serving)",
                result.swap.p50_ms,
                "ms",
                "info",
                "info",
                f"p99 {result.swap.p99_ms:.0f} ms over {result.swap.n} swaps",
            ),
            Row(
                "hot reload",
                f"RSS growth, cycle {len(result.rss_mb)} vs cycle 1",
                _num(result.rss_growth * 100, 2),
                "%",
                f"< {RSS_GROWTH_TARGET * 100:g}",
                at_most(result.rss_growth, RSS_GROWTH_TARGET - 1e-12),
                f"{result.rss_mb[0]:.0f} -> {result.rss_mb[-1]:.0f} MiB" if result.rss_mb else "no cycle completed",
            ),
            Row(
                "hot reload",
                f"RSS growth without load, cycle {c.reloads} -> {len(result.rss_mb)}",
                _num(settled * 100, 2),
                "%",
                "info",
                "info",
                "after the loaded versions (keep_versions) and allocator pools have filled: a leak keeps growing here",
            ),
        )

    def gpu_pending(self) -> None:
        """GPU rows are measured only where a GPU is lent; here they are recorded as pending."""
        for model in ("fast-cnn", "sophisticated"):
            self.add(
                Row(
                    "gpu",
                    f"{model} CUDA p50/p99",
                    None,
                    "ms",
                    f"p99 <= {GPU_P99_TARGET_MS:g}",
                    "pending",
                    "no GPU on this machine",
                )
            )


# ---------------------------------------------------------------------------------------------------- output
_STYLE = {"pass": "green", "miss": "red", "info": "cyan", "pending": "yellow"}


def render(rows: Sequence[Row], title: str) -> Table:
    """One rich table: section, metric, target, measured, verdict, note."""
    table = Table(title=title, show_lines=False)
    for col in ("section", "metric", "target", "measured", "verdict", "note"):
        table.add_column(col, justify="right" if col == "measured" else "left", overflow="fold")
    for row in rows:
        if row.measured is None or not math.isfinite(row.measured):
            value = "n/a"
        else:
            value = f"{row.measured:,.3f}".rstrip("0").rstrip(".") + (f" {row.unit}" if row.unit else "")
        style = _STYLE.get(row.verdict, "")
        table.add_row(row.section, row.name, row.target, value, f"[{style}]{row.verdict}[/]", row.note)
    return table


def run_suite(
    config: SuiteConfig,
    *,
    model: Path | None,
    work_dir: Path,
    console: Console,
    server_threads: int = 1,
    server_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run every step; returns the JSON document (rows + raw results)."""
    from voiceflow_inference.benchmarks.server import ServerProcess

    started = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        suite = Suite(config, console, progress)
        network = None
        if model is None:
            model_path, network = suite.step("export fast-cnn", lambda: export_fast_cnn(work_dir / "fast-cnn.onnx"))
        else:
            model_path = model
        suite.step("model latency + training", lambda: suite.model_rows(model_path, network))
        _, best = suite.step("bare ONNX Runtime", lambda: suite.bare_ort(model_path, server_threads))
        url = suite.step("publish", lambda: publish_for_serving(model_path, work_dir / "registry"))
        watch_dir = work_dir / "watch"
        env = {"VOICEFLOW_ORT__INTRA_OP_THREADS": str(server_threads), **(server_env or {})}
        with ServerProcess(registry_url=url, work_dir=work_dir / "server", watch_dir=watch_dir, env=env) as server:
            suite.step("serving overhead", lambda: suite.overhead(server, model_path, server_threads))
            suite.step("throughput", lambda: suite.throughput(server, best))
            suite.step("streaming", lambda: suite.streaming(server))
            suite.step("hot reload", lambda: suite.hot_reload(server, model_path, watch_dir))
        # The same throughput sweep against a second server with the micro-batcher on (off by default).
        batching_env = {**env, **BATCHING_ENV, **(server_env or {})}
        with ServerProcess(
            registry_url=url, work_dir=work_dir / "server-batching", watch_dir=None, env=batching_env
        ) as server:
            suite.step(
                "throughput, micro-batching on", lambda: suite.batching(server, model_path, server_threads, best)
            )
        suite.gpu_pending()
        suite.progress.advance(suite.task)
    return {
        "schema": SCHEMA,
        "created_at": datetime.now(UTC).isoformat(),
        "mode": "quick" if config is QUICK else "full",
        "command": "python -m voiceflow_models.benchmarks.suite " + shlex.join(sys.argv[1:]),
        "host": host_facts(),
        "model": {"path": str(model or "exported"), "trained": model is not None, "name": MODEL_NAME},
        "server": {"intra_op_threads": server_threads, "env": server_env or {}},
        "rows": [row.to_dict() for row in suite.rows],
        "raw": suite.raw,
        "step_seconds": suite.timings,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def markdown_table(doc: dict[str, Any]) -> str:
    """The rows as a Markdown table (for docs/PERFORMANCE_ANALYSIS.md), with the machine, date and command."""
    host = doc["host"]
    lines = [
        "| section | metric | target | measured | verdict | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        value = r["measured"]
        shown = "n/a" if value is None or not math.isfinite(value) else f"{value:,.3f}".rstrip("0").rstrip(".")
        unit = f" {r['unit']}" if r["unit"] and shown != "n/a" else ""
        verdict = f"**{r['verdict']}**" if r["verdict"] in ("pass", "miss") else r["verdict"]
        note = r["note"].replace("|", "/")
        lines.append(f"| {r['section']} | {r['name']} | {r['target']} | {shown}{unit} | {verdict} | {note} |")
    lines += [
        "",
        f"Machine: {host['cpu']}, {host['cpu_count']} cores ({host['machine']}), no GPU, 1-minute load average "
        f"{host['loadavg_1m']} (shared); onnxruntime {host['onnxruntime']}, Python {host['python']}. "
        f"Measured {doc['created_at'][:16].replace('T', ' ')} UTC in {doc['wall_s']:.0f} s ({doc['mode']} mode).",
        "",
        f"Command: `{doc['command']}`",
    ]
    return "\n".join(lines) + "\n"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m voiceflow_models.benchmarks.suite", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="short form for tests (< 60 s)")
    parser.add_argument(
        "--model", type=Path, help="benchmark this ONNX file instead of exporting an untrained fast-cnn"
    )
    parser.add_argument("--output", type=Path, help="JSON to write (default artifacts/bench/bench[-quick].json)")
    parser.add_argument("--server-threads", type=int, default=1, help="server ORT intra-op threads (default 1)")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra VOICEFLOW_* setting for the server, e.g. VOICEFLOW_BATCHING__ENABLED=true (repeatable)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--work-dir", type=Path, help="keep the registry, server log and cache here (default: temp)")
    args = parser.parse_args(argv)
    # Piped output (make, CI logs) gets a wide table instead of rich's 80-column default.
    console = Console() if sys.stdout.isatty() else Console(width=180)
    if args.model is not None and not args.model.is_file():
        console.print(f"[red]--model: file not found: {args.model}")
        return 2
    if args.server_threads < 1:
        console.print("[red]--server-threads must be >= 1")
        return 2
    env: dict[str, str] = {}
    for item in args.server_env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("VOICEFLOW_"):
            console.print(f"[red]--server-env: expected VOICEFLOW_KEY=VALUE, got {item!r}")
            return 2
        env[key] = value
    config = QUICK if args.quick else FULL
    output = args.output or Path("artifacts/bench") / ("bench-quick.json" if args.quick else "bench.json")
    with tempfile.TemporaryDirectory(prefix="voiceflow-bench-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        doc = run_suite(
            config,
            model=args.model,
            work_dir=work,
            console=console,
            server_threads=args.server_threads,
            server_env=env,
        )
    host = doc["host"]
    title = (
        f"VoiceFlow benchmark ({doc['mode']}) on {host['cpu']} x{host['cpu_count']} ({host['machine']}, no GPU), "
        f"load {host['loadavg_1m']}, {doc['created_at'][:16]} UTC, {doc['wall_s']:.0f} s"
    )
    console.print(render([Row(**{k: v for k, v in r.items()}) for r in doc["rows"]], title))
    if doc["model"]["trained"] is False:
        console.print("model: untrained fast-cnn export (latency does not depend on the weights' values)")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(_json_safe(doc), indent=2) + "\n")
    console.print(f"wrote {output}")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_table(_json_safe(doc)))
        console.print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
