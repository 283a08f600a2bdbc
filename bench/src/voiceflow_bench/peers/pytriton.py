"""Triton Inference Server through PyTriton (servers/pytriton_server.py): binary OIP straight into tritonserver,
Triton's dynamic batcher (max batch 16, no queue delay), 2 model instances (each its own 1-thread session)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from voiceflow_bench.config import MODEL_NAME
from voiceflow_bench.peers.peer import Peer, script
from voiceflow_bench.peers.process import Launch
from voiceflow_bench.serving.http_client import oip_binary_request
from voiceflow_bench.serving.server import free_port
from voiceflow_contract.spec import INPUT_NAME, PROBABILITIES_OUTPUT

MAX_BATCH = 16
INSTANCES = 2


def base_libdir(python: Path) -> str:
    """The venv's base interpreter library folder (libpython), which PyTriton's bundled stub links against."""
    code = "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def launch(python: Path, model: Path, port: int, work: Path) -> Launch:
    argv = [str(python), script("pytriton_server.py"), "--model", str(model), "--name", MODEL_NAME]
    argv += ["--port", str(port), "--grpc-port", str(free_port()), "--metrics-port", str(free_port())]
    argv += ["--input", INPUT_NAME, "--output", PROBABILITIES_OUTPUT]
    argv += ["--max-batch", str(MAX_BATCH), "--instances", str(INSTANCES)]
    return Launch(argv, f"/v2/models/{MODEL_NAME}/ready", env={"LD_LIBRARY_PATH": base_libdir(python)})


PEER = Peer(
    name="pytriton",
    label="PyTriton (Triton)",
    packages=("nvidia-pytriton==0.7.0",),
    distribution="nvidia-pytriton",
    protocol="OIP binary",
    settings=f"dynamic batcher max_batch={MAX_BATCH}, queue delay 0, {INSTANCES} instances",
    launch=launch,
    request=lambda batch: oip_binary_request(MODEL_NAME, batch),
    oip_model=MODEL_NAME,
)
