"""`make demo`: the whole VoiceFlow workflow, end to end, on this machine.

train fast-cnn on synthetic voices -> export, optimise, validate, benchmark, publish to a local registry -> serve it on
127.0.0.1 -> stream a held-out conversation over /ws/diarize (live timeline + DER) -> publish a new version and watch
the server hot-reload under load with no failed request -> roll back -> stop -> summary.

Running it again bumps versions (1.0.1, 1.0.2, ...) instead of failing. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = "fast-cnn"
console = Console(highlight=False)


# ---------------------------------------------------------------------------------------------------------- helpers
def step(number: int, total: int, title: str) -> None:
    """Print a step banner."""
    console.rule(f"[bold cyan]{number}/{total}  {title}")


def run(cmd: list[str], *, env: dict[str, str] | None = None, log: Path | None = None) -> None:
    """Run a command, streaming its output (or into `log`), and stop the demo if it fails."""
    console.print(f"[dim]$ {' '.join(cmd)}[/dim]")
    merged = {**os.environ, **(env or {})}
    if log is None:
        result = subprocess.run(cmd, env=merged, cwd=ROOT, check=False)
    else:
        with log.open("w") as out:
            result = subprocess.run(cmd, env=merged, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        hint = f" (log: {log})" if log else ""
        raise SystemExit(f"demo: step failed with exit code {result.returncode}: {' '.join(cmd)}{hint}")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def latest_version(registry: str) -> str | None:
    """The version `latest` points at, None before the first publish."""
    from voiceflow_contract.errors import RegistryError
    from voiceflow_contract.registry import ModelRegistry

    try:
        return str(ModelRegistry(registry).resolve(MODEL, "latest"))
    except RegistryError:
        return None


def train(artifacts: Path, name: str, extra: list[str]) -> Path:
    """Train fast-cnn (Lightning progress bar) and return the published checkpoint path."""
    out = artifacts / name
    run(
        [
            str(BIN / "voiceflow-train"),
            "experiment=fast_cnn_synthetic",
            f"hydra.run.dir={out / 'run'}",
            f"publish_dir={out}",
            *extra,
        ]
    )
    return out / MODEL / "model.ckpt"


def publish(checkpoint: Path, artifacts: Path, registry: str) -> str:
    """The seed's pipeline: export, optimise, validate, benchmark, accuracy, bump, publish. Returns the version."""
    run(
        [
            str(BIN / "voiceflow-pipeline"),
            "--checkpoint",
            str(checkpoint),
            "--artifacts",
            str(artifacts),
            "--registry",
            registry,
            "--conversations",
            "4",
        ]
    )
    version = latest_version(registry)
    if version is None:
        raise SystemExit("demo: the pipeline finished but the registry has no latest version")
    return version


