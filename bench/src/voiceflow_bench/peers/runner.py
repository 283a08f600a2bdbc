"""`make bench-peers`: VoiceFlow and the serving stacks a user would pick instead, side by side in one run.

    python -m voiceflow_bench.peers.runner [--peers voiceflow,kserve,...] [--requests 800] [--output peers.json]

The same ONNX file (an untrained fast-cnn export, or --model), 1 ONNX Runtime intra-op thread everywhere, every server
on 127.0.0.1, one load generator: binary OIP through tritonclient where the server speaks it, otherwise its own
protocol with the same float32 bytes. Per server: c=1 round trip minus bare ORT interleaved with it (p50, p99),
closed-loop requests/s at concurrency 1, 4, 16, 64 (bounded counts and time), the best of them and its ratio to bare
ORT's best windows/s (measured before and after the servers; the higher one counts), RSS of the server's process
tree. A peer without its venv (``python -m voiceflow_bench.peers.venvs``) or that fails to start keeps its row with
the reason. Prints the table, writes the JSON and a PNG beside it (peers.png).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from tqdm import tqdm

from voiceflow_bench.config import BATCHING_ENV
from voiceflow_bench.model_under_test import export_fast_cnn, publish_for_serving
from voiceflow_bench.peers import venvs
from voiceflow_bench.peers.lineup import PEERS
from voiceflow_bench.peers.measure import Plan, Target, levels_for, measure
from voiceflow_bench.peers.peer import Peer
from voiceflow_bench.peers.plot import peers_plot
from voiceflow_bench.peers.process import PeerProcess, PeerStartError, tree_cpu_s, tree_rss_mb
from voiceflow_bench.peers.table import SCHEMA, ServerRow, markdown, print_table
from voiceflow_bench.serving.audio import window_batch
from voiceflow_bench.serving.bare_ort import best_batched_throughput
from voiceflow_bench.serving.http_client import oip_binary_request
from voiceflow_bench.serving.roundtrip import Call, bare_caller
from voiceflow_bench.serving.server import ServerError, ServerProcess, free_port
from voiceflow_inference import __version__ as voiceflow_version
from voiceflow_models.benchmarks.latency import host_info

PROG = "python -m voiceflow_bench.peers.runner"
VOICEFLOW = "voiceflow"
VOICEFLOW_BATCHING = "voiceflow-batching"
VOICEFLOW_BASELINE = "voiceflow-baseline"  # only with --voiceflow-baseline: another revision's server, same run
SERVERS = (VOICEFLOW, VOICEFLOW_BATCHING, *(p.name for p in PEERS))
CONCURRENCY = (1, 4, 16, 64)


def _loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _peer_version(python: Path, peer: Peer) -> str:
    code = f"from importlib.metadata import version; print(version({peer.distribution!r}))"
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return peer.packages[0].split("==")[-1]
    return out.stdout.strip()


def _baseline_env(source: Path) -> dict[str, str]:
    """PYTHONPATH that serves ``source``'s voiceflow-inference (and contract, when it has one) ahead of ours."""
    paths = [source / "voiceflow-inference" / "src", source / "contract" / "src"]
    ours = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": os.pathsep.join([*(str(p.resolve()) for p in paths if p.is_dir()), ours])}


def _voiceflow_row(
    name: str,
    model: Path,
    registry_url: str,
    work: Path,
    bare_call: Call,
    plan: Plan,
    tick: Callable[[str], None],
    baseline: Path | None = None,
) -> ServerRow:
    batching = name == VOICEFLOW_BATCHING
    label = "voiceflow (micro-batching)" if batching else "voiceflow"
    if name == VOICEFLOW_BASELINE and baseline is not None:
        label = f"voiceflow (baseline: {baseline.name})"
    settings = (
        "1 uvicorn worker, micro-batcher max_batch 16, max_delay 0 ms, 2 concurrent"
        if batching
        else "1 uvicorn worker, micro-batching off (default), no access log"
    )
    row = ServerRow(label, voiceflow_version, "OIP binary", settings)
    env = {"VOICEFLOW_ORT__INTRA_OP_THREADS": "1", **(BATCHING_ENV if batching else {})}
    if name == VOICEFLOW_BASELINE and baseline is not None:
        env.update(_baseline_env(baseline))
    tick("starting")
    try:
        with ServerProcess(registry_url=registry_url, work_dir=work / name, env=env) as server:
            request = oip_binary_request("fast-cnn", window_batch(1))
            target = Target(
                server.port, request, "fast-cnn", lambda: tree_rss_mb(server.pid), lambda: tree_cpu_s(server.pid)
            )
            return row.fill(measure(target, bare_call, plan, tick), 0.0)
    except ServerError as exc:
        row.status, row.reason = "not run", f"did not start: {str(exc)[:300]}"
        return row


