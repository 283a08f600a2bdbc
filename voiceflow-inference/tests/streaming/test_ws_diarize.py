"""`/ws/diarize` end to end: uvicorn on 127.0.0.1, the `websockets` client, a real ONNX model from the watch dir."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from ws_helpers import conversation, der, serve_in_thread, write_band_model, ws_app

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, band_model_path: Path) -> Iterator[dict[str, Any]]:
    """One server for the module: limits small enough to test (3 sessions, 20 s of audio, 256 KiB frames)."""
    root = tmp_path_factory.mktemp("ws-server")
    app = ws_app(root, band_model_path, max_concurrent_sessions=3, max_session_seconds=30.0, max_ws_frame_bytes=262144)
    with serve_in_thread(app) as base:
        yield {"base": base, "ws": base.replace("http", "ws") + "/ws/diarize", "root": root, "app": app}


def _healthy(base: str) -> None:
    assert httpx.get(base + "/health", timeout=5).status_code == 200


async def _collect(ws: Any) -> list[dict[str, Any]]:
    """Every message until the server closes."""
    out: list[dict[str, Any]] = []
    try:
        async for raw in ws:
            out.append(json.loads(raw))
    except ConnectionClosed:
        pass
    return out


def _encode(audio: np.ndarray, encoding: str) -> bytes:
    if encoding == "pcm_f32le":
        return audio.astype("<f4").tobytes()
    return np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2").tobytes()


async def _stream_conversation(url: str, rate: int, encoding: str, frame_ms: float) -> tuple[list[dict[str, Any]], int]:
    conv = conversation(rate, seed=7)
    data = _encode(conv.audio, encoding)
    step = int(rate * frame_ms / 1000) * (4 if encoding == "pcm_f32le" else 2) + 3  # odd: samples split across frames
    live_windows = 0
    async with websockets.connect(url) as ws:
        await ws.send(
            json.dumps({"type": "start", "sample_rate": rate, "encoding": encoding, "hop_s": 0.5, "uri": "c1"})
        )
        started = json.loads(await ws.recv())
        assert started["type"] == "started" and started["sample_rate"] == rate
        for i in range(0, len(data), step):
            await ws.send(data[i : i + step])
            # Drain whatever the server already sent: windows must arrive while audio is still streaming.
            while True:
                try:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=0.001))
                except TimeoutError:
                    break
                assert msg["type"] == "window", msg
                live_windows += 1
        # All the audio is sent but the session is still open: every complete window (one at most may wait for the
        # stop's flush) must come now. Waiting for them, rather than counting what a 1 ms poll happened to see, keeps
        # this independent of how fast the machine is; a server that answered only at stop times out here.
        complete = 1 + int((conv.duration - 1.0) // 0.5)
        while live_windows < complete - 1:
            msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
            assert msg["type"] == "window", msg
            live_windows += 1
        await ws.send(json.dumps({"type": "stop"}))
        rest = await _collect(ws)
        assert ws.close_code == 1000
    return rest, live_windows


@pytest.mark.parametrize(("rate", "encoding", "frame_ms"), [(16000, "pcm_s16le", 97.3), (48000, "pcm_f32le", 41.7)])
def test_conversation_is_diarized_live(server: dict[str, Any], rate: int, encoding: str, frame_ms: float) -> None:
    conv = conversation(rate, seed=7)
    rest, live = asyncio.run(_stream_conversation(server["ws"], rate, encoding, frame_ms))
    final = rest[-1]
    assert final["type"] == "final"
    windows = live + sum(1 for m in rest if m["type"] == "window")
    assert live >= windows // 2, "windows must be streamed while audio arrives, not only at stop"
    assert final["windows"] == windows == 1 + int(np.ceil((conv.duration - 1.0) / 0.5))
    assert final["duration"] == pytest.approx(conv.duration, abs=1e-3)
    assert final["rttm"].startswith("SPEAKER c1 1 ")
    hyp = [(s["start"], s["end"], s["speaker"]) for s in final["segments"]]
    score = der(conv.turns, hyp, conv.duration)
    print(f"\nWebSocket DER at {rate} Hz {encoding}, {frame_ms} ms frames: {score:.3f} ({len(hyp)} segments)")
    assert score < 0.25
    assert len({s[2] for s in hyp}) == 2


async def _exchange(url: str, *messages: bytes | str, recv_first: bool = False) -> tuple[list[dict[str, Any]], int]:
    async with websockets.connect(url, max_size=None) as ws:
        for message in messages:
            try:
                await ws.send(message)
            except ConnectionClosed:
                break
        msgs = await _collect(ws)
        return msgs, int(ws.close_code or 0)


F32 = np.zeros(4800, dtype="<f4").tobytes()
START = json.dumps({"type": "start", "sample_rate": 16000})


@pytest.mark.parametrize(
    ("name", "messages", "code", "close"),
    [
        ("nan", [START, F32, np.array([0.0, np.nan], dtype="<f4").tobytes()], "non_finite_audio", 1007),
        ("inf", [np.array([np.inf] * 8, dtype="<f4").tobytes()], "non_finite_audio", 1007),
        ("huge-sample", [np.array([0.5, 3.4e38], dtype="<f4").tobytes()], "audio_out_of_range", 1007),
        ("int-as-float", [np.array([1200.0, -900.0], dtype="<f4").tobytes()], "audio_out_of_range", 1007),
        ("text-not-json", [START, "hello"], "unsupported_data", 1003),
        ("json-unknown-type", [json.dumps({"type": "audio", "data": [0.1]})], "unsupported_data", 1003),
        ("json-array", ["[1, 2]"], "unsupported_data", 1003),
        ("bad-encoding", [json.dumps({"type": "start", "encoding": "mp3"})], "unsupported_encoding", 1003),
        ("bad-rate", [json.dumps({"type": "start", "sample_rate": 1000})], "invalid_message", 1007),
        ("bad-hop", [json.dumps({"type": "start", "hop_s": 5})], "invalid_message", 1007),
        ("extra-field", [json.dumps({"type": "start", "gain": 2})], "invalid_message", 1007),
        ("oversized", [START, b"\x00" * 262148], "frame_too_large", 1009),
        ("oversized-text", [" " * 70000], "frame_too_large", 1009),
        ("start-twice", [START, F32, START], "protocol_error", 1008),
    ],
)
def test_bad_input_gets_error_and_close_code(
    server: dict[str, Any], name: str, messages: list[bytes | str], code: str, close: int
) -> None:
    msgs, close_code = asyncio.run(_exchange(server["ws"], *messages))
    errors = [m for m in msgs if m["type"] == "error"]
    assert errors and errors[0]["code"] == code, msgs
    assert errors[0]["fatal"] and errors[0]["close_code"] == close and errors[0]["message"]
    assert close_code == close
    if any(m["type"] == "started" for m in msgs):
        assert msgs[-1]["type"] == "final", "a started session always ends with its final result"
    _healthy(server["base"])


def test_odd_trailing_bytes_and_empty_frames_are_reported_not_fatal(server: dict[str, Any]) -> None:
    msgs, close_code = asyncio.run(
        _exchange(server["ws"], START, b"", F32 + b"\x01", b"", json.dumps({"type": "stop"}))
    )
    kinds = [m["type"] for m in msgs]
    assert kinds[0] == "started" and kinds[-1] == "final" and close_code == 1000
    warning = next(m for m in msgs if m["type"] == "error")
    assert warning["code"] == "partial_sample" and not warning["fatal"] and warning["close_code"] is None
    assert msgs[-1]["duration"] == pytest.approx(0.3)


def test_binary_without_start_uses_defaults_and_stop_without_audio_is_empty(server: dict[str, Any]) -> None:
    msgs, close_code = asyncio.run(_exchange(server["ws"], np.zeros(48000, "<f4").tobytes(), '{"type": "stop"}'))
    assert [m["type"] for m in msgs] == ["started", "window", "final"] and close_code == 1000
    assert msgs[0]["sample_rate"] == 48000 and msgs[1]["speech"] is False and msgs[1]["speaker"] is None
    msgs, close_code = asyncio.run(_exchange(server["ws"], '{"type": "stop"}'))
    assert [m["type"] for m in msgs] == ["started", "final"] and msgs[-1]["segments"] == [] and close_code == 1000


def test_concurrent_session_limit(server: dict[str, Any]) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], int, list[str]]:
        held = [await websockets.connect(server["ws"]) for _ in range(3)]
        for ws in held:
            await ws.send(START)
            assert json.loads(await ws.recv())["type"] == "started"
        msgs, code = await _exchange(server["ws"], START)
        finals = []
        for ws in held:
            await ws.send('{"type": "stop"}')
            finals.append((await _collect(ws))[-1]["type"])
        return msgs, code, finals

    msgs, code, finals = asyncio.run(scenario())
    assert msgs[0]["code"] == "too_many_sessions" and code == 1013
    assert finals == ["final"] * 3
    # The slots are free again.
    msgs, code = asyncio.run(_exchange(server["ws"], '{"type": "stop"}'))
    assert code == 1000
    _healthy(server["base"])


def test_session_length_limit_ends_with_final(server: dict[str, Any], tmp_path: Path, band_model_path: Path) -> None:
    app = ws_app(tmp_path, band_model_path, max_session_seconds=2.0)
    with serve_in_thread(app) as base:
        url = base.replace("http", "ws") + "/ws/diarize"
        second = np.zeros(16000, "<f4").tobytes()
        msgs, code = asyncio.run(_exchange(url, START, second, second, second, '{"type": "stop"}'))
        _healthy(base)
    error = next(m for m in msgs if m["type"] == "error")
    assert error["code"] == "session_too_long" and code == 1008
    assert msgs[-1]["type"] == "final" and msgs[-1]["duration"] == pytest.approx(2.0)


def test_hot_reload_keeps_the_sessions_version(server: dict[str, Any], tmp_path: Path) -> None:
    watch = server["root"] / "watch" / "model.onnx"

    async def scenario() -> tuple[str, list[dict[str, Any]], str]:
        conv = conversation(16000, seed=11)
        data = _encode(conv.audio, "pcm_f32le")
        half = len(data) // 2 // 4 * 4
        async with websockets.connect(server["ws"]) as ws:
            await ws.send(START)
            started = json.loads(await ws.recv())
            for i in range(0, half, 8000):
                await ws.send(data[i : min(i + 8000, half)])
            # Atomic replacement in the watch dir (what hot_reload.sh does): a new file, hence a new version.
            staged = write_band_model(tmp_path / "staged.onnx", scale=1.5)
            staged.replace(watch)
            deadline = time.monotonic() + 30
            async with httpx.AsyncClient(base_url=server["base"]) as http:
                while True:
                    ready = (await http.get("/ready")).json()
                    if ready.get("version") not in (None, started["model_version"]):
                        break
                    assert time.monotonic() < deadline, f"reload not seen: {ready}"
                    await asyncio.sleep(0.1)
            for i in range(half, len(data), 8000):
                await ws.send(data[i : i + 8000])
            await ws.send('{"type": "stop"}')
            msgs = await _collect(ws)
        new_msgs, _ = await _exchange(server["ws"], '{"type": "stop"}')
        return started["model_version"], msgs, new_msgs[0]["model_version"]

    old, msgs, new = asyncio.run(scenario())
    assert old != new
    assert {m["model_version"] for m in msgs if m["type"] in ("window", "final")} == {old}
    assert msgs[-1]["type"] == "final"


def test_metrics_show_websocket_series(server: dict[str, Any]) -> None:
    """The module's server is shared: read every counter before and after, and check the exact increments."""
    series = [
        ("voiceflow_websocket_sessions_total", ('model="fast-cnn"',)),
        ("voiceflow_websocket_frames_total", ()),
        ("voiceflow_websocket_errors_total", ('code="non_finite_audio"',)),
        ("voiceflow_inference_requests_total", ('endpoint="websocket"',)),
        ("voiceflow_inference_latency_seconds_count", ('endpoint="websocket"',)),
        ("voiceflow_inference_failures_total", ('endpoint="websocket"',)),
    ]

    def read() -> dict[str, float]:
        lines = httpx.get(server["base"] + "/metrics", timeout=5).text.splitlines()

        def value(prefix: str, labels: tuple[str, ...]) -> float:
            found = [ln for ln in lines if ln.startswith(prefix + "{") and all(lab in ln for lab in labels)]
            return sum(float(ln.rsplit(" ", 1)[1]) for ln in found)

        values = {name: value(name, labels) for name, labels in series}
        values["active"] = value("voiceflow_websocket_sessions_active", ())
        return values

    before = read()
    # 2 s at 48 kHz (no resampling) in two 1 s frames (hop 0.5 s): the first frame completes window 0-1 (one model
    # run), the second windows 0.5-1.5 and 1-2 (one batched run); stop adds no tail window. The NaN frame of the
    # second session is refused before any model run.
    speech = _encode(conversation(48000, seed=2).audio[:96000], "pcm_f32le")
    start48 = json.dumps({"type": "start", "sample_rate": 48000, "hop_s": 0.5})
    half = len(speech) // 2
    msgs, code = asyncio.run(_exchange(server["ws"], start48, speech[:half], speech[half:], '{"type": "stop"}'))
    assert code == 1000 and msgs[-1]["type"] == "final"
    windows = [(m["start"], m["end"], m["probabilities"] is not None) for m in msgs if m["type"] == "window"]
    assert windows == [(0.0, 1.0, True), (0.5, 1.5, True), (1.0, 2.0, True)], msgs
    runs = 2
    nan_msgs, nan_code = asyncio.run(_exchange(server["ws"], START, np.array([np.nan], dtype="<f4").tobytes()))
    assert nan_code == 1007 and [m["code"] for m in nan_msgs if m["type"] == "error"] == ["non_finite_audio"]
    after = read()
    delta = {name: after[name] - before[name] for name in after}
    assert delta == {
        "voiceflow_websocket_sessions_total": 2,
        "voiceflow_websocket_frames_total": 3,
        "voiceflow_websocket_errors_total": 1,
        "voiceflow_inference_requests_total": runs,
        "voiceflow_inference_latency_seconds_count": runs,
        "voiceflow_inference_failures_total": 0,
        "active": 0,
    }, delta
    assert after["active"] == 0


