"""Start the real inference server (``voiceflow-inference serve``) as a subprocess on 127.0.0.1 and watch it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

ADMIN_TOKEN = "bench-admin-token"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serving_env(
    registry_url: str, cache_dir: Path, model_name: str = "fast-cnn", watch_dir: Path | None = None
) -> dict[str, str]:
    """The VOICEFLOW_* settings a benchmarked server runs with: development, no polling, no access log."""
    return {
        "VOICEFLOW_ENV": "development",
        "VOICEFLOW_REGISTRY_URL": registry_url,
        "VOICEFLOW_MODEL_NAME": model_name,
        "VOICEFLOW_CACHE_DIR": str(cache_dir),
        "VOICEFLOW_WATCH_DIR": str(watch_dir) if watch_dir else "",
        "VOICEFLOW_POLL_INTERVAL_S": "0",
        "VOICEFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
        "VOICEFLOW_SHUTDOWN_GRACE_S": "1",
        "VOICEFLOW_LOG_LEVEL": "warning",  # no access log: it would be part of every measured request
    }


class ServerError(RuntimeError):
    """The server did not start (the message carries the tail of its log)."""


class ServerProcess:
    """``voiceflow-inference serve`` in a subprocess with VOICEFLOW_* settings; a context manager that stops it.

    Inherited VOICEFLOW_* variables are dropped so that only ``env`` (plus the defaults set here) configure it.
    """

    def __init__(
        self,
        *,
        registry_url: str,
        work_dir: Path,
        model_name: str = "fast-cnn",
        watch_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/diarize"
        self.work_dir = work_dir
        self.log_path = work_dir / f"server-{self.port}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEFLOW_")}
        self.env.update(serving_env(registry_url, work_dir / "cache", model_name, watch_dir))
        self.env.update(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> ServerProcess:
        """Launch and wait until ``/ready`` answers 200. Raises ServerError with the log tail otherwise."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "voiceflow_inference.cli", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/ready").status_code == 200:
                        return self
                time.sleep(0.1)
        self.stop()
        raise ServerError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self.process is None:
            raise ServerError("server not started")
        return self.process.pid

    def rss_mb(self) -> float:
        """Resident set size of the server process in MiB (VmRSS)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        raise ServerError("VmRSS not found")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM (graceful drain), then SIGKILL after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self.start() if self.process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


__all__ = ["ADMIN_TOKEN", "ServerError", "ServerProcess", "free_port"]
