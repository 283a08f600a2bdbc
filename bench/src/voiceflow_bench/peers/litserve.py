"""LitServe (servers/litserve_server.py): JSON with the float32 bytes base64-encoded, 2 inference workers on the CPU
device, ZeroMQ fast queue, no batching (at batch 1 its batcher only adds the wait)."""

from __future__ import annotations

from pathlib import Path

from voiceflow_bench.peers.native_requests import base64_json_request
from voiceflow_bench.peers.peer import Peer, script
from voiceflow_bench.peers.process import Launch
from voiceflow_contract.spec import INPUT_NAME, PROBABILITIES_OUTPUT

WORKERS = 2


def launch(python: Path, model: Path, port: int, work: Path) -> Launch:
    argv = [str(python), script("litserve_server.py"), "--model", str(model), "--port", str(port)]
    argv += ["--input", INPUT_NAME, "--output", PROBABILITIES_OUTPUT, "--workers", str(WORKERS)]
    return Launch(argv, "/health")


PEER = Peer(
    name="litserve",
    label="LitServe",
    packages=("litserve==0.2.19",),
    distribution="litserve",
    protocol="JSON, base64 float32",
    settings=f"workers_per_device={WORKERS}, fast_queue=True, no batching",
    launch=launch,
    request=lambda batch: base64_json_request("/predict", batch),
)
