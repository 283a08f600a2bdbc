"""The JSON fast paths (numpy instead of pydantic for the audio numbers) give the same results and the same errors.

``POST /infer`` and OIP JSON ``data`` convert window rows with ``array.array`` when every item is a JSON number; any
other body takes the full pydantic path. These tests compare both against the plain pydantic/numpy forms, and check
through uvicorn that valid bodies infer identically and bad ones keep their exact status and message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from voiceflow_inference.errors import ServiceError
from voiceflow_inference.protocol.rest.types import InferRequest
from voiceflow_inference.request_body.json_body import check_json_budget, float_rows, float_values

WINDOW = 48000


def _pydantic_rows(rows: Any) -> np.ndarray:
    return np.asarray(InferRequest.model_validate({"audio": rows}).audio, dtype=np.float64)


def test_float_rows_equal_pydantic_then_numpy() -> None:
    rng = np.random.default_rng(3)
    rows = (rng.standard_normal((3, WINDOW)) * 0.3).tolist()
    rows[1][7] = 2  # an int
    rows[2][9] = True  # a bool: lax pydantic float gives 1.0
    rows[0][0] = 1e300  # finite in float64, Inf in float32 (check_audio reports it, as before)
    fast = float_rows(rows, WINDOW)
    assert fast is not None and fast.dtype == np.float64
    np.testing.assert_array_equal(fast, _pydantic_rows(rows))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(fast.astype(np.float32), _pydantic_rows(rows).astype(np.float32))


@pytest.mark.parametrize(
    "rows",
    [
        [],
        None,
        "x",
        [[0.0] * (WINDOW - 1)],
        [[0.0] * WINDOW, "row"],
        [["0.5"] + [0.0] * (WINDOW - 1)],  # pydantic accepts numeric strings: the slow path keeps that
        [[None] + [0.0] * (WINDOW - 1)],
        [[[0.0]] + [0.0] * (WINDOW - 1)],
        [[{"a": 1}] + [0.0] * (WINDOW - 1)],
        [[2**2000] + [0.0] * (WINDOW - 1)],
    ],
    ids=["empty", "none", "str", "short", "row-not-list", "num-string", "null", "nested", "object", "huge-int"],
)
def test_float_rows_refuses_anything_not_plain_numbers(rows: Any) -> None:
    assert float_rows(rows, WINDOW) is None


def test_float_values_matches_numpy_or_defers() -> None:
    values: list[Any] = [0.5, -1, True, 3.25e-8]
    got = float_values(values)
    assert got is not None
    np.testing.assert_array_equal(got, np.asarray(values, dtype=np.float64))
    for bad in ([0.5, None], [0.5, "1"], [[0.5]], [2**2000]):
        assert float_values(bad) is None


def _bytes_count_budget(raw: bytes, max_containers: int, max_values: int) -> str | None:
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > max_containers:
        return f"body: {containers} JSON arrays/objects exceed the limit of {max_containers}"
    values = raw.count(b",") + 1
    if values > max_values:
        return f"body: about {values} JSON values exceed the limit of {max_values}"
    return None


@pytest.mark.parametrize(
    ("raw", "containers", "values"),
    [
        (b"[" * 300, 256, 10),
        (b"[]," * 100, 1000, 50),
        (b"{" * 5 + b"," * 5, 5, 6),
        (b"{" * 5 + b"," * 5, 4, 6),
        (b"{" * 5 + b"," * 5, 5, 5),
        (orjson.dumps({"audio": [[0.25] * WINDOW]}), 4, WINDOW + 10),
        (orjson.dumps({"audio": [[0.25] * WINDOW]}), 4, WINDOW - 1),
        (b"", 0, 1),
        (b"[]", 1, 1),
    ],
)
def test_json_budget_counts_like_bytes_count(raw: bytes, containers: int, values: int) -> None:
    expected = _bytes_count_budget(raw, containers, values)
    try:
        check_json_budget(raw, max_containers=containers, max_values=values)
    except ServiceError as exc:
        assert exc.status == 400 and exc.code == "json_too_complex"
        assert str(exc) == expected
    else:
        assert expected is None


@pytest.fixture(scope="module")
def client(
    registry_two_versions: dict[str, Any], live_server_factory, tmp_path_factory, settings_maker
) -> Iterator[httpx.Client]:
    from voiceflow_inference.app import create_app

    work = tmp_path_factory.mktemp("fast-json")
    limits = {"max_batch": 4, "max_body_bytes": 4 * 1024 * 1024}
    settings = settings_maker(registry_two_versions["url"], work, limits=limits)
    server = live_server_factory(create_app(settings))
    with server.client() as c:
        yield c
    server.stop()


def _pydantic_message(payload: dict[str, Any]) -> str:
    """The 422 message the route gave before the fast path: pydantic on the whole body."""
    try:
        InferRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"][:3])
        return f"{loc}: {first['msg']} ({exc.error_count()} error(s))"
    raise AssertionError("payload is valid")


def test_rest_errors_are_unchanged(client: httpx.Client, audio) -> None:
    one = audio(1)[0].tolist()
    cases: list[dict[str, Any]] = [
        {"audio": [one], "return_embeddings": "maybe"},  # valid audio, bad other field: fast path + pydantic
        {"audio": [one], "sample_rate": "fast"},
        {"audio": [one], "extra": 1, "return_embeddings": []},  # two errors: the count is kept
        {"audio": [["x", *one[1:]]]},  # bad audio: the full pydantic path
        {"audio": [one, [None, *one[1:]]]},
        {"audio": ["row"]},
    ]
    for payload in cases:
        resp = client.post("/infer", content=orjson.dumps(payload))
        assert resp.status_code == 422, (payload.keys(), resp.text[:300])
        assert resp.json() == {"error": _pydantic_message(payload), "code": "invalid_request"}


def test_rest_fast_path_infers_like_the_slow_path(client: httpx.Client, audio) -> None:
    batch = audio(2, seed=5)
    rows = batch.tolist()
    fast = client.post("/infer", content=orjson.dumps({"audio": rows, "return_embeddings": True}))
    # A numeric string sends the body down the pydantic path, which reads "0.5" as 0.5: same numbers, other path.
    rows_slow = [list(r) for r in rows]
    rows_slow[0][0] = repr(rows_slow[0][0])
    slow = client.post("/infer", content=orjson.dumps({"audio": rows_slow, "return_embeddings": True}))
    assert fast.status_code == slow.status_code == 200, (fast.text[:200], slow.text[:200])
    assert fast.json()["probabilities"] == slow.json()["probabilities"]
    assert fast.json()["embeddings"] == slow.json()["embeddings"]


def test_oip_json_data_fast_and_nested_agree(client: httpx.Client, audio) -> None:
    batch = audio(2, seed=9)

    def infer(data: Any) -> dict[str, Any]:
        body = {"id": "r1", "inputs": [{"name": "audio", "shape": [2, WINDOW], "datatype": "FP32", "data": data}]}
        resp = client.post("/v2/models/fast-cnn/infer", content=orjson.dumps(body))
        assert resp.status_code == 200, resp.text[:300]
        result: dict[str, Any] = resp.json()
        return result

    flat = infer(batch.reshape(-1).tolist())  # what tritonclient sends: the array.array path
    nested = infer(batch.tolist())  # row-major nesting: np.asarray as before
    assert flat == nested and flat["id"] == "r1"
    bad = {"inputs": [{"name": "audio", "shape": [1, WINDOW], "datatype": "FP32", "data": [None] * WINDOW}]}
    resp = client.post("/v2/models/fast-cnn/infer", content=orjson.dumps(bad))
    assert resp.status_code == 400 and "NaN or Inf" in resp.json()["error"]  # None -> NaN through np.asarray, as before
    nonnum = {"inputs": [{"name": "audio", "shape": [1, WINDOW], "datatype": "FP32", "data": ["x"] * WINDOW}]}
    resp = client.post("/v2/models/fast-cnn/infer", content=orjson.dumps(nonnum))
    assert resp.status_code == 400 and "must be numbers" in resp.json()["error"]
    missing = {"inputs": [{"name": "audio", "datatype": "FP32", "data": [0.0] * WINDOW}]}
    resp = client.post("/v2/models/fast-cnn/infer", content=orjson.dumps(missing))
    assert resp.status_code == 400 and resp.json()["error"] == "inputs.0.shape: Field required"
