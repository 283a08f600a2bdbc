"""Locust load test for the VoiceFlow inference service: REST /infer, OIP v2 (JSON and binary tensors) and /ws/diarize.

Run headless and bounded against a running server (what `make load` does through run_load.py):

    locust -f voiceflow-inference/tests/load/locustfile.py --headless -u 10 -r 5 -t 30s \
        --host http://127.0.0.1:8000 --csv /tmp/voiceflow-load

Pick user classes by name to load one path only, e.g. `... RestUser` or `... WebSocketUser`.
Custom options (also settable as environment variables): --model-name (VOICEFLOW_LOAD_MODEL, default ge2e),
--windows-per-request (VOICEFLOW_LOAD_WINDOWS, default 1), --ws-seconds (VOICEFLOW_LOAD_WS_SECONDS, default 2.0),
--ws-frame-ms (VOICEFLOW_LOAD_WS_FRAME_MS, default 100).
"""

from __future__ import annotations

import json
import os
import time
from functools import cache
from typing import Any

import numpy as np
from locust import HttpUser, User, between, events, task
from locust.env import Environment
from websockets.sync.client import connect

SAMPLE_RATE = 48_000  # the contract's input rate: one window is 48000 float32 samples (1 s)
WINDOW_SAMPLES = 48_000


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--model-name", default=os.environ.get("VOICEFLOW_LOAD_MODEL", "ge2e"), help="Model name for OIP"
    )
    parser.add_argument(
        "--windows-per-request",
        type=int,
        default=int(os.environ.get("VOICEFLOW_LOAD_WINDOWS", "1")),
        help="1 s windows per /infer and OIP request",
    )
    parser.add_argument(
        "--ws-seconds",
        type=float,
        default=float(os.environ.get("VOICEFLOW_LOAD_WS_SECONDS", "2.0")),
        help="Seconds of audio streamed per WebSocket session",
    )
    parser.add_argument(
        "--ws-frame-ms",
        type=int,
        default=int(os.environ.get("VOICEFLOW_LOAD_WS_FRAME_MS", "100")),
        help="Milliseconds of audio per WebSocket binary frame",
    )


