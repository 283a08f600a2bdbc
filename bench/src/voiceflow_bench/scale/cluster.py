"""The cluster under test: one S3 registry (moto's server on 127.0.0.1) and N ``voiceflow-inference serve`` replicas
that poll it, each a subprocess on its own loopback port with its own cache."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fsspec
import httpx
from moto.server import ThreadedMotoServer

from voiceflow_bench.serving.server import ADMIN_TOKEN, ServerProcess, free_port
from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.testing import build_contract_model, publish_model_file

BUCKET = "vf-scale-demo"
MODEL = "scale-demo"


class S3Registry:
    """moto's S3 server (a thread of this process) with one bucket, and the registry client on it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per registry request
        # s3fs with a fixed endpoint and static keys; no region (moto accepts any).
        self.options: dict[str, Any] = {
            "key": "testing",
            "secret": "testing",
            "endpoint_url": f"http://127.0.0.1:{self.port}",
        }
        self.url = f"s3://{BUCKET}/registry"

    def start(self) -> S3Registry:
        """Start the server and create the bucket."""
        self.server.start()
        fsspec.filesystem("s3", skip_instance_cache=True, **self.options).mkdir(BUCKET)
        return self

    def client(self) -> ModelRegistry:
        """A registry client on the bucket."""
        return ModelRegistry(self.url, storage_options=self.options)

    def publish(self, version: str, seed: int, work_dir: Path) -> None:
        """Validate and publish a tiny contract model (weights from ``seed``) as ``version``, moving ``latest``."""
        path = build_contract_model(work_dir / f"model-{version}.onnx", seed=seed)
        publish_model_file(self.client(), MODEL, version, path)

    def stop(self) -> None:
        """Stop the server."""
        with contextlib.suppress(Exception):
            self.server.stop()


class Replicas:
    """N replicas of the real server, started in parallel, all pulling ``MODEL@latest`` from one registry."""

    def __init__(self, registry: S3Registry, work_dir: Path, count: int, poll_interval_s: float) -> None:
        env = {
            "VOICEFLOW_STORAGE_OPTIONS": json.dumps(registry.options),
            "VOICEFLOW_POLL_INTERVAL_S": str(poll_interval_s),
            "VOICEFLOW_SHUTDOWN_GRACE_S": "3",
            "VOICEFLOW_WARMUP_RUNS": "1",
            "VOICEFLOW_ORT__INTRA_OP_THREADS": "1",
        }
        self.servers = {
            f"r{i}": ServerProcess(registry_url=registry.url, work_dir=work_dir / f"r{i}", model_name=MODEL, env=env)
            for i in range(count)
        }

    def start(self) -> Replicas:
        """Start every replica and wait until each is ready."""
        with ThreadPoolExecutor(len(self.servers)) as pool:
            list(pool.map(lambda s: s.start(timeout=120.0), self.servers.values()))
        return self

    @property
    def ports(self) -> dict[str, int]:
        """Replica name -> port."""
        return {name: s.port for name, s in self.servers.items()}

    def versions(self) -> dict[str, str | None]:
        """The version each live replica's /ready reports (None: no answer)."""
        out: dict[str, str | None] = {}
        for name, server in self.servers.items():
            try:
                out[name] = httpx.get(f"{server.url}/ready", timeout=5.0).json().get("version")
            except (httpx.HTTPError, ValueError):
                out[name] = None
        return out

    def wait_for_version(self, version: str, since: float, timeout: float) -> dict[str, float | None]:
        """Seconds after ``since`` (time.monotonic) at which each replica first reported ``version``."""
        seen: dict[str, float | None] = dict.fromkeys(self.servers)
        deadline = since + timeout
        while time.monotonic() < deadline and any(v is None for v in seen.values()):
            for name, current in self.versions().items():
                if seen[name] is None and current == version:
                    seen[name] = time.monotonic() - since
            time.sleep(0.05)
        return seen

    def admin(self, path: str, body: dict[str, Any]) -> dict[str, int]:
        """POST ``/admin/<path>`` to every replica (the fan-out); replica -> status code."""
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return {
            name: httpx.post(f"{s.url}/admin/{path}", json=body, headers=headers, timeout=60.0).status_code
            for name, s in self.servers.items()
        }

    def terminate(self, name: str) -> None:
        """SIGTERM to one replica, without waiting: it turns unready and drains its sessions, then exits."""
        process = self.servers[name].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)

    def wait_exit(self, name: str, timeout: float) -> bool:
        """Wait until one replica's process has exited; False on timeout."""
        process = self.servers[name].process
        if process is None:
            return True
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self) -> None:
        """Stop every replica (graceful, then killed); each stop is attempted even if another fails."""
        for server in self.servers.values():
            with contextlib.suppress(Exception):
                server.stop()


__all__ = ["BUCKET", "MODEL", "Replicas", "S3Registry"]
