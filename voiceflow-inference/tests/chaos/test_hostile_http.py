"""Hostile HTTP input against the live server (uvicorn on 127.0.0.1, real model): schemathesis over the OpenAPI schema
(every endpoint, admin with its token; no 5xx), JSON bombs and huge bodies on /infer, OIP and admin (4xx fast, and
another client is served meanwhile), odd names and header values everywhere the server accepts them.

The WebSocket fuzzer lives in tests/streaming/test_ws_fuzz.py; traversal names on OIP paths and admin bodies in
tests/integration/test_serving_endpoints.py::test_odd_model_names_and_versions_get_json_4xx.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

TOKEN = "test-admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOMB_BOUND_S = 10.0  # a hostile request must be answered within this
PROBE_BOUND_S = 5.0  # and another client's request must never wait longer than this meanwhile
pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def server(registry_two_versions: dict[str, Any], serve: Callable[..., Any], tmp_path: Path) -> Any:
    """A fresh server per test (schemathesis moves pins and A/B weights around)."""
    return serve(registry_two_versions["url"], tmp_path)


# ------------------------------------------------------------------------------------------------ schemathesis
def schemathesis_cli() -> list[str]:
    exe = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    return [exe]


def run_schemathesis(url: str, max_examples: int, timeout: float, tmp_path: Path) -> tuple[int, str, int, int]:
    """Run the schemathesis CLI against ``url``'s OpenAPI schema with the admin token (check: not_a_server_error).

    Returns (exit code, output, test cases generated, operations tested)."""
    cmd = [
        *schemathesis_cli(),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(max_examples),
        "--seed",
        "20261126",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--request-timeout",
        "20",
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    cases = re.search(r"(\d+) generated, (\d+) passed", out)
    tested = re.search(r"Tested: (\d+)", out)
    return proc.returncode, out, int(cases.group(1)) if cases else 0, int(tested.group(1)) if tested else 0


def operations(url: str) -> int:
    spec = httpx.get(f"{url}/openapi.json").json()
    return sum(1 for item in spec["paths"].values() for method in item if method in ("get", "post", "put", "delete"))


def test_schemathesis_finds_no_server_error(server: Any, tmp_path: Path) -> None:
    """Every documented operation (admin included, with the token) under schemathesis' generated input: no 5xx."""
    rc, out, cases, tested = run_schemathesis(server.url, max_examples=8, timeout=150, tmp_path=tmp_path)
    assert rc == 0, out[-4000:]
    assert tested == operations(server.url) >= 17, out[-2000:]  # every operation reached, none skipped
    assert cases >= 300, out[-2000:]
    with server.client() as client:
        assert client.get("/health").status_code == 200


@pytest.mark.slow
def test_schemathesis_long_run(server: Any, tmp_path: Path) -> None:
    rc, out, cases, tested = run_schemathesis(server.url, max_examples=150, timeout=900, tmp_path=tmp_path)
    assert rc == 0, out[-4000:]
    assert tested == operations(server.url) and cases >= 2000, out[-2000:]