def _speech_like(seconds: float, seed: int = 7) -> np.ndarray:
    """Voiced-sounding test audio (harmonics with a syllable-rate envelope), loud enough to pass the VAD."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE
    f0 = 140.0 + 20.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2
    audio = 0.3 * voiced * envelope + 0.01 * rng.standard_normal(t.size)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


@cache
def _windows(count: int) -> np.ndarray:
    return _speech_like(float(count)).reshape(count, WINDOW_SAMPLES)


@cache
def rest_body(count: int) -> bytes:
    """JSON body of POST /infer: `{"audio": [[48000 floats], ...]}` (rounded: a 1 s window is ~0.4 MB of JSON)."""
    return json.dumps({"audio": np.round(_windows(count), 5).tolist()}, separators=(",", ":")).encode()


@cache
def oip_json_body(count: int) -> bytes:
    """OIP v2 infer request with the tensor inline as JSON `data`."""
    request = {
        "inputs": [
            {
                "name": "audio",
                "shape": [count, WINDOW_SAMPLES],
                "datatype": "FP32",
                "data": np.round(_windows(count), 5).ravel().tolist(),
            }
        ]
    }
    return json.dumps(request, separators=(",", ":")).encode()


@cache
def oip_binary_body(count: int) -> tuple[bytes, int]:
    """OIP v2 binary tensor extension: JSON header then the raw little-endian float32 bytes, as tritonclient sends."""
    raw = _windows(count).astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "audio",
                    "shape": [count, WINDOW_SAMPLES],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": "speaker_embeddings", "parameters": {"binary_data": False}}],
        },
        separators=(",", ":"),
    ).encode()
    return header + raw, len(header)


def _options(environment: Environment) -> Any:
    return environment.parsed_options


class RestUser(HttpUser):
    """POST /infer with JSON audio (the seed's smoke-test call)."""

    weight = 3
    wait_time = between(0.05, 0.2)

    @task
    def infer(self) -> None:
        count = _options(self.environment).windows_per_request
        with self.client.post(
            "/infer",
            data=rest_body(count),
            headers={"Content-Type": "application/json"},
            name="/infer",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            payload = response.json()
            if "version" not in json.dumps(payload):
                response.failure("response does not name the model version")


class OipUser(HttpUser):
    """Open Inference Protocol v2 infer, JSON tensor data and the binary tensor extension."""

    weight = 2
    wait_time = between(0.05, 0.2)

    def _path(self) -> str:
        return f"/v2/models/{_options(self.environment).model_name}/infer"

    @task
    def infer_json(self) -> None:
        count = _options(self.environment).windows_per_request
        with self.client.post(
            self._path(),
            data=oip_json_body(count),
            headers={"Content-Type": "application/json"},
            name="/v2/models/[model]/infer (json)",
            catch_response=True,
        ) as response:
            _check_oip(response)

    @task
    def infer_binary(self) -> None:
        count = _options(self.environment).windows_per_request
        body, header_length = oip_binary_body(count)
        with self.client.post(
            self._path(),
            data=body,
            headers={"Inference-Header-Content-Length": str(header_length), "Content-Type": "application/octet-stream"},
            name="/v2/models/[model]/infer (binary)",
            catch_response=True,
        ) as response:
            _check_oip(response)


def _check_oip(response: Any) -> None:
    if response.status_code != 200:
        response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
        return
    header_length = response.headers.get("Inference-Header-Content-Length")
    text = response.content[: int(header_length)] if header_length else response.content
    outputs = json.loads(text).get("outputs")
    if not outputs:
        response.failure("OIP response has no outputs")


class WebSocketUser(User):
    """One /ws/diarize session per task: start, binary float32 frames, stop, wait for `final`.

    Reported as request type WS: `/ws/diarize session` (whole session), `/ws/diarize first window` (time from the
    first frame to the first `window` message).
    """

    weight = 1
    wait_time = between(0.1, 0.5)

    def _ws_url(self) -> str:
        host = (self.host or "").rstrip("/")
        if host.startswith("https://"):
            return "wss://" + host.removeprefix("https://") + "/ws/diarize"
        return "ws://" + host.removeprefix("http://") + "/ws/diarize"

    def _fire(self, name: str, started: float, length: int, exception: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=length,
            exception=exception,
            context={},
        )

    @task
    def diarize_session(self) -> None:
        options = _options(self.environment)
        audio = _speech_like(options.ws_seconds, seed=11)
        frame = max(1, int(SAMPLE_RATE * options.ws_frame_ms / 1000))
        started = time.perf_counter()
        received = 0
        first_window_seen = False
        try:
            with connect(self._ws_url(), open_timeout=10, close_timeout=5, max_size=2**22) as ws:
                ws.send(json.dumps({"type": "start", "sample_rate": SAMPLE_RATE, "encoding": "pcm_f32le"}))
                reply = json.loads(ws.recv(timeout=10))
                if reply.get("type") != "started":
                    raise RuntimeError(f"expected 'started', got {reply}")
                first_frame_at = time.perf_counter()
                for offset in range(0, audio.size, frame):
                    ws.send(audio[offset : offset + frame].tobytes())
                ws.send(json.dumps({"type": "stop"}))
                while True:
                    message = ws.recv(timeout=30)
                    received += len(message)
                    data = json.loads(message)
                    kind = data.get("type")
                    if kind == "window" and not first_window_seen:
                        first_window_seen = True
                        self._fire("/ws/diarize first window", first_frame_at, len(message), None)
                    elif kind == "error":
                        raise RuntimeError(f"server error {data.get('code')}: {data.get('message')}")
                    elif kind == "final":
                        break
        except Exception as exc:  # every failure is reported to locust, never raised into the runner
            self._fire("/ws/diarize session", started, received, exc)
            return
        self._fire("/ws/diarize session", started, received, None)