def test_idle_session_is_closed(tmp_path: Path, band_model_path: Path) -> None:
    async def scenario(url: str) -> tuple[list[dict[str, Any]], int]:
        async with websockets.connect(url) as ws:
            await ws.send(START)
            await ws.send(F32)
            return await _collect(ws), int(ws.close_code or 0)

    with serve_in_thread(ws_app(tmp_path, band_model_path, ws_idle_timeout_s=0.5)) as base:
        msgs, code = asyncio.run(scenario(base.replace("http", "ws") + "/ws/diarize"))
    assert [m["type"] for m in msgs] == ["started", "error", "window", "final"]  # the tail window is flushed
    assert msgs[1]["code"] == "idle_timeout" and code == 1008
    assert msgs[-1]["duration"] == pytest.approx(0.3)


def test_ab_split_assigns_sessions_sticky(registry_two_versions: dict[str, Any], serve: Any, tmp_path: Path) -> None:
    """With a 50/50 split a session id always gets the same version, and every message of a session names it."""
    live = serve(registry_two_versions["url"], tmp_path, ab_weights={"1.0.0": 0.5, "1.1.0": 0.5})
    url = live.url.replace("http", "ws") + "/ws/diarize"
    speech = _encode(conversation(16000, seed=8).audio[:24000], "pcm_f32le")

    def session(session_id: str) -> set[str]:
        start = json.dumps({"type": "start", "sample_rate": 16000, "session_id": session_id})
        msgs, code = asyncio.run(_exchange(url, start, speech, '{"type": "stop"}'))
        assert code == 1000 and msgs[-1]["type"] == "final"
        widths = {len(m["probabilities"]) for m in msgs if m["type"] == "window" and m["probabilities"]}
        versions = {m["model_version"] for m in msgs if "model_version" in m}
        assert len(versions) == 1 and widths == {2 if versions == {"1.0.0"} else 3}
        return versions

    first = [session(f"user-{i}") for i in range(10)]
    assert [session(f"user-{i}") for i in range(10)] == first  # sticky
    assert set().union(*first) == {"1.0.0", "1.1.0"}


