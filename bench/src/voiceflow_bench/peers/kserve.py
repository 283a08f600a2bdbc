"""KServe's Python model server (``kserve.ModelServer`` + a ``kserve.Model`` subclass; servers/kserve_server.py),
binary OIP, 2 uvicorn worker processes (its documented way to use more cores; no batcher in the Python server)."""

from __future__ import annotations

from pathlib import Path

from voiceflow_bench.config import MODEL_NAME
from voiceflow_bench.peers.peer import Peer, script
from voiceflow_bench.peers.process import Launch
from voiceflow_bench.serving.http_client import oip_binary_request
from voiceflow_contract.spec import INPUT_NAME, PROBABILITIES_OUTPUT

WORKERS = 2


def launch(python: Path, model: Path, port: int, work: Path) -> Launch:
    argv = [str(python), script("kserve_server.py"), "--model", str(model), "--name", MODEL_NAME]
    argv += ["--port", str(port), "--input", INPUT_NAME, "--output", PROBABILITIES_OUTPUT, "--workers", str(WORKERS)]
    return Launch(argv, f"/v2/models/{MODEL_NAME}/ready")


PEER = Peer(
    name="kserve",
    label="KServe",
    packages=("kserve==0.21.0",),
    distribution="kserve",
    protocol="OIP binary",
    settings=f"ModelServer workers={WORKERS}, gRPC off, no access log",
    launch=launch,
    request=lambda batch: oip_binary_request(MODEL_NAME, batch),
    oip_model=MODEL_NAME,
)