def _peer_row(
    peer: Peer, root: Path, model: Path, work: Path, bare_call: Call, plan: Plan, tick: Callable[[str], None]
) -> ServerRow:
    version = peer.packages[0].split("==")[-1]
    row = ServerRow(peer.label, version, peer.protocol, peer.settings)
    if not venvs.is_built(root, peer):
        why = venvs.failure(root, peer)
        row.status = "not run"
        row.reason = why or f"no venv at {root / peer.name} (build it: python -m voiceflow_bench.peers.venvs)"
        return row
    python = venvs.venv_python(root, peer)
    row.version = _peer_version(python, peer)
    port = free_port()
    tick("starting")
    process = PeerProcess(peer.launch(python, model, port, work / peer.name), work / f"{peer.name}.log", port)
    try:
        with process:
            target = Target(port, peer.request(window_batch(1)), peer.oip_model, process.rss_mb, process.cpu_s)
            return row.fill(measure(target, bare_call, plan, tick), 0.0)
    except PeerStartError as exc:
        row.status, row.reason = "not run", f"did not start: {str(exc)[:300]}"
    except Exception as exc:  # a peer that breaks mid-run keeps its row; the others still run
        row.status, row.reason = "not run", f"{type(exc).__name__}: {str(exc)[:300]}"
    return row