@dataclass
class Server:
    """The inference server as a subprocess on 127.0.0.1."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def ready(self) -> dict[str, Any]:
        """GET /ready."""
        return dict(httpx.get(f"{self.url}/ready", timeout=5).json())

    def wait_for_version(self, version: str, timeout: float = 90.0) -> float:
        """Seconds until /ready reports `version`."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"demo: the server exited (log: {self.log})")
            try:
                if self.ready().get("version") == version:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"demo: the server did not serve {version} within {timeout:.0f} s (log: {self.log})")

    def admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST an admin endpoint with the bearer token."""
        response = httpx.post(
            f"{self.url}/admin/{path}", json=body, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )
        response.raise_for_status()
        return dict(response.json())


@contextmanager
def serve(registry: str, artifacts: Path) -> Iterator[Server]:
    """Start `voiceflow-inference serve` pulling MODEL@latest and polling the registry every second."""
    port = free_port()
    token = secrets.token_urlsafe(24)
    log = artifacts / "server.log"
    env = {
        **os.environ,
        "VOICEFLOW_ENV": "development",
        "VOICEFLOW_REGISTRY_URL": registry,
        "VOICEFLOW_MODEL_NAME": MODEL,
        "VOICEFLOW_MODEL_REF": "latest",
        "VOICEFLOW_CACHE_DIR": str(artifacts / "cache"),
        "VOICEFLOW_WATCH_DIR": "",
        "VOICEFLOW_POLL_INTERVAL_S": "1",
        "VOICEFLOW_ADMIN_TOKEN": token,
    }
    cmd = [str(BIN / "voiceflow-inference"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    console.print(f"[dim]$ {' '.join(cmd)}   (log: {log})[/dim]")
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", token, process, log)
    try:
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ---------------------------------------------------------------------------------------------------------- streaming
def stream_conversation(server: Server, seed: int, duration_s: float) -> dict[str, Any]:
    """Stream a held-out two-speaker conversation at 16 kHz (the server resamples) and score the result."""
    from voiceflow_contract.diarization import Segment
    from voiceflow_models.evaluation.held_out import make_test_conversations
    from voiceflow_models.evaluation.metrics import score_diarization

    conversation = make_test_conversations(1, seed=seed, duration_s=duration_s, sample_rate=16000)[0]
    pcm = (np.clip(conversation.audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    frame_bytes = 2 * 1531  # odd-sized frames (~96 ms): the server buffers across them
    windows: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    last_speaker: str | None = None
    ws_url = server.url.replace("http://", "ws://") + "/ws/diarize"
    started = time.perf_counter()
    with connect(ws_url, max_size=2**22) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le", "hop_s": 0.5}))
        session = json.loads(ws.recv())
        console.print(f"session {session['session_id']} pinned to {session['model']} v{session['model_version']}")

        def receive() -> None:
            nonlocal final, last_speaker
            for raw in ws:
                message = json.loads(raw)
                if message["type"] == "window":
                    windows.append(message)
                    speaker = message["speaker"]
                    if speaker is not None and speaker != last_speaker:
                        console.print(f"  {message['start']:6.1f} s  [bold]{speaker}[/bold] speaking (live)")
                        last_speaker = speaker
                elif message["type"] == "final":
                    final = message
                elif message["type"] == "error":
                    console.print(f"[red]server error: {message}[/red]")

        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        for offset in range(0, len(pcm), frame_bytes):
            ws.send(pcm[offset : offset + frame_bytes])
        ws.send(json.dumps({"type": "stop"}))
        reader.join(timeout=120)
    elapsed = time.perf_counter() - started
    hypothesis = [Segment(s["start"], s["end"], s["speaker"]) for s in final.get("segments", [])]
    scores = score_diarization(conversation.segments, hypothesis)
    show_timeline(conversation.segments, hypothesis, conversation.audio.size / 16000)
    return {
        "uri": conversation.uri,
        "duration_s": round(conversation.audio.size / 16000, 1),
        "windows": len(windows),
        "segments": len(hypothesis),
        "stream_s": round(elapsed, 2),
        "rtf": round(elapsed / (conversation.audio.size / 16000), 4),
        "model_version": final.get("model_version"),
        "scores": scores,
        "rttm": final.get("rttm", ""),
    }


def show_timeline(reference: list[Any], hypothesis: list[Any], duration: float, step_s: float = 0.5) -> None:
    """Reference and hypothesis speaker strips, one character per half second."""

    def strip(segments: list[Any]) -> str:
        names = sorted({s.speaker for s in segments}, key=lambda n: min(s.start for s in segments if s.speaker == n))
        symbols = {name: "ABCDEFGH"[i % 8] for i, name in enumerate(names)}
        cells = []
        for k in range(int(duration / step_s)):
            t = (k + 0.5) * step_s
            active = [symbols[s.speaker] for s in segments if s.start <= t < s.end]
            cells.append("·" if not active else ("+" if len(active) > 1 else active[0]))
        return "".join(cells)

    console.print(f"reference  {strip(reference)}")
    console.print(f"streamed   {strip(hypothesis)}")
    console.print("[dim](one character per 0.5 s; letters = speakers by appearance, + overlap, · silence)[/dim]")


# ---------------------------------------------------------------------------------------------------------- load
@dataclass
class Load:
    """REST /infer load in a background thread: counts requests, failures, versions seen and latency."""

    url: str
    requests: int = 0
    failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin sending requests."""
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        rng = np.random.default_rng(0)
        body = json.dumps({"audio": [(0.1 * rng.standard_normal(48000)).round(4).tolist()]})
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    response = client.post(
                        f"{self.url}/infer", content=body, headers={"Content-Type": "application/json"}
                    )
                    ok = response.status_code == 200
                    if ok:
                        version = response.json()["version"]
                        self.versions[version] = self.versions.get(version, 0) + 1
                    else:
                        self.errors.append(f"{response.status_code} {response.text[:120]}")
                except httpx.HTTPError as exc:
                    ok = False
                    self.errors.append(repr(exc))
                self.requests += 1
                self.failures += 0 if ok else 1
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                time.sleep(0.02)


