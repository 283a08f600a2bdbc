"""The inference server as a subprocess on 127.0.0.1: start it, wait for a version, call the admin API, stop it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from demo.settings import BIN, MODEL, ROOT
from demo.terminal import console


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
def serve(registry: str, artifacts: Path, model: str = MODEL) -> Iterator[Server]:
    """Start `voiceflow-inference serve` pulling `model`@latest and polling the registry every second."""
    port = free_port()
    token = secrets.token_urlsafe(24)
    log = artifacts / "server.log"
    env = {
        **os.environ,
        "VOICEFLOW_ENV": "development",
        "VOICEFLOW_REGISTRY_URL": registry,
        "VOICEFLOW_MODEL_NAME": model,
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
