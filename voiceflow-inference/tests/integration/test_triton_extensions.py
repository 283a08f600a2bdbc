"""Triton's model configuration, statistics and model repository extensions, through tritonclient.http unchanged,
against uvicorn on 127.0.0.1 serving real exported toy models from a file:// registry."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from voiceflow_contract.spec import INPUT_NAME, WINDOW_SAMPLES

TOKEN = "test-admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STAGES = ("queue", "compute_input", "compute_infer", "compute_output")


@pytest.fixture(scope="module")
def server(
    registry_two_versions: dict[str, Any], live_server_factory, tmp_path_factory, settings_maker
) -> Iterator[Any]:
    """latest -> 1.1.0 (3 speakers), max_batch 4."""
    from voiceflow_inference.app import create_app

    work = tmp_path_factory.mktemp("triton")
    settings = settings_maker(registry_two_versions["url"], work, limits={"max_batch": 4})
    srv = live_server_factory(create_app(settings))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tc(server) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server.url.removeprefix("http://"))


def _infer(tc: triton.InferenceServerClient, batch: np.ndarray, version: str = "") -> Any:
    tensor = triton.InferInput(INPUT_NAME, list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=True)
    return tc.infer("fast-cnn", [tensor], model_version=version)


def _version_stats(tc: triton.InferenceServerClient, version: str) -> dict[str, Any]:
    stats = tc.get_inference_statistics("fast-cnn", version)["model_stats"]
    assert [(s["name"], s["version"]) for s in stats] == [("fast-cnn", version)]
    return dict(stats[0])


def test_model_config_is_derived_from_the_served_onnx_file(tc: triton.InferenceServerClient) -> None:
    config = tc.get_model_config("fast-cnn")
    assert config["name"] == "fast-cnn"
    assert (config["platform"], config["backend"]) == ("onnxruntime_onnx", "onnxruntime")
    assert config["max_batch_size"] == 4  # the server's limits.max_batch: a larger batch is answered 413
    assert config["version_policy"] == {"specific": {"versions": ["1.1.0"]}}
    assert [(i["name"], i["data_type"], i["dims"]) for i in config["input"]] == [
        (INPUT_NAME, "TYPE_FP32", [WINDOW_SAMPLES])
    ]
    assert {o["name"]: (o["data_type"], o["dims"]) for o in config["output"]} == {
        "speaker_embeddings": ("TYPE_FP32", [3]),
        "embedding": ("TYPE_FP32", [8]),
    }
    assert config["instance_group"][0]["kind"] == "KIND_CPU" and "dynamic_batching" not in config
    assert config["parameters"]["version"] == {"string_value": "1.1.0"}
    assert config["model_transaction_policy"] == {"decoupled": False}
    assert tc.get_model_config("fast-cnn", "1.1.0") == config
    with pytest.raises(InferenceServerException, match="not served") as unknown:
        tc.get_model_config("other-model")
    assert unknown.value.status() == "404"
    with pytest.raises(InferenceServerException, match="not loaded"):
        tc.get_model_config("fast-cnn", "1.0.0")
    extensions = tc.get_server_metadata()["extensions"]
    assert {"model_configuration", "statistics", "model_repository"} <= set(extensions)


def test_statistics_count_every_oip_and_rest_inference(
    tc: triton.InferenceServerClient, server, audio, metric: Callable[..., float]
) -> None:
    before = _version_stats(tc, "1.1.0")
    with server.client() as client:
        requests_before = metric(client.get("/metrics").text, "voiceflow_inference_requests_total", version="1.1.0")
        _infer(tc, audio(3, seed=1))
        _infer(tc, audio(1, seed=2), version="1.1.0")
        assert client.post("/infer", json={"audio": audio(2, seed=3).tolist()}).status_code == 200
        bad = audio(1, seed=4)
        bad[0, 10] = np.nan
        with pytest.raises(InferenceServerException, match="NaN"):
            _infer(tc, bad)
        requests_after = metric(client.get("/metrics").text, "voiceflow_inference_requests_total", version="1.1.0")
    after = _version_stats(tc, "1.1.0")

    assert after["inference_count"] - before["inference_count"] == 3 + 1 + 2  # windows
    assert after["execution_count"] - before["execution_count"] == 3  # requests (no micro-batching)
    assert requests_after - requests_before == 3  # the same requests the Prometheus counter saw
    stats, old = after["inference_stats"], before["inference_stats"]
    assert stats["success"]["count"] - old["success"]["count"] == 3
    assert stats["fail"]["count"] - old["fail"]["count"] == 1 and stats["fail"]["ns"] > old["fail"]["ns"]
    for stage in STAGES:
        assert stats[stage]["count"] == stats["success"]["count"]
    # Measured, not estimated: success is exactly the sum of the stages, and real work took some time.
    assert stats["success"]["ns"] == sum(stats[stage]["ns"] for stage in STAGES)
    assert stats["compute_infer"]["ns"] > old["compute_infer"]["ns"]
    assert stats["cache_hit"] == {"count": 0, "ns": 0}
    assert after["last_inference"] >= before["last_inference"] and after["last_inference"] > 0
    by_size = {b["batch_size"]: b["compute_infer"]["count"] for b in after["batch_stats"]}
    old_sizes = {b["batch_size"]: b["compute_infer"]["count"] for b in before["batch_stats"]}
    assert {k: by_size[k] - old_sizes.get(k, 0) for k in (1, 2, 3)} == {1: 1, 2: 1, 3: 1}

    everything = tc.get_inference_statistics()["model_stats"]
    assert [(s["name"], s["version"]) for s in everything] == [("fast-cnn", "1.1.0")]
    assert tc.get_inference_statistics("fast-cnn")["model_stats"][0]["version"] == "1.1.0"
    with pytest.raises(InferenceServerException, match="not served"):
        tc.get_inference_statistics("other-model")
    with pytest.raises(InferenceServerException, match="not loaded"):
        tc.get_inference_statistics("fast-cnn", "1.0.0")


def test_repository_index_lists_loaded_and_registry_versions(tc: triton.InferenceServerClient) -> None:
    index = tc.get_model_repository_index()
    assert [(e["name"], e["version"], e["state"]) for e in index] == [
        ("fast-cnn", "1.1.0", "READY"),
        ("fast-cnn", "1.0.0", "UNAVAILABLE"),
    ]
    assert index[0]["reason"] == "" and "not loaded" in index[1]["reason"]


def test_load_and_unload_need_the_admin_token(tc: triton.InferenceServerClient) -> None:
    for call in (tc.load_model, tc.unload_model):
        with pytest.raises(InferenceServerException, match="Bearer") as missing:
            call("fast-cnn")
        assert missing.value.status() == "401"
        with pytest.raises(InferenceServerException, match="wrong admin token") as wrong:
            call("fast-cnn", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.value.status() == "403"


def test_load_and_unload_map_onto_the_admin_operations(
    registry_two_versions: dict[str, Any], serve, tmp_path: Path, audio
) -> None:
    srv = serve(registry_two_versions["url"], tmp_path)
    tc = triton.InferenceServerClient(srv.url.removeprefix("http://"))
    assert tc.get_model_metadata("fast-cnn")["versions"] == ["1.1.0"]

    # A specific version through Triton's `config` parameter (version_policy), as tritonclient can send it.
    policy = json.dumps({"version_policy": {"specific": {"versions": ["1.0.0"]}}})
    tc.load_model("fast-cnn", headers=AUTH, config=policy)
    assert _infer(tc, audio(1)).get_response()["model_version"] == "1.0.0"  # activated
    assert tc.get_model_config("fast-cnn")["version_policy"] == {"specific": {"versions": ["1.1.0", "1.0.0"]}}
    assert [e["state"] for e in tc.get_model_repository_index()] == ["READY", "READY"]

    # No version: the configured ref (latest -> 1.1.0), already loaded, activated again.
    tc.load_model("fast-cnn", headers=AUTH)
    assert _infer(tc, audio(1)).get_response()["model_version"] == "1.1.0"

    with pytest.raises(InferenceServerException, match="only model this server serves") as whole:
        tc.unload_model("fast-cnn", headers=AUTH)
    assert whole.value.status() == "409"
    with pytest.raises(InferenceServerException, match="serves traffic") as active:
        tc.unload_model("fast-cnn", headers=AUTH, query_params={"version": "1.1.0"})
    assert active.value.status() == "409"

    tc.unload_model("fast-cnn", headers=AUTH, query_params={"version": "1.0.0"})  # a standby version
    assert [(e["version"], e["state"]) for e in tc.get_model_repository_index()] == [
        ("1.1.0", "READY"),
        ("1.0.0", "UNAVAILABLE"),
    ]
    assert not tc.is_model_ready("fast-cnn", "1.0.0")
    with pytest.raises(InferenceServerException, match="not loaded") as gone:
        tc.unload_model("fast-cnn", headers=AUTH, query_params={"version": "1.0.0"})
    assert gone.value.status() == "404"

    with pytest.raises(InferenceServerException, match=r"has no version 9\.9\.9") as missing:
        tc.load_model("fast-cnn", headers=AUTH, query_params={"version": "9.9.9"})
    assert missing.value.status() == "409"
    with pytest.raises(InferenceServerException, match="file overrides are not supported"):
        tc.load_model("fast-cnn", headers=AUTH, config="{}", files={"file:1/model.onnx": b"\x00"})
    with pytest.raises(InferenceServerException, match="only 'name' and 'version_policy'"):
        tc.load_model("fast-cnn", headers=AUTH, config=json.dumps({"max_batch_size": 64}))
    with pytest.raises(InferenceServerException, match="not served") as other:
        tc.load_model("other-model", headers=AUTH)
    assert other.value.status() == "404"
    assert _infer(tc, audio(1)).get_response()["model_version"] == "1.1.0"  # still serving throughout


def test_raw_http_forms_of_the_repository_api(registry_two_versions: dict[str, Any], serve, tmp_path: Path) -> None:
    srv = serve(registry_two_versions["url"], tmp_path)
    with srv.client() as client:
        assert client.post("/v2/repository/index", json={"ready": True}).json() == [
            {"name": "fast-cnn", "version": "1.1.0", "state": "READY", "reason": ""}
        ]
        assert client.post("/v2/repository/index", json={"bogus": 1}).status_code == 422
        load = client.post(
            "/v2/repository/models/fast-cnn/load", json={"parameters": {"version": "1.0.0"}}, headers=AUTH
        )
        assert load.status_code == 200
        assert client.get("/ready").json()["version"] == "1.0.0"
        conflict = client.post(
            "/v2/repository/models/fast-cnn/load?version=1.1.0", json={"parameters": {"version": "1.0.0"}}, headers=AUTH
        )
        assert conflict.status_code == 400 and "conflicting versions" in conflict.json()["error"]
        unload = client.post(
            "/v2/repository/models/fast-cnn/unload", json={"parameters": {"version": "1.1.0"}}, headers=AUTH
        )
        assert unload.status_code == 200
        assert [m["version"] for m in client.get("/admin/models", headers=AUTH).json()["loaded"]] == ["1.0.0"]
