"""REST, OIP v2 (tritonclient), metrics, admin auth and input limits against uvicorn on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from voiceflow_contract.runtime import create_session
from voiceflow_inference.app import create_app

TOKEN = "test-admin-token-123"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def server(registry_two_versions: dict[str, Any], live_server_factory, work: Path, settings_maker) -> Iterator[Any]:
    """latest -> 1.1.0 (3 speakers); max_batch 4, 4 MiB bodies."""
    limits = {"max_batch": 4, "max_body_bytes": 4 * 1024 * 1024}
    settings = settings_maker(registry_two_versions["url"], work, limits=limits)
    srv = live_server_factory(create_app(settings))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def reference(registry_two_versions: dict[str, Any], server, work: Path) -> Any:
    """An ONNX Runtime session of its own on the file the server pulled from the registry into its cache.

    The file is the one in the cache whose bytes have the sha256 the registry published for 1.1.0: the oracle is the
    pulled bytes run by a separate session, not anything the server computes.
    """
    digest = registry_two_versions["registry"].show("fast-cnn", "1.1.0").sha256
    files = [p for p in (work / "cache").rglob("*.onnx") if hashlib.sha256(p.read_bytes()).hexdigest() == digest]
    assert files, f"no file in the cache has the served sha256 {digest}"
    return create_session(files[0])


def reference_outputs(session: Any, batch: np.ndarray) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: batch}), strict=True))


@pytest.fixture(scope="module")
def tc(server) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server.url.removeprefix("http://"))


def test_health_and_ready(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.post("/health").status_code == 200
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] and body["model"] == "fast-cnn" and body["version"] == "1.1.0"
    assert body["source"] == "registry" and body["degraded"] is False and body["reasons"] == []
    assert [m["version"] for m in body["loaded"]] == ["1.1.0"] and body["loaded"][0]["role"] == "active"


def test_infer_returns_probabilities_and_version(client: httpx.Client, audio) -> None:
    batch = audio(2)
    resp = client.post(
        "/infer",
        json={"audio": batch.tolist(), "sample_rate": 48000, "return_embeddings": True},
        headers={"X-Request-ID": "abc-123"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == "fast-cnn" and body["version"] == "1.1.0" and body["num_speakers"] == 3
    probs = np.array(body["probabilities"])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert body["speakers"] == probs.argmax(axis=1).tolist()
    assert np.array(body["embeddings"]).shape == (2, 8)
    assert resp.headers["x-request-id"] == "abc-123" and resp.headers["x-model-version"] == "1.1.0"
    plain = client.post("/infer", json={"audio": batch[:1].tolist()}).json()
    assert plain["embeddings"] is None and np.allclose(plain["probabilities"][0], probs[0], atol=1e-5)


def _bad_requests(audio) -> list[tuple[str, dict[str, Any], int, str]]:
    one = audio(1)[0].tolist()
    return [
        ("short window", {"json": {"audio": [[0.0] * 100]}}, 400, "audio[0]"),
        ("sample rate", {"json": {"audio": [one], "sample_rate": 16000}}, 400, "sample_rate"),
        ("NaN literal", {"content": b'{"audio": [[NaN]]}'}, 400, "JSON"),
        ("NaN string", {"json": {"audio": [["NaN", *one[1:]]]}}, 422, "audio"),
        ("float32 overflow", {"json": {"audio": [[1e39, *one[1:]]]}}, 400, "NaN or Inf"),
        ("batch over limit", {"json": {"audio": [[0.0]] * 5}}, 413, "max_batch"),
        ("JSON bomb", {"content": b"[" * 200_000}, 400, "JSON"),
        ("not an object", {"json": [1, 2, 3]}, 422, "object"),
        ("missing audio", {"json": {"sample_rate": 48000}}, 422, "audio"),
        ("unknown field", {"json": {"audio": [one], "extra": 1}}, 422, "extra"),
        ("huge declared body", {"content": b"0" * (5 * 1024 * 1024)}, 413, "exceeds"),
    ]


def test_bad_input_gets_clear_4xx_json_and_server_stays_healthy(client: httpx.Client, audio, metric) -> None:
    def counts() -> tuple[float, float]:
        text = client.get("/metrics").text
        return (
            metric(text, "voiceflow_inference_failures_total", endpoint="rest", reason="invalid_input"),
            metric(text, "voiceflow_inference_requests_total", endpoint="rest"),
        )

    invalid_before, served_before = counts()
    for name, kwargs, status, fragment in _bad_requests(audio):
        resp = client.post("/infer", **kwargs)
        assert resp.status_code == status, (name, resp.status_code, resp.text[:300])
        body = resp.json()
        assert set(body) == {"error", "code"}, name
        assert fragment in body["error"], (name, body)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(6):
            yield b"1" * (1024 * 1024)

    streamed = client.post("/infer", content=chunks())
    assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"
    assert client.post("/infer", json={"audio": audio(1).tolist()}).status_code == 200
    invalid_after, served_after = counts()
    # Only "float32 overflow" reaches the engine (the rest are refused while parsing); one good request is served.
    assert (invalid_after - invalid_before, served_after - served_before) == (1, 1)


def test_tritonclient_health_and_metadata(tc: triton.InferenceServerClient) -> None:
    assert tc.is_server_live() and tc.is_server_ready()
    assert tc.is_model_ready("fast-cnn") and tc.is_model_ready("fast-cnn", "1.1.0")
    assert not tc.is_model_ready("other-model") and not tc.is_model_ready("fast-cnn", "9.9.9")
    meta = tc.get_model_metadata("fast-cnn")
    assert meta["name"] == "fast-cnn" and meta["versions"] == ["1.1.0"]
    assert meta["inputs"] == [{"name": "audio", "datatype": "FP32", "shape": [-1, 48000]}]
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {"speaker_embeddings": [-1, 3], "embedding": [-1, 8]}
    assert tc.get_model_metadata("fast-cnn", "1.1.0")["name"] == "fast-cnn"
    assert "binary_tensor_data" in tc.get_server_metadata()["extensions"]
    with pytest.raises(InferenceServerException, match="not served"):
        tc.get_model_metadata("other-model")


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infer_matches_rest(tc, client: httpx.Client, audio, binary: bool) -> None:
    batch = audio(3, seed=7)
    tensor = triton.InferInput("audio", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput("speaker_embeddings", binary_data=binary),
        triton.InferRequestedOutput("embedding", binary_data=binary),
    ]
    result = tc.infer("fast-cnn", [tensor], outputs=outputs, request_id="r1")
    probs = result.as_numpy("speaker_embeddings")
    assert probs.shape == (3, 3) and result.as_numpy("embedding").shape == (3, 8)
    response = result.get_response()
    assert response["model_version"] == "1.1.0" and response["id"] == "r1"
    rest = client.post("/infer", json={"audio": batch.tolist()}).json()
    assert np.allclose(probs, np.array(rest["probabilities"]), atol=1e-5)
    # No outputs requested: everything comes back (binary by default from tritonclient).
    everything = tc.infer("fast-cnn", [tensor], model_version="1.1.0")
    assert np.allclose(everything.as_numpy("speaker_embeddings"), probs, atol=1e-6)


def test_served_answers_match_a_separate_onnx_runtime_run_of_the_pulled_file(
    client: httpx.Client, tc, reference, audio, oip_body
) -> None:
    """/infer, OIP JSON and OIP binary each give what ONNX Runtime gives on the pulled file (not just each other)."""
    batch = audio(3, seed=11)
    expected = reference_outputs(reference, batch)
    probs, emb = expected["speaker_embeddings"], expected["embedding"]
    assert probs.shape == (3, 3) and emb.shape == (3, 8)

    rest = client.post("/infer", json={"audio": batch.tolist(), "return_embeddings": True}).json()
    assert np.allclose(rest["probabilities"], probs, rtol=1e-6, atol=1e-7)
    assert np.allclose(rest["embeddings"], emb, rtol=1e-6, atol=1e-7)
    assert rest["speakers"] == probs.argmax(axis=1).tolist()

    request = {"inputs": [{"name": "audio", "shape": [3, 48000], "datatype": "FP32", "data": batch.ravel().tolist()}]}
    oip_json = client.post("/v2/models/fast-cnn/infer", json=request)
    assert oip_json.status_code == 200 and oip_json.headers["content-type"].startswith("application/json")
    by_name = {o["name"]: o for o in oip_json.json()["outputs"]}
    assert by_name["speaker_embeddings"]["shape"] == [3, 3] and by_name["embedding"]["shape"] == [3, 8]
    assert np.allclose(np.reshape(by_name["speaker_embeddings"]["data"], (3, 3)), probs, rtol=1e-6, atol=1e-7)
    assert np.allclose(np.reshape(by_name["embedding"]["data"], (3, 8)), emb, rtol=1e-6, atol=1e-7)

    for binary in (True, False):  # tritonclient, binary and JSON tensors
        tensor = triton.InferInput("audio", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch, binary_data=binary)
        names = ("speaker_embeddings", "embedding")
        outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in names]
        result = tc.infer("fast-cnn", [tensor], outputs=outputs)
        assert np.allclose(result.as_numpy("speaker_embeddings"), probs, rtol=1e-6, atol=1e-7), binary
        assert np.allclose(result.as_numpy("embedding"), emb, rtol=1e-6, atol=1e-7), binary

    body, headers = oip_body(batch)  # the raw binary extension, decoded by hand
    raw = client.post("/v2/models/fast-cnn/infer", content=body, headers=headers)
    head_len = int(raw.headers["inference-header-content-length"])
    head = json.loads(raw.content[:head_len])
    offset, got = head_len, {}
    for out in head["outputs"]:
        size = out["parameters"]["binary_data_size"]
        got[out["name"]] = np.frombuffer(raw.content[offset : offset + size], dtype="<f4").reshape(out["shape"])
        offset += size
    assert offset == len(raw.content)
    assert np.allclose(got["speaker_embeddings"], probs, rtol=1e-6, atol=1e-7)
    assert np.allclose(got["embedding"], emb, rtol=1e-6, atol=1e-7)


def test_tritonclient_errors_are_readable(tc, audio) -> None:
    batch = audio(1)
    good = triton.InferInput("audio", [1, 48000], "FP32")
    good.set_data_from_numpy(batch)
    with pytest.raises(InferenceServerException, match="not served"):
        tc.infer("other-model", [good])
    with pytest.raises(InferenceServerException, match="not loaded"):
        tc.infer("fast-cnn", [good], model_version="2.0.0")
    wrong_name = triton.InferInput("wave", [1, 48000], "FP32")
    wrong_name.set_data_from_numpy(batch)
    with pytest.raises(InferenceServerException, match="named 'audio'"):
        tc.infer("fast-cnn", [wrong_name])
    short = triton.InferInput("audio", [1, 100], "FP32")
    short.set_data_from_numpy(batch[:, :100].copy())
    with pytest.raises(InferenceServerException, match="shape"):
        tc.infer("fast-cnn", [short])
    doubles = triton.InferInput("audio", [1, 48000], "FP64")
    doubles.set_data_from_numpy(batch.astype(np.float64))
    with pytest.raises(InferenceServerException, match="FP32"):
        tc.infer("fast-cnn", [doubles])
    nan = batch.copy()
    nan[0, 5] = np.nan
    bad = triton.InferInput("audio", [1, 48000], "FP32")
    bad.set_data_from_numpy(nan)
    with pytest.raises(InferenceServerException, match="NaN"):
        tc.infer("fast-cnn", [bad])
    big = triton.InferInput("audio", [5, 48000], "FP32")
    big.set_data_from_numpy(audio(5))
    with pytest.raises(InferenceServerException, match="max_batch"):
        tc.infer("fast-cnn", [big])
    assert tc.is_server_ready()


def test_oip_raw_protocol_errors(client: httpx.Client, audio, oip_body) -> None:
    body, headers = oip_body(audio(1))
    ok = client.post("/v2/models/fast-cnn/infer", content=body, headers=headers)
    assert ok.status_code == 200 and int(ok.headers["inference-header-content-length"]) < len(ok.content)
    cases = [
        (body, {"Inference-Header-Content-Length": "abc"}, "not an integer"),
        (body, {"Inference-Header-Content-Length": str(len(body) + 10)}, "outside the body"),
        (body[:-4], headers, "binary data"),
        (b"{not json", {}, "not valid JSON"),
        (json.dumps({"inputs": []}).encode(), {}, "inputs"),
        (
            json.dumps(
                {"inputs": [{"name": "audio", "shape": [1, 48000], "datatype": "FP32", "data": [1.0, 2.0]}]}
            ).encode(),
            {},
            "do not fill",
        ),
        (
            json.dumps(
                {
                    "inputs": [{"name": "audio", "shape": [1, 48000], "datatype": "FP32", "data": [0.0] * 48000}],
                    "outputs": [{"name": "logits"}],
                }
            ).encode(),
            {},
            "unknown output",
        ),
    ]
    for content, hdrs, fragment in cases:
        resp = client.post("/v2/models/fast-cnn/infer", content=content, headers=hdrs)
        assert 400 <= resp.status_code < 500, (fragment, resp.status_code, resp.text[:200])
        assert fragment in resp.json()["error"], (fragment, resp.json())
    assert client.get("/v2").json()["name"] == "voiceflow-inference"
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/models/fast-cnn/versions/..%2F..%2Fetc/ready").status_code == 404


def test_oip_unknown_output_is_refused_before_inference(client: httpx.Client, metric) -> None:
    def oip_requests() -> float:
        return metric(client.get("/metrics").text, "voiceflow_inference_requests_total", endpoint="oip")

    before = oip_requests()
    request = {
        "inputs": [{"name": "audio", "shape": [1, 48000], "datatype": "FP32", "data": [0.0] * 48000}],
        "outputs": [{"name": "logits"}],
    }
    resp = client.post("/v2/models/fast-cnn/infer", content=json.dumps(request).encode())
    assert resp.status_code == 400 and "unknown output" in resp.json()["error"]
    assert oip_requests() == before  # no inference was run (or counted) for it


def test_metrics_expose_version_labelled_series(client: httpx.Client, tc, audio, metric) -> None:
    labels = {"model": "fast-cnn", "version": "1.1.0"}
    series = [
        ("voiceflow_inference_requests_total", {"endpoint": "rest", **labels}),
        ("voiceflow_inference_latency_seconds_count", {"endpoint": "rest", **labels}),
        ("voiceflow_inference_requests_total", {"endpoint": "oip", **labels}),
        ("voiceflow_inference_latency_seconds_count", {"endpoint": "oip", **labels}),
        ("http_requests_total", {"handler": "/infer"}),
        ("http_requests_total", {"handler": "/v2/models/{name}/infer"}),
    ]

    def counts() -> list[float]:
        text = client.get("/metrics").text
        return [metric(text, name, **want) for name, want in series]

    before = counts()
    client.post("/infer", json={"audio": audio(2).tolist()})  # one request of two windows counts once
    tensor = triton.InferInput("audio", [1, 48000], "FP32")
    tensor.set_data_from_numpy(audio(1))
    tc.infer("fast-cnn", [tensor])
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    deltas = [after - was for after, was in zip(counts(), before, strict=True)]
    assert deltas == [1, 1, 1, 1, 1, 1], list(zip([n for n, _ in series], deltas, strict=True))
    assert metric(text, "voiceflow_model_info", role="active", **labels) == 1
    assert metric(text, "voiceflow_model_reloads_total", model="fast-cnn", result="success", trigger="startup") == 1
    assert "http_request_duration_seconds" in text
    for name in ("voiceflow_websocket_sessions_active", "voiceflow_ab_assignments_total", "voiceflow_websocket_errors"):
        assert name in text


def test_admin_requires_the_bearer_token(client: httpx.Client) -> None:
    missing = client.get("/admin/models")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["code"] == "unauthorized"
    assert client.get("/admin/models", headers={"Authorization": "Bearer wrong-token-xyz"}).status_code == 403
    assert client.get("/admin/models", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.post("/admin/rollback", json={}).status_code == 401
    ok = client.get("/admin/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["version"] == "1.1.0"
    bad = client.post("/admin/pin", json={"version": "../../x"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 422 and "version" in bad.json()["error"]


def test_admin_is_disabled_without_a_token(registry_two_versions, serve, tmp_path) -> None:
    srv = serve(registry_two_versions["url"], tmp_path, admin_token=None)
    with srv.client() as c:
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            resp = c.get("/admin/models", headers=headers)
            assert resp.status_code == 404 and resp.json()["code"] == "admin_disabled"
        assert c.post("/admin/reload", json={}).status_code == 404


def test_openapi_documents_every_endpoint(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/health",
        "/ready",
        "/infer",
        "/metrics",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/admin/models",
        "/admin/reload",
        "/admin/rollback",
        "/admin/pin",
        "/admin/ab",
    ):
        assert path in paths, path
        for op in paths[path].values():
            assert op.get("summary") and op.get("description"), path
    infer_op = paths["/infer"]["post"]
    assert "audio" in infer_op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"200", "400", "413", "503"} <= set(infer_op["responses"])
    assert "ErrorResponse" in spec["components"]["schemas"]


ODD_NAMES = ["..%2F..%2Fetc%2Fpasswd", "%E2%80%AEfast-cnn", "fast-cnn%00", "FAST-CNN", "%F0%9F%92%A9", "a" * 200]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_model_names_and_versions_get_json_4xx(client: httpx.Client, audio, oip_body, name: str) -> None:
    body, headers = oip_body(audio(1))
    requests = [
        ("GET", f"/v2/models/{name}", None, {}),
        ("GET", f"/v2/models/{name}/ready", None, {}),
        ("GET", f"/v2/models/fast-cnn/versions/{name}", None, {}),
        ("GET", f"/v2/models/fast-cnn/versions/{name}/ready", None, {}),
        ("POST", f"/v2/models/{name}/infer", body, headers),
        ("POST", f"/v2/models/fast-cnn/versions/{name}/infer", body, headers),
    ]
    for method, path, content, hdrs in requests:
        resp = client.request(method, path, content=content, headers=hdrs)
        assert 400 <= resp.status_code < 500, (path, resp.status_code)
        assert "error" in resp.json(), path
    for endpoint in ("/admin/pin", "/admin/rollback", "/admin/reload"):
        resp = client.post(
            endpoint, json={"version": name.replace("%", "\u202e")}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert resp.status_code == 422 and "version" in resp.json()["error"], (endpoint, resp.text)
    assert client.get("/ready").json()["version"] == "1.1.0"


def test_lean_infer_route_serves_infer_and_leaves_the_rest_to_fastapi(server, client: httpx.Client, tc, audio) -> None:
    """``oip.LeanInferRoute`` answers ``POST /v2/models/{name}/infer`` (first in the route table); another method or
    a name FastAPI refuses falls through to the FastAPI route, so they answer as the FastAPI-only versioned route does;
    the HTTP metrics keep the route template."""
    from voiceflow_inference.routers.oip import LeanInferRoute

    assert isinstance(server.app.router.routes[0], LeanInferRoute)
    batch = audio(1)
    tensor = triton.InferInput("audio", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=True)
    assert tc.infer("fast-cnn", [tensor]).as_numpy("speaker_embeddings").shape[0] == 1
    lean, fastapi_only = "/v2/models/fast-cnn/infer", "/v2/models/fast-cnn/versions/1.1.0/infer"
    assert client.get(lean).status_code == client.get(fastapi_only).status_code == 405
    long_name = "x" * 129
    refused = client.post(f"/v2/models/{long_name}/infer", content=b"{}")
    assert refused.status_code == client.post(f"/v2/models/{long_name}/versions/1.1.0/infer", content=b"{}").status_code
    assert refused.status_code == 422
    assert 'handler="/v2/models/{name}/infer"' in client.get("/metrics").text
