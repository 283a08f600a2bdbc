"""Registry fixtures: real object-store servers on 127.0.0.1 (moto S3, Azurite, gcp-storage-emulator), a registry
fixture parametrised over file://, s3://, az:// and gs://, and factories for real validated models.

Each server starts once per session on a free loopback port, only when a test asks for that backend, and is stopped
at the end. Each test gets a fresh prefix inside the bucket/container, so tests never see each other's models.
"""

from __future__ import annotations

import os

# Must be set before gcsfs is imported: otherwise every bucket stalls ~60 s probing for hierarchical namespaces.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import contextlib
import hashlib
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest

from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.schemas.metadata import ModelMetadata
from voiceflow_contract.schemas.report import ValidationReport
from voiceflow_contract.testing import contract_metadata
from voiceflow_contract.validator import validate_model_contract

REPO = Path(__file__).resolve().parents[3]
AZURITE = REPO / "node_modules" / ".bin" / "azurite-blob"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
BACKENDS = ["file", "s3", "az", "gs"]


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None, timeout: float = 30.0
) -> None:
    """Block until 127.0.0.1:port accepts connections (or fail, showing the server's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = log.read_text(errors="replace") if log is not None and log.exists() else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {out[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate one server we started (by its own handle), killing it if it does not exit."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, Any]]:
    """moto's S3 server (in-process thread) with one bucket; yields storage options for s3fs."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_for_port(port)
        options: dict[str, Any] = {"key": "testing", "secret": "testing", "endpoint_url": f"http://127.0.0.1:{port}"}
        fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
        fs.mkdir("vf-registry")
        yield {"bucket": "vf-registry", "options": options, "port": port}
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Azurite blob server (subprocess, in-memory, no telemetry) with one container."""
    if not AZURITE.exists():
        pytest.skip(f"Azurite is not installed at {AZURITE} (run make setup)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    log = workdir / "azurite.log"
    # Output goes to a file, never an unread pipe: a full pipe buffer blocks the server mid-request.
    proc = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
        ],
        cwd=workdir,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, log)
        conn = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
        options: dict[str, Any] = {"connection_string": conn}
        fs = fsspec.filesystem("az", skip_instance_cache=True, **options)
        fs.mkdir("vf-registry")
        yield {"bucket": "vf-registry", "options": options, "port": port}
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """gcp-storage-emulator (subprocess, in-memory) with one bucket."""
    exe = shutil.which("gcp-storage-emulator") or str(Path(sys.executable).parent / "gcp-storage-emulator")
    port = free_port()
    log = tmp_path_factory.mktemp("gcs-emulator") / "emulator.log"
    proc = subprocess.Popen(
        [exe, "start", "-H", "127.0.0.1", "--port", str(port), "--in-memory"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, log)
        options: dict[str, Any] = {"endpoint_url": f"http://127.0.0.1:{port}", "token": "anon", "project": "test"}
        fs = fsspec.filesystem("gs", skip_instance_cache=True, **options)
        fs.mkdir("vf-registry")
        yield {"bucket": "vf-registry", "options": options, "port": port}
    finally:
        stop_process(proc)


@dataclass
class RegistryTarget:
    """Where a test's registry lives: URL + storage options, and the raw filesystem for tampering."""

    backend: str
    url: str
    options: dict[str, Any]

    def open(self, **kwargs: Any) -> ModelRegistry:
        """A fresh client (its own Storage) on the same registry."""
        return ModelRegistry(self.url, self.options, lock_timeout=30.0, **kwargs)


def make_target(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> RegistryTarget:
    """A fresh, empty registry root on ``backend``."""
    prefix = uuid.uuid4().hex[:12]
    if backend == "file":
        return RegistryTarget("file", (tmp_path / "registry").as_uri(), {})
    server = request.getfixturevalue({"s3": "s3_server", "az": "azurite_server", "gs": "gcs_server"}[backend])
    return RegistryTarget(backend, f"{backend}://{server['bucket']}/{prefix}", dict(server["options"]))


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> RegistryTarget:
    """A fresh registry on each backend: file://, s3:// (moto), az:// (Azurite), gs:// (gcp-storage-emulator)."""
    return make_target(request, str(request.param), tmp_path)


@pytest.fixture(params=["file", "s3", "az"])
def locking_target(request: pytest.FixtureRequest, tmp_path: Path) -> RegistryTarget:
    """Backends whose conditional writes make the registry lock real: file://, s3://, az:// (not the GCS emulator)."""
    return make_target(request, str(request.param), tmp_path)


@pytest.fixture
def registry(target: RegistryTarget) -> ModelRegistry:
    """A ModelRegistry on the parametrised backend."""
    return target.open()


@dataclass
class Artifact:
    """Everything publish needs: a real tiny ONNX model, its metadata and its validator report."""

    model_name: str
    version: str
    model_path: Path
    metadata: ModelMetadata
    report: ValidationReport

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.model_path.read_bytes()).hexdigest()


def make_metadata(model_name: str, version: str, model_path: Path) -> ModelMetadata:
    """A complete metadata.json for ``model_path``."""
    return contract_metadata(model_path, model_name, version, num_speakers=2, embedding_dim=None, batch=-1)


@pytest.fixture
def artifact(tmp_path: Path, onnx_builder: Callable[..., Path]) -> Callable[..., Artifact]:
    """``artifact("fast-cnn", "1.0.0")``: a distinct tiny valid model per call, validated by the real validator."""
    counter = iter(range(1, 10_000))

    def make(model_name: str = "fast-cnn", version: str = "1.0.0", **knobs: Any) -> Artifact:
        index = next(counter)
        # A different unused initializer size per call: different bytes and sha256 for every version.
        knobs.setdefault("pad_bytes", 4 * index)
        path = onnx_builder(tmp_path / "artifacts" / f"{model_name}-{version}-{index}" / "model.onnx", **knobs)
        report = validate_model_contract(path, measure_latency=False)
        return Artifact(model_name, version, path, make_metadata(model_name, version, path), report)

    return make


def publish(registry: ModelRegistry, art: Artifact, **kwargs: Any) -> Any:
    """Publish an artifact (shorthand)."""
    return registry.publish(art.model_name, art.version, art.model_path, art.metadata, art.report, **kwargs)


@pytest.fixture
def publish_artifact() -> Callable[..., Any]:
    """``publish_artifact(registry, artifact, aliases=...)``."""
    return publish


# ------------------------------------------------------------------ an S3 server that can be stopped mid-operation
class RestartableMoto:
    """A moto S3 server on a fixed loopback port that a test can stop and start again (moto's state survives)."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.server: Any = None
        self.bucket = ""

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def options(self) -> dict[str, Any]:
        return {
            "key": "k",
            "secret": "s",
            "endpoint_url": f"http://127.0.0.1:{self.port}",
            "config_kwargs": {"connect_timeout": 1, "read_timeout": 5, "retries": {"max_attempts": 1}},
        }


@pytest.fixture
def moto() -> Iterator[RestartableMoto]:
    server = RestartableMoto()
    server.start()
    server.bucket = f"faults-{uuid.uuid4().hex[:8]}"  # moto's state is process-wide: a fresh bucket per test
    fsspec.filesystem("s3", skip_instance_cache=True, **server.options).mkdir(server.bucket)
    try:
        yield server
    finally:
        server.stop()