# ---------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default=str(ROOT / "registry"), help="registry URL or folder")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "artifacts" / "demo", help="where the demo's files go")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of held-out conversation to stream")
    args = parser.parse_args(argv)
    artifacts: Path = args.artifacts.resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    registry: str = args.registry
    total = 7
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    step(1, total, "Train fast-cnn on synthetic voices (PyTorch Lightning + Hydra, CPU)")
    t = time.perf_counter()
    ckpt_a = train(artifacts, "train-a", [])
    timings["train"] = time.perf_counter() - t

    step(2, total, "Export -> optimise -> validate -> benchmark -> accuracy -> bump -> publish")
    t = time.perf_counter()
    version_a = publish(ckpt_a, artifacts / "publish-a", registry)
    timings["publish"] = time.perf_counter() - t
    console.print(f"published [bold]{MODEL} v{version_a}[/bold] to {registry}")

    step(3, total, "Serve it on 127.0.0.1 (pull latest, verify sha256, validate, warm up)")
    with serve(registry, artifacts) as server:
        server.wait_for_version(version_a)
        ready = server.ready()
        console.print(f"{server.url} ready: {ready.get('model')} v{ready.get('version')} from {ready.get('source')}")

        step(4, total, "Stream a held-out conversation (unseen voices) over /ws/diarize")
        streamed = stream_conversation(server, seed=7_000_000 + int(time.time()) % 1000, duration_s=args.duration)
        scores = streamed["scores"]
        console.print(
            f"DER {scores['der_collar_025']:.1%} (±0.25 s collar), {scores['der_collar_0']:.1%} (no collar); "
            f"{streamed['duration_s']} s of audio streamed in {streamed['stream_s']} s (RTF {streamed['rtf']})"
        )
        (artifacts / "streamed.rttm").write_text(streamed["rttm"])

        step(5, total, "Publish a new version (fine-tuned weights) and hot-reload under load")
        load = Load(server.url)
        load.start()
        ckpt_b = train(
            artifacts,
            "train-b",
            [
                f"ckpt_path={ckpt_a.parent.parent / 'run' / 'checkpoints' / 'last.ckpt'}",
                "trainer.max_epochs=5",
                "test_conversations=false",
            ],
        )
        version_b = publish(ckpt_b, artifacts / "publish-b", registry)
        swap_s = server.wait_for_version(version_b)
        time.sleep(1.0)
        console.print(
            f"server now serves v{version_b} ({swap_s:.1f} s after publish; poller + load + validate + warm-up); "
            f"{load.requests} requests during the reload, {load.failures} failed, versions seen {load.versions}"
        )

        step(6, total, f"Roll back to v{version_a} (admin API; instant: the previous session is kept warm)")
        t = time.perf_counter()
        server.admin("rollback", {"version": version_a})
        rollback_s = server.wait_for_version(version_a) + (time.perf_counter() - t)
        time.sleep(1.0)
        load.stop()
        console.print(f"serving v{server.ready().get('version')} again ({rollback_s * 1000:.0f} ms)")
        metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
        reloads = [line for line in metrics.splitlines() if line.startswith("voiceflow_model_reloads_total{")]
        for line in reloads:
            console.print(f"  [dim]{line}[/dim]")

        step(7, total, "Stop the server (SIGTERM: drain sessions, exit)")
    console.print("server stopped")

    latencies = np.array(load.latencies_ms or [0.0])
    p50, p99 = np.percentile(latencies, 50), np.percentile(latencies, 99)
    der_025, der_0 = scores["der_collar_025"], scores["der_collar_0"]
    summary = Table(title="VoiceFlow demo summary", show_lines=False)
    summary.add_column("what")
    summary.add_column("value")
    summary.add_row("versions published", f"v{version_a} (trained), v{version_b} (fine-tuned)")
    summary.add_row("served", f"v{version_a} -> hot reload -> v{version_b} -> rollback -> v{version_a}")
    summary.add_row("requests during reload + rollback", f"{load.requests} sent, {load.failures} failed")
    summary.add_row("REST /infer round trip", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    summary.add_row("DER on the streamed conversation", f"{der_025:.1%} (±0.25 s), {der_0:.1%} (collar 0)")
    summary.add_row("streaming real-time factor", f"{streamed['rtf']}")
    metadata_path = artifacts / "publish-a" / "metadata.json"
    if metadata_path.is_file():
        perf = json.loads(metadata_path.read_text()).get("performance", {}).get("cpu", {})
        model_latency = f"p50 {perf.get('p50_ms')} ms, p99 {perf.get('p99_ms')} ms"
        summary.add_row("model latency (bare ONNX Runtime)", model_latency)
    summary.add_row("registry", registry)
    summary.add_row("artifacts", str(artifacts))
    wall = f"{time.perf_counter() - t0:.0f} s (train {timings['train']:.0f} s, publish {timings['publish']:.0f} s)"
    summary.add_row("wall time", wall)
    console.print(summary)
    (artifacts / "summary.json").write_text(
        json.dumps(
            {
                "versions": [version_a, version_b],
                "requests": load.requests,
                "failures": load.failures,
                "der": scores,
                "rtf": streamed["rtf"],
                "wall_s": round(time.perf_counter() - t0, 1),
            },
            indent=2,
        )
    )
    if load.failures:
        console.print(f"[red]{load.failures} requests failed during the reload: {load.errors[:3]}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