# ------------------------------------------------------------------------------------------------ bombs
class Prober:
    """Another, well-behaved client: /health and a small /infer every 50 ms; records each start, latency and status.

    Speed-independent by construction: entering waits until the first probe is on the wire, and leaving waits for
    the probe in flight, so at least one probe overlaps the attack however fast the machine ends it; what is then
    asserted is that every probe was answered 200 within the bound, not how many fitted into the attack."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.first_sent = threading.Event()
        self.samples: list[tuple[float, float, int]] = []  # (start, latency, status)
        self.errors: list[str] = []
        self.attack_end = float("inf")
        self.payload = {"audio": (np.zeros((1, 48000), dtype=np.float32)).tolist()}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                start = time.monotonic()
                self.first_sent.set()
                try:
                    r = client.get("/health") if n % 2 else client.post("/infer", json=self.payload)
                    self.samples.append((start, time.monotonic() - start, r.status_code))
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self.stop.wait(0.05)

    def __enter__(self) -> Prober:
        self.thread.start()
        assert self.first_sent.wait(timeout=30), "the prober never started"
        return self

    def __exit__(self, *exc: object) -> None:
        self.attack_end = time.monotonic()
        self.stop.set()
        self.thread.join(timeout=60)  # the probe in flight finishes: it is answered or recorded as an error

    def assert_served(self) -> None:
        assert not self.thread.is_alive(), "a probe never came back"
        assert self.errors == []
        during = [s for s in self.samples if s[0] <= self.attack_end]
        assert during, "no probe overlapped the attack"
        assert {status for _, _, status in during} == {200}
        worst = max(latency for _, latency, _ in during)
        assert worst < PROBE_BOUND_S, f"another client waited {worst:.1f} s during the attack"


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def bombs(limit: int) -> dict[str, bytes]:
    """Hostile JSON bodies, each under the body limit (``limit`` bytes) so that the parser, not the size check, meets
    them."""
    room = limit - 1024
    zeros = b"0," * (room // 2 - 16)
    return {
        "deep_array": deep(room // 2),
        "deep_object": b'{"a":' * (room // 6) + b"0" + b"}" * (room // 6),
        "deep_inside_audio": b'{"audio":' + deep(200_000) + b"}",
        "one_huge_window": b'{"audio":[[' + zeros + b"0]]}",
        "millions_of_windows": b'{"audio":[' + b"[]," * (room // 3 - 8) + b"[]]}",
        "many_tiny_windows": b'{"audio":[' + b"[0]," * (room // 4 - 8) + b"[0]]}",
        "huge_numbers": b'{"audio":[[' + b"1e999999," * 1000 + b"1]]}",
        "huge_string": b'{"audio":"' + b"A" * (room - 16) + b'"}',
        "many_keys": b"{" + b",".join(b'"k%d":0' % i for i in range(room // 16)) + b"}",
        "nan_literals": b'{"audio":[[' + b"NaN," * 47999 + b"NaN]]}",
        "invalid_utf8": b'{"audio":"\xff\xfe\xfd"}',
    }


TARGETS = [
    ("POST", "/infer", {}),
    ("POST", "/v2/models/fast-cnn/infer", {}),
    ("POST", "/admin/reload", AUTH),
    ("POST", "/admin/ab", AUTH),
]


def test_json_bombs_get_4xx_fast_and_others_are_served(server: Any) -> None:
    limit = 32 * 1024 * 1024
    cases = bombs(limit)
    results: list[tuple[str, str, int, float]] = []
    with Prober(server.url) as prober, httpx.Client(base_url=server.url, timeout=60) as client:
        for method, path, headers in TARGETS:
            for name, body in cases.items():
                if path != "/infer" and name in ("deep_object", "many_keys", "deep_array"):
                    continue  # the biggest parser-bound bodies: once on /infer is enough to bound the run time
                start = time.monotonic()
                resp = client.request(method, path, content=body, headers=headers)
                results.append((path, name, resp.status_code, time.monotonic() - start))
                assert 400 <= resp.status_code < 500, (path, name, resp.status_code, resp.text[:300])
                assert "error" in resp.json(), (path, name)
    prober.assert_served()
    slow = [r for r in results if r[3] > BOMB_BOUND_S]
    assert not slow, slow
    with server.client() as c:
        assert c.get("/ready").json()["version"] == "1.1.0"  # no bomb changed what is served


def test_bodies_over_the_limit_are_refused_before_parsing(server: Any) -> None:
    limit = 32 * 1024 * 1024
    with Prober(server.url) as prober, httpx.Client(base_url=server.url, timeout=60) as client:
        for path in ("/infer", "/v2/models/fast-cnn/infer", "/admin/reload"):
            start = time.monotonic()
            declared = client.post(path, content=b"0" * (limit + 1), headers=AUTH)
            assert declared.status_code == 413 and declared.json()["code"] == "body_too_large"

            def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
                for _ in range(limit // (1 << 20) + 2):
                    yield b" " * (1 << 20)

            streamed = client.post(path, content=chunks(), headers=AUTH)
            assert streamed.status_code == 413, streamed.text[:200]
            assert time.monotonic() - start < 2 * BOMB_BOUND_S
    prober.assert_served()


def test_slow_loris_body_does_not_block_others(server: Any) -> None:
    """A client that sends a body one byte at a time holds only its own connection."""
    host, port = "127.0.0.1", server.port
    with Prober(server.url) as prober, socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        for _ in range(20):
            sock.sendall(b"[")
            time.sleep(0.05)
    prober.assert_served()


# ------------------------------------------------------------------------------------------------ odd names
ODD = [
    "../../etc/passwd",
    "..\\..\\windows",
    "fast-cnn/../../x",
    "\u202efast-cnn",
    "fast-cnn\u0000",
    "f\u0430st-cnn",  # Cyrillic a
    "\U0001f4a9",
    "A" * 300,
    "%2e%2e%2f",
    "1.0.0/../../2.0.0",
    "1.0.0\n",
    "v1.0.0.0",
    "-1.0.0",
    "99999999999.0.0",
]


@pytest.mark.parametrize("value", ODD, ids=ascii)
def test_odd_versions_and_aliases_in_admin_bodies(server: Any, value: str) -> None:
    with server.client() as client:
        for path, body in (
            ("/admin/reload", {"version": value}),
            ("/admin/rollback", {"version": value}),
            ("/admin/pin", {"version": value}),
            ("/admin/ab", {"weights": {value: 0.5, "1.0.0": 0.5}}),
        ):
            resp = client.post(path, json=body, headers=AUTH)
            assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.text[:200])
            assert "error" in resp.json()
        assert client.get("/ready").json()["version"] == "1.1.0"


def test_odd_header_values_are_harmless(server: Any, audio: Callable[..., np.ndarray]) -> None:
    payload = {"audio": audio(1).tolist()}
    with server.client() as client:
        for rid in (b"x" * 8000, "\u202e\U0001f4a9".encode(), b"../../etc", b"a\tb", b"", b"\xff\xfe"):
            resp = client.post("/infer", json=payload, headers={"X-Request-ID": rid})
            assert resp.status_code in (200, 400, 431), resp.status_code
        bad_tokens = [b"Bearer " + b"A" * 8000, "Bearer \u00e9\u00e8".encode(), b"Bearer", b"bearer x", b"Basic Og=="]
        for auth in [*bad_tokens, ("Bearer " + TOKEN[:-1]).encode(), ("Bearer " + TOKEN + "\u00e9").encode()]:
            resp = client.get("/admin/models", headers={"Authorization": auth})
            assert resp.status_code in (401, 403), (auth[:20], resp.status_code)
        assert client.get("/admin/models", headers=AUTH).status_code == 200


@pytest.mark.parametrize("value", ["../../etc/passwd", "fast-cnn/../x", "\u202efast-cnn", "FAST-CNN", "a" * 100])
def test_registry_cli_refuses_odd_names(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """voiceflow-registry show / pull / promote / rollback refuse traversal and odd unicode before any I/O."""
    from voiceflow_contract.registry.cli import main as registry_cli

    root = tmp_path / "reg"
    for args in (
        ["show", value],
        ["pull", value, "--cache", str(tmp_path / "cache")],
        ["promote", value, "1.0.0"],
        ["promote", "fast-cnn", value],
        ["rollback", value],
    ):
        try:
            code = registry_cli(["--registry", str(root), *args])
        except SystemExit as exc:  # argparse refusals exit too
            code = exc.code
        err = capsys.readouterr().err
        assert code not in (0, None), args
        assert err.strip() and "Traceback" not in err, (args, err)
    assert not root.exists() and not (tmp_path / "cache").exists()  # refused before touching anything


def test_settings_refuse_odd_model_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceflow_inference.config import ConfigError, load_settings

    for value in ("../x", "\u202efast-cnn", "Fast-CNN", "a/b"):
        with pytest.raises(ConfigError, match="model_name"):
            load_settings("development", model_name=value)
    for value in ("../1.0.0", "1.0.0/..", "\u00e9"):
        with pytest.raises(ConfigError, match="model_ref"):
            load_settings("development", model_ref=value)
    monkeypatch.setenv("VOICEFLOW_WATCH_FILENAME", "../../etc/passwd.onnx")
    with pytest.raises(ConfigError, match="watch_filename"):
        load_settings("development")
