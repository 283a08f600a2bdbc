"""Triton extension building blocks without a server: the statistics counters, the model configuration built from a
real exported ONNX file, and which version a repository load or unload request names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voiceflow_contract.spec import INPUT_NAME, WINDOW_SAMPLES
from voiceflow_inference.config import BatchingSettings
from voiceflow_inference.errors import ServiceError
from voiceflow_inference.inference_statistics import InferenceStatistics, StageTimes
from voiceflow_inference.protocol.oip.model_config import build_model_config, triton_type
from voiceflow_inference.protocol.oip.repository import (
    RepositoryLoadRequest,
    RepositoryUnloadRequest,
    load_version,
    unload_version,
)
from voiceflow_inference.protocol.oip.statistics import model_stat
from voiceflow_inference.runtime.onnx_model import InferenceEngine


def test_statistics_add_up_per_version_and_are_forgotten_with_the_version() -> None:
    stats = InferenceStatistics()
    stats.record_success("m", "1.0.0", 3, StageTimes(queue_ns=10, input_ns=20, infer_ns=300, output_ns=5))
    stats.record_success("m", "1.0.0", 1, StageTimes(queue_ns=1, input_ns=2, infer_ns=30, output_ns=1))
    stats.record_failure("m", "1.0.0", 7)
    wire = model_stat("m", "1.0.0", stats.get("m", "1.0.0")).model_dump()
    assert (wire["inference_count"], wire["execution_count"]) == (4, 2)
    inference = wire["inference_stats"]
    assert inference["success"] == {"count": 2, "ns": 369}
    assert inference["compute_infer"] == {"count": 2, "ns": 330} and inference["fail"] == {"count": 1, "ns": 7}
    assert [b["batch_size"] for b in wire["batch_stats"]] == [1, 3] and wire["last_inference"] > 0
    assert model_stat("m", "2.0.0", stats.get("m", "2.0.0")).execution_count == 0  # never served: zeros
    stats.forget("m", keep={"2.0.0"})
    assert stats.get("m", "1.0.0").execution_count == 0


def test_micro_batched_statistics_keep_no_per_batch_size_breakdown() -> None:
    stats = InferenceStatistics(per_batch_size=False)
    stats.record_success("m", "1.0.0", 2, StageTimes(1, 1, 1, 1))
    stats.record_success("m", "1.0.0", 3, StageTimes(1, 1, 1, 1), executions=0)  # rode in the batch above
    entry = stats.get("m", "1.0.0")
    assert entry.batches == {} and (entry.inference_count, entry.execution_count, entry.success.count) == (5, 1, 2)


def test_model_config_from_a_real_onnx_file(model_builder, tmp_path: Path) -> None:
    path = model_builder(tmp_path / "m.onnx", num_speakers=4, embedding_dim=16)
    config = build_model_config(
        name="m",
        described=InferenceEngine(path).describe(),
        versions=["1.0.0", "1.1.0"],
        max_batch=16,
        providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
        batching=BatchingSettings(enabled=True, max_delay_ms=2.5),
        parameters={"version": "1.1.0"},
    ).model_dump(exclude_none=True)
    assert config["input"][0]["name"] == INPUT_NAME and config["input"][0]["dims"] == [WINDOW_SAMPLES]
    assert [o["dims"] for o in config["output"]] == [[4], [16]]
    assert config["instance_group"][0]["kind"] == "KIND_GPU"
    assert config["dynamic_batching"] == {"preferred_batch_size": [], "max_queue_delay_microseconds": 2500}
    assert config["version_policy"] == {"specific": {"versions": ["1.0.0", "1.1.0"]}}
    assert (triton_type("FP32"), triton_type("INT64"), triton_type("COMPLEX64")) == (
        "TYPE_FP32",
        "TYPE_INT64",
        "TYPE_INVALID",
    )


def _load(parameters: dict[str, object], query: str | None = None) -> str | None:
    return load_version(RepositoryLoadRequest(parameters=parameters), "m", query)


def test_the_version_a_load_request_names() -> None:
    assert _load({}) is None  # the configured ref
    assert _load({"version": "v1.2.0"}) == "1.2.0"
    assert _load({}, query="latest") == "latest"
    assert _load({"config": json.dumps({"name": "m", "version_policy": {"specific": {"versions": ["1.0.0"]}}})}) == (
        "1.0.0"
    )
    assert _load({"config": json.dumps({"version_policy": {"latest": {"num_versions": 1}}})}) is None
    assert _load({"version": "1.0.0"}, query="v1.0.0") == "1.0.0"
    refused = {
        "conflicting versions": ({"version": "1.0.0"}, "1.1.0"),
        "unsupported load parameters": ({"bogus": 1}, None),
        "file overrides": ({"file:1/model.onnx": "AA=="}, None),
        "is not 'm'": ({"config": json.dumps({"name": "other"})}, None),
        "not JSON": ({"config": "{"}, None),
        "one version": (
            {"config": json.dumps({"version_policy": {"specific": {"versions": ["1.0.0", "1.1.0"]}}})},
            None,
        ),
        "version like": ({"version": "../../etc"}, None),
    }
    for message, (parameters, query) in refused.items():
        with pytest.raises(ServiceError, match=message) as err:
            _load(parameters, query)
        assert err.value.status == 400


def test_the_version_an_unload_request_names() -> None:
    assert unload_version(RepositoryUnloadRequest(parameters={"unload_dependents": False}), None) is None
    assert unload_version(RepositoryUnloadRequest(parameters={"version": "1.0.0"}), None) == "1.0.0"
    assert unload_version(RepositoryUnloadRequest(), "1.0.0") == "1.0.0"
    with pytest.raises(ServiceError, match="conflicting"):
        unload_version(RepositoryUnloadRequest(parameters={"version": "1.0.0"}), "1.1.0")
    with pytest.raises(ServiceError, match="version like"):
        unload_version(RepositoryUnloadRequest(), "latest")  # an alias names no loaded version


def test_the_registry_listing_is_reused_for_a_few_seconds(monkeypatch, tmp_path: Path) -> None:
    import asyncio

    from voiceflow_inference.config import load_settings
    from voiceflow_inference.lifecycle import model_sources

    class Registry:
        calls = 0

        def list_versions(self, model: str) -> list[str]:
            Registry.calls += 1
            return ["1.0.0", "1.1.0"]

    now = [1000.0]
    monkeypatch.setattr(model_sources, "monotonic", lambda: now[0])
    settings = load_settings("development", registry_url=tmp_path.as_uri(), cache_dir=tmp_path / "cache")
    sources = model_sources.ModelSources(settings, Registry())
    assert asyncio.run(sources.published_versions()) == ["1.0.0", "1.1.0"]
    now[0] += model_sources.LISTING_TTL_S - 0.1
    asyncio.run(sources.published_versions())
    assert Registry.calls == 1
    now[0] += 0.2
    asyncio.run(sources.published_versions())
    assert Registry.calls == 2
