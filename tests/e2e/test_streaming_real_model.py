"""A trained fast-cnn, published by the pipeline and served for real: streamed diarization quality and hot reload."""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pytest
from e2e_support import LiveServer, TrainedModel, publish
from websockets.sync.client import connect

from voiceflow_contract.diarization import Segment
from voiceflow_models.evaluation.held_out import make_test_conversations
from voiceflow_models.evaluation.metrics import score_diarization

# The session's briefly trained model scores ~8% offline; the one-speaker baseline is ~33-40%.
MAX_DER_COLLAR_025 = 0.25


def encode(audio: np.ndarray, encoding: str) -> bytes:
    """PCM bytes of float audio in [-1, 1]."""
    if encoding == "pcm_s16le":
        return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    return audio.astype("<f4").tobytes()


def stream(server: LiveServer, audio: np.ndarray, sample_rate: int, encoding: str, frame_samples: int) -> dict:
    """Stream `audio` in odd-sized frames; returns the final message plus the window messages."""
    payload = encode(audio, encoding)
    width = 2 if encoding == "pcm_s16le" else 4
    windows: list[dict] = []
    with connect(server.ws_url, max_size=2**22) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": sample_rate, "encoding": encoding, "hop_s": 0.5}))
        started = json.loads(ws.recv())
        assert started["type"] == "started"
        for offset in range(0, len(payload), frame_samples * width):
            ws.send(payload[offset : offset + frame_samples * width])
        ws.send(json.dumps({"type": "stop"}))
        for raw in ws:
            message = json.loads(raw)
            assert message["type"] != "error", message
            if message["type"] == "window":
                windows.append(message)
            if message["type"] == "final":
                return {**message, "windows_seen": windows, "started": started}
    pytest.fail("no final message")


ODD_FRAMES = [(16000, "pcm_s16le", 1531), (48000, "pcm_f32le", 2003)]


@pytest.mark.parametrize(("sample_rate", "encoding", "frame_samples"), ODD_FRAMES)
def test_streamed_der(live_server: LiveServer, sample_rate: int, encoding: str, frame_samples: int) -> None:
    conversation = make_test_conversations(1, seed=424242, duration_s=30.0, sample_rate=sample_rate)[0]
    final = stream(live_server, conversation.audio, sample_rate, encoding, frame_samples)
    hypothesis = [Segment(s["start"], s["end"], s["speaker"]) for s in final["segments"]]
    scores = score_diarization(conversation.segments, hypothesis)
    der_0, der_025 = scores["der_collar_0"], scores["der_collar_025"]
    print(f"{sample_rate} Hz {encoding}: DER {der_0:.3f} (collar 0), {der_025:.3f} (±0.25 s)")
    assert final["windows"] == len(final["windows_seen"]) > 50
    assert "SPEAKER" in final["rttm"]
    assert scores["der_collar_025"] < MAX_DER_COLLAR_025


def test_hot_reload_during_session_and_rest_load(live_server: LiveServer, trained_model: TrainedModel) -> None:
    """A new version published mid-session: REST load fails nothing, the live session keeps its version to the end."""
    old = live_server.version()
    conversation = make_test_conversations(1, seed=99, duration_s=20.0)[0]
    payload = encode(conversation.audio, "pcm_f32le")
    failures: list[str] = []
    versions: set[str] = set()
    stop = threading.Event()

    def rest_load() -> None:
        body = {"audio": [np.zeros(48000, dtype=np.float32).tolist()]}
        body["audio"][0][::100] = [0.1] * 480
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                response = client.post(f"{live_server.url}/infer", json=body)
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                else:
                    versions.add(response.json()["version"])

    loaders = [threading.Thread(target=rest_load) for _ in range(2)]
    for thread in loaders:
        thread.start()
    try:
        with connect(live_server.ws_url, max_size=2**22) as ws:
            ws.send(json.dumps({"type": "start", "sample_rate": 48000, "encoding": "pcm_f32le"}))
            started = json.loads(ws.recv())
            assert started["model_version"] == old
            half = len(payload) // 2
            frame = 4 * 24000  # 0.5 s frames, well under the 1 MiB frame limit
            for offset in range(0, half, frame):
                ws.send(payload[offset : min(offset + frame, half)])
            new = publish(trained_model.checkpoint, trained_model.registry, trained_model.work / "publish-2")
            assert new != old
            live_server.wait_for_version(new)
            for offset in range(half, len(payload), frame):
                ws.send(payload[offset : offset + frame])
            ws.send(json.dumps({"type": "stop"}))
            messages = [json.loads(raw) for raw in ws]
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in loaders:
            thread.join(timeout=30)
    final = messages[-1]
    assert final["type"] == "final", messages[-3:]
    assert {m["model_version"] for m in messages if m["type"] in ("window", "final")} == {old}
    assert failures == []
    assert {old, new} <= versions
