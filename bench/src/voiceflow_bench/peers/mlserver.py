"""Seldon MLServer with our tiny custom runtime (servers/mlserver_runtime.py): OIP v2 JSON (it refuses the binary
extension), ``parallel_workers=0`` (the default 1 crashes under uvloop), adaptive batching off."""

from __future__ import annotations

from pathlib import Path

from voiceflow_bench.config import MODEL_NAME
from voiceflow_bench.peers.native_requests import oip_json_request
from voiceflow_bench.peers.peer import Peer, script
from voiceflow_bench.peers.process import Launch
from voiceflow_bench.serving.server import free_port
from voiceflow_contract.spec import INPUT_NAME, PROBABILITIES_OUTPUT


def launch(python: Path, model: Path, port: int, work: Path) -> Launch:
    argv = [str(python), script("mlserver_server.py"), "--model", str(model), "--name", MODEL_NAME]
    argv += ["--port", str(port), "--grpc-port", str(free_port()), "--metrics-port", str(free_port())]
    argv += ["--input", INPUT_NAME, "--output", PROBABILITIES_OUTPUT, "--work", str(work / "mlserver")]
    return Launch(argv, f"/v2/models/{MODEL_NAME}/ready")


PEER = Peer(
    name="mlserver",
    label="MLServer",
    packages=("mlserver==1.7.1",),
    distribution="mlserver",
    protocol="OIP JSON",
    settings="parallel_workers=0, adaptive batching off",
    launch=launch,
    request=lambda batch: oip_json_request(MODEL_NAME, batch),
)