def test_session_outlives_the_eviction_of_its_version(publisher: Any, serve: Any, tmp_path: Path) -> None:
    """keep_versions=1 and two reloads during one live session: the server drops the session's version from its
    loaded set at the first reload, yet the session keeps streaming on its pinned 1.0.0 and ends cleanly."""
    from voiceflow_contract.registry import ModelRegistry

    registry = ModelRegistry((tmp_path / "registry").as_uri())
    for version, seed, speakers in (("1.0.0", 1, 2), ("1.1.0", 2, 3), ("1.2.0", 3, 4)):
        publisher(registry, tmp_path, "fast-cnn", version, seed=seed, num_speakers=speakers)
    live = serve(registry.url, tmp_path / "serve", model_ref="1.0.0", keep_versions=1)
    url = live.url.replace("http", "ws") + "/ws/diarize"
    auth = {"Authorization": "Bearer test-admin-token-123"}
    conv = conversation(16000, seed=5)
    chunks = [_encode(conv.audio[i : i + 32000], "pcm_f32le") for i in range(0, 96000, 32000)]  # 3 x 2 s

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], int, list[list[str]]]:
        loaded_after: list[list[str]] = []
        async with websockets.connect(url) as ws, httpx.AsyncClient(base_url=live.url, timeout=60) as http:
            await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "session_id": "evicted"}))
            started = json.loads(await ws.recv())
            await ws.send(chunks[0])
            for version, chunk in (("1.1.0", chunks[1]), ("1.2.0", chunks[2])):
                resp = await http.post("/admin/reload", json={"version": version}, headers=auth)
                assert resp.status_code == 200 and resp.json()["version"] == version, resp.text
                models = (await http.get("/admin/models", headers=auth)).json()
                loaded_after.append([m["version"] for m in models["loaded"]])
                await ws.send(chunk)
            await ws.send('{"type": "stop"}')
            msgs = await _collect(ws)
            return started, msgs, int(ws.close_code or 0), loaded_after

    started, msgs, code, loaded_after = asyncio.run(scenario())
    assert started["model_version"] == "1.0.0"
    assert loaded_after == [["1.1.0"], ["1.2.0"]]  # 1.0.0 really was evicted while the session ran
    assert code == 1000 and msgs[-1]["type"] == "final" and not [m for m in msgs if m["type"] == "error"]
    windows = [m for m in msgs if m["type"] == "window"]
    assert msgs[-1]["windows"] == len(windows) == 1 + int(np.ceil((6.0 - 1.0) / 0.5))
    assert msgs[-1]["duration"] == pytest.approx(6.0)
    assert {m["model_version"] for m in msgs if "model_version" in m} == {"1.0.0"}
    # Every window was scored by 1.0.0's two-speaker model, not by the 3- or 4-speaker versions that replaced it.
    assert {len(m["probabilities"]) for m in windows if m["probabilities"] is not None} == {2}
    new_msgs, new_code = asyncio.run(_exchange(url, START, chunks[0], '{"type": "stop"}'))
    assert new_code == 1000 and new_msgs[0]["model_version"] == "1.2.0"
