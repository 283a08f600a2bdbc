"""BentoML 1.4 (servers/bentoml_service.py, ``bentoml serve``): JSON with the float32 bytes base64-encoded, 2 worker
processes, access log off."""

from __future__ import annotations

from pathlib import Path

from voiceflow_bench.peers.native_requests import base64_json_request
from voiceflow_bench.peers.peer import SERVERS_DIR, Peer
from voiceflow_bench.peers.process import Launch
from voiceflow_contract.spec import INPUT_NAME, PROBABILITIES_OUTPUT

WORKERS = 2


def launch(python: Path, model: Path, port: int, work: Path) -> Launch:
    argv = [str(python), "-m", "bentoml", "serve", "bentoml_service:OrtService", "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    env = {
        "PEER_MODEL": str(model),
        "PEER_INPUT": INPUT_NAME,
        "PEER_OUTPUT": PROBABILITIES_OUTPUT,
        "PEER_WORKERS": str(WORKERS),
        "BENTOML_DO_NOT_TRACK": "True",
        "BENTOML_HOME": str(work / "bentoml-home"),
    }
    return Launch(argv, "/readyz", env=env, cwd=SERVERS_DIR)


PEER = Peer(
    name="bentoml",
    label="BentoML",
    packages=("bentoml==1.4.40",),
    distribution="bentoml",
    protocol="JSON, base64 float32",
    settings=f"workers={WORKERS}, access log off, no batching (batchable APIs take ndarray JSON)",
    launch=launch,
    request=lambda batch: base64_json_request("/infer", batch),
)