def run_peers(
    names: Sequence[str],
    *,
    model: Path | None,
    work: Path,
    venv_root: Path,
    plan: Plan,
    bare_seconds: float,
    bare_batches: Sequence[int],
    progress: bool = True,
    baseline: Path | None = None,
) -> dict[str, Any]:
    """The whole run; returns the JSON document."""
    started, load_start = time.perf_counter(), _loadavg()
    bar = tqdm(total=len(names) + 3, desc="bench-peers", unit="step", disable=not progress, file=sys.stderr)

    def tick(what: str) -> None:
        bar.set_postfix_str(what)

    tick("export fast-cnn")
    model_path = model or export_fast_cnn(work / "fast-cnn.onnx")[0]
    bar.update()
    tick("bare ORT best")
    bare_before, points_before = best_batched_throughput(model_path, batch_sizes=bare_batches, seconds=bare_seconds)
    bar.update()
    registry_url = publish_for_serving(model_path, work / "registry")
    rows: list[ServerRow] = []
    with bare_caller(model_path, 1) as bare_call:
        for name in names:
            bar.set_description(name)
            if name in (VOICEFLOW, VOICEFLOW_BATCHING, VOICEFLOW_BASELINE):
                rows.append(_voiceflow_row(name, model_path, registry_url, work, bare_call, plan, tick, baseline))
            else:
                peer = next(p for p in PEERS if p.name == name)
                rows.append(_peer_row(peer, venv_root, model_path, work, bare_call, plan, tick))
            bar.update()
    bar.set_description("bench-peers")
    tick("bare ORT best again")
    bare_after, points_after = best_batched_throughput(model_path, batch_sizes=bare_batches, seconds=bare_seconds)
    bar.update()
    bar.close()
    best = max(bare_before.windows_per_s, bare_after.windows_per_s)
    for row in rows:
        row.fill({}, best)
    info = host_info()
    return {
        "schema": SCHEMA,
        "created_at": datetime.now(UTC).isoformat(),
        "command": f"{PROG} " + shlex.join(sys.argv[1:]),
        "host": {
            "cpu": info["cpu"],
            "cpu_count": info["cpu_count"],
            "onnxruntime": info["onnxruntime"],
            "loadavg_start": load_start,
            "loadavg_end": _loadavg(),
        },
        "model": {"path": str(model or "exported untrained fast-cnn"), "intra_op_threads": 1},
        "plan": {
            "c1_runs": plan.c1_runs,
            "levels": [list(level) for level in plan.levels],
            "level_seconds": plan.level_seconds,
        },
        "bare_ort": {
            "best_windows_per_s": best,
            "before": bare_before.__dict__,
            "after": bare_after.__dict__,
            "points": [p.__dict__ for p in points_before + points_after],
        },
        "rows": [row.to_dict() for row in rows],
        "wall_s": round(time.perf_counter() - started, 1),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").splitlines()[4:]),
    )
    parser.add_argument(
        "--peers", default=",".join(SERVERS), help=f"servers to run, comma-separated (default: {','.join(SERVERS)})"
    )
    parser.add_argument("--requests", type=int, default=600, help="requests per concurrency level (default 600)")
    parser.add_argument(
        "--c1-runs", type=int, default=300, help="c=1 round trips per server, interleaved with bare ORT (default 300)"
    )
    parser.add_argument("--level-seconds", type=float, default=15.0, help="cap on one concurrency level (default 15 s)")
    parser.add_argument(
        "--bare-seconds", type=float, default=1.0, help="seconds per bare ORT throughput point (default 1)"
    )
    parser.add_argument("--model", type=Path, help="serve this ONNX file instead of an untrained fast-cnn export")
    parser.add_argument("--venvs", type=Path, default=venvs.DEFAULT_ROOT, help="peer venvs (default .cache/peer-venvs)")
    parser.add_argument(
        "--output", type=Path, default=Path("artifacts/bench/peers.json"), help="JSON to write (the PNG goes beside it)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument(
        "--work-dir", type=Path, help="keep registry, logs and model here (default: a temporary folder)"
    )
    parser.add_argument(
        "--voiceflow-baseline",
        type=Path,
        metavar="SRC",
        help="also serve another revision (a folder with voiceflow-inference/src, e.g. a `git archive` of main) in the "
        "same run, as the row before ours: before/after side by side",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    args = _parser().parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=200)
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown or not names:
        console.print(f"[red]--peers: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(SERVERS)}")
        return 2
    if args.requests < 1 or args.c1_runs < 1:
        console.print("[red]--requests and --c1-runs must be >= 1")
        return 2
    if args.model is not None and not args.model.is_file():
        console.print(f"[red]--model: file not found: {args.model}")
        return 2
    if args.voiceflow_baseline is not None:
        if not (args.voiceflow_baseline / "voiceflow-inference" / "src").is_dir():
            console.print(f"[red]--voiceflow-baseline: no voiceflow-inference/src under {args.voiceflow_baseline}")
            return 2
        names.append(VOICEFLOW_BASELINE)
    plan = Plan(args.c1_runs, levels_for(CONCURRENCY, args.requests), args.level_seconds)
    with tempfile.TemporaryDirectory(prefix="voiceflow-peers-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        doc = run_peers(
            [n for n in (VOICEFLOW_BASELINE, *SERVERS) if n in names],
            model=args.model,
            work=work,
            venv_root=args.venvs,
            plan=plan,
            bare_seconds=args.bare_seconds,
            bare_batches=(1, 4, 16, 32),
            progress=not args.no_progress,
            baseline=args.voiceflow_baseline,
        )
    rows = [ServerRow(**r) for r in doc["rows"]]
    host, best = doc["host"], doc["bare_ort"]["best_windows_per_s"]
    title = (
        f"VoiceFlow and its peers on {host['cpu']} x{host['cpu_count']}, ORT {host['onnxruntime']}, 1 intra-op thread; "
        f"load {host['loadavg_start']} -> {host['loadavg_end']}; {doc['created_at'][:16]} UTC, {doc['wall_s']:.0f} s"
    )
    print_table(console, rows, title, best)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"wrote {args.output}")
    picture = peers_plot(doc, args.output.with_suffix(".png"))
    if picture is not None:
        console.print(f"wrote {picture}")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(rows, best))
        console.print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
