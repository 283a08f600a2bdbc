"""End-to-end fixtures: the default model (ge2e) fine-tuned briefly once per session, published, served for real."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Iterator

import pytest
from e2e_support import BIN, MODEL, TINY_TRAINING, LiveServer, TrainedModel, free_port, publish, run


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """Fine-tune the default model (ge2e) briefly and publish it through the seed's pipeline (export ... publish)."""
    work = tmp_path_factory.mktemp("e2e")
    registry = work / "registry"
    run(
        [str(BIN / "voiceflow-train"), *TINY_TRAINING, f"hydra.run.dir={work / 'run'}", f"publish_dir={work / 'ckpt'}"],
        work / "train.log",
    )
    checkpoint = work / "ckpt" / MODEL / "model.ckpt"
    publish(checkpoint, registry, work / "publish-1")
    from voiceflow_contract.registry import ModelRegistry

    return TrainedModel(registry, checkpoint, work, str(ModelRegistry(str(registry)).resolve(MODEL)))


@pytest.fixture(scope="session")
def live_server(trained_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server pulling `latest` from the session's registry, polling it every half second."""
    work = tmp_path_factory.mktemp("server")
    port, token = free_port(), secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "VOICEFLOW_ENV": "development",
        "VOICEFLOW_REGISTRY_URL": str(trained_model.registry),
        "VOICEFLOW_MODEL_NAME": MODEL,
        "VOICEFLOW_MODEL_REF": "latest",
        "VOICEFLOW_CACHE_DIR": str(work / "cache"),
        "VOICEFLOW_WATCH_DIR": "",
        "VOICEFLOW_POLL_INTERVAL_S": "0.5",
        # test_hot_reload_during_session_and_rest_load holds a session open, without audio, through a whole publish.
        "VOICEFLOW_LIMITS__WS_IDLE_TIMEOUT_S": "1800",
        "VOICEFLOW_ADMIN_TOKEN": token,
    }
    log = work / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "voiceflow-inference"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", token, log)
    try:
        server.wait_for_version(trained_model.version)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
