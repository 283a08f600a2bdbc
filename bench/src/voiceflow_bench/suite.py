"""`make bench`: the whole performance suite in one run, every comparison side by side on the same model file.

    python -m voiceflow_bench.suite [--quick] [--model model.onnx] [--output bench.json]

1. Model: bare ONNX Runtime p50/p99 at batch 1 (1 and 2 threads) beside PyTorch eager and the seed's figures;
   fast-cnn training throughput on CPU.
2. Serving overhead at concurrency 1: REST /infer, OIP JSON and binary (tritonclient), one WebSocket window, each
   minus bare ONNX Runtime with the server's own session options.
3. Throughput at concurrency 1/4/16/64 (binary OIP) beside bare ONNX Runtime's best batched throughput.
4. Hot reload under mixed REST + WebSocket load; RSS over repeated reload cycles.
5. Streaming: real-time factor of one /ws/diarize session; concurrent real-time sessions with p99 window < 10 ms.
6. GPU rows: measured only where a GPU is lent (pending otherwise).
7. The real-speech model (ge2e): batch-1 latency interleaved with fast-cnn, its RTF and concurrent real-time sessions
   (full run only).

Without --model it exports an untrained fast-cnn (latency does not depend on the weights' values). The server is the
real one (`voiceflow-inference serve` in a subprocess on 127.0.0.1) reading a temporary file:// registry.
Prints one table and writes JSON plus pictures beside it (latency.png, throughput.png, rss.png; voiceflow_bench.plots).
--quick (used by the tests) finishes in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from voiceflow_bench.config import BATCHING_ENV, FULL, MODEL_NAME, QUICK, SCHEMA, SuiteConfig
from voiceflow_bench.model_under_test import export_fast_cnn, publish_for_serving
from voiceflow_bench.plots import write_plots
from voiceflow_bench.recorder import Recorder
from voiceflow_bench.report import json_safe, markdown_table, render
from voiceflow_bench.sections.gpu import gpu_pending
from voiceflow_bench.sections.hot_reload import hot_reload
from voiceflow_bench.sections.model import model_rows
from voiceflow_bench.sections.real_speech_model import real_speech_model
from voiceflow_bench.sections.serving_overhead import bare_ort, overhead
from voiceflow_bench.sections.streaming import streaming
from voiceflow_bench.sections.throughput import batching, throughput
from voiceflow_bench.serving.server import ServerProcess
from voiceflow_bench.serving.stats import Row
from voiceflow_models.benchmarks.latency import host_info

PROG = "python -m voiceflow_bench.suite"


def host_facts() -> dict[str, Any]:
    """The machine the numbers come from."""
    info: dict[str, Any] = dict(host_info())
    info["machine"] = platform.machine()
    info["gpu"] = "none"
    return info


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
    started = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        rec = Recorder(config, progress)
        network: torch.nn.Module | None = None
        if model is None:
            model_path, network = rec.step("export fast-cnn", lambda: export_fast_cnn(work_dir / "fast-cnn.onnx"))
        else:
            model_path = model
        rec.step("model latency + training", lambda: model_rows(rec, model_path, network))
        _, best = rec.step("bare ONNX Runtime", lambda: bare_ort(rec, model_path, server_threads))
        url = rec.step("publish", lambda: publish_for_serving(model_path, work_dir / "registry"))
        watch_dir = work_dir / "watch"
        env = {"VOICEFLOW_ORT__INTRA_OP_THREADS": str(server_threads), **(server_env or {})}
        with ServerProcess(registry_url=url, work_dir=work_dir / "server", watch_dir=watch_dir, env=env) as server:
            rec.step("serving overhead", lambda: overhead(rec, server, model_path, server_threads))
            rec.step("throughput", lambda: throughput(rec, server, best))
            rec.step("streaming", lambda: streaming(rec, server))
            rec.step("hot reload", lambda: hot_reload(rec, server, model_path, watch_dir))
        # The same throughput sweep against a second server with the micro-batcher on (off by default).
        batching_env = {**env, **BATCHING_ENV, **(server_env or {})}
        with ServerProcess(
            registry_url=url, work_dir=work_dir / "server-batching", watch_dir=None, env=batching_env
        ) as server:
            rec.step("throughput, micro-batching on", lambda: batching(rec, server, model_path, server_threads, best))
        rec.step("real-speech model (ge2e)", lambda: real_speech_model(rec, model_path, work_dir, env))
        gpu_pending(rec)
        progress.advance(rec.task)
    return {
        "schema": SCHEMA,
        "created_at": datetime.now(UTC).isoformat(),
        "mode": "quick" if config is QUICK else "full",
        "command": f"{PROG} " + shlex.join(sys.argv[1:]),
        "host": host_facts(),
        "model": {"path": str(model or "exported"), "trained": model is not None, "name": MODEL_NAME},
        "server": {"intra_op_threads": server_threads, "env": server_env or {}},
        "rows": [row.to_dict() for row in rec.rows],
        "raw": rec.raw,
        "step_seconds": rec.timings,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").splitlines()[0])
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    args = _parser().parse_args(argv)
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
    console.print(render([Row(**dict(r.items())) for r in doc["rows"]], title))
    if doc["model"]["trained"] is False:
        console.print("model: untrained fast-cnn export (latency does not depend on the weights' values)")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(json_safe(doc), indent=2) + "\n")
    console.print(f"wrote {output}")
    for picture in write_plots(json_safe(doc), output.parent, prefix="quick-" if args.quick else ""):
        console.print(f"wrote {picture}")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_table(json_safe(doc)))
        console.print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
