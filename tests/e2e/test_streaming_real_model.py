"""The default model (ge2e), fine-tuned briefly, published by the pipeline and served for real: streamed diarization
quality on synthetic and real speech, and hot reload."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from e2e_support import LiveServer, TrainedModel, publish
from websockets.sync.client import connect

from voiceflow_contract.diarization import Segment
from voiceflow_models.benchmarks.real_sample import load_sample
from voiceflow_models.evaluation.held_out import make_test_conversations
from voiceflow_models.evaluation.metrics import score_diarization

REAL_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "real-sample"
# DER (collar 0, +-0.25 s) measured with the session's model (pretrained GE2E, head fine-tuned, seeded) on the
# conversation below; each bound is the measured value plus a margin. A model that stops separating the voices also
# fails the comparison with the one-speaker relabelling of its own turns.
MEASURED = {16000: (0.131, 0.007), 48000: (0.050, 0.0)}
MAX_DER = {16000: (0.18, 0.04), 48000: (0.10, 0.03)}
#: The model must beat the one-speaker relabelling of its own turns by at least this factor (DER +-0.25 s).
WIN_FACTOR = 0.5
#: The real development recording, streamed without the speaker count: issue 11's targets (20 % at collar 0, 8 % at
#: +-0.25 s). With the calibrated ``margin`` boundary the model measures 18.0 % / 5.5 % (21.1 % / 7.4 % before it).
REAL_MAX_DER_COLLAR_0, REAL_MAX_DER_COLLAR_025 = 0.20, 0.08


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


def one_speaker(hypothesis: list[Segment]) -> list[Segment]:
    """The one-speaker baseline on the same speech regions: every streamed turn relabelled to one speaker."""
    return [Segment(s.start, s.end, "ONE") for s in hypothesis]


def score_streamed(
    server: LiveServer, audio: np.ndarray, reference: list[Segment], rate: int, encoding: str, frame: int
) -> tuple[dict, dict[str, float], dict[str, float], list[Segment]]:
    """Stream, then score the server's turns and the one-speaker baseline scored on the same stream."""
    final = stream(server, audio, rate, encoding, frame)
    hypothesis = [Segment(s["start"], s["end"], s["speaker"]) for s in final["segments"]]
    uem = (0.0, len(audio) / rate)
    scores = score_diarization(reference, hypothesis, uem=uem)
    baseline = score_diarization(reference, one_speaker(hypothesis), uem=uem)
    return final, scores, baseline, hypothesis


@pytest.mark.parametrize(("sample_rate", "encoding", "frame_samples"), ODD_FRAMES)
def test_streamed_der(live_server: LiveServer, sample_rate: int, encoding: str, frame_samples: int) -> None:
    conversation = make_test_conversations(1, seed=424242, duration_s=30.0, sample_rate=sample_rate)[0]
    final, scores, baseline, hypothesis = score_streamed(
        live_server, conversation.audio, list(conversation.segments), sample_rate, encoding, frame_samples
    )
    der_0, der_025 = scores["der_collar_0"], scores["der_collar_025"]
    print(
        f"{sample_rate} Hz {encoding}: DER {der_0:.3f} (collar 0), {der_025:.3f} (±0.25 s); one-speaker "
        f"{baseline['der_collar_0']:.3f} / {baseline['der_collar_025']:.3f}; {len({s.speaker for s in hypothesis})} spk"
    )
    assert final["windows"] == len(final["windows_seen"]) > 50
    assert "SPEAKER" in final["rttm"]
    max_0, max_025 = MAX_DER[sample_rate]
    assert der_0 <= max_0 and der_025 <= max_025, (scores, MEASURED[sample_rate])
    assert der_025 <= WIN_FACTOR * baseline["der_collar_025"], (scores, baseline)


def test_streamed_real_sample(live_server: LiveServer) -> None:
    """The real development recording (pyannote.audio sample), 16 kHz s16le in odd frames, speaker count not given."""
    try:
        recording = load_sample(REAL_SAMPLE_DIR)
    except FileNotFoundError as exc:
        pytest.skip(f"{exc} (make real-sample)")
    reference = list(recording.reference)
    final, scores, baseline, hypothesis = score_streamed(
        live_server, recording.audio, reference, recording.sample_rate, "pcm_s16le", 1531
    )
    speakers = {s.speaker for s in hypothesis}
    print(
        f"real sample: DER {scores['der_collar_0']:.3f} (collar 0), {scores['der_collar_025']:.3f} (±0.25 s); "
        f"one-speaker {baseline['der_collar_0']:.3f} / {baseline['der_collar_025']:.3f}; {len(speakers)} speakers"
    )
    assert final["windows"] == len(final["windows_seen"]) > 50
    assert len(speakers) == len({s.speaker for s in reference}) == 2
    assert scores["der_collar_0"] <= REAL_MAX_DER_COLLAR_0, scores
    assert scores["der_collar_025"] <= REAL_MAX_DER_COLLAR_025, scores
    assert scores["der_collar_025"] <= WIN_FACTOR * baseline["der_collar_025"], (scores, baseline)


# The client reads the server's messages while it waits for the publish, as a real client does: an unread receive
# queue (websockets' max_queue, 16 messages) stops the client reading frames, pongs included, and either keepalive
# then drops the connection mid-publish (what sent this test to the slow suite once).
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
        # The session waits, on purpose, through a whole publish (minutes for GE2E on a busy machine); the server's
        # idle limit is raised for this server in conftest.py. What is asserted is the version pinning.
        with connect(live_server.ws_url, max_size=2**22) as ws:
            ws.send(json.dumps({"type": "start", "sample_rate": 48000, "encoding": "pcm_f32le"}))
            started = json.loads(ws.recv())
            assert started["model_version"] == old
            messages: list[dict] = []
            reader = threading.Thread(target=lambda: messages.extend(json.loads(raw) for raw in ws))
            reader.start()
            half = len(payload) // 2
            frame = 4 * 24000  # 0.5 s frames, well under the 1 MiB frame limit
            for offset in range(0, half, frame):
                ws.send(payload[offset : min(offset + frame, half)])
            # The second version's accuracy figures are not what this test checks: the smallest scoring set.
            new = publish(
                trained_model.checkpoint, trained_model.registry, trained_model.work / "publish-2", conversations=1,
                duration_s=10,
            )  # fmt: skip
            assert new != old
            live_server.wait_for_version(new)
            for offset in range(half, len(payload), frame):
                ws.send(payload[offset : offset + frame])
            ws.send(json.dumps({"type": "stop"}))
            reader.join(timeout=120)
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
