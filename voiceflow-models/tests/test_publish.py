"""Publishing: metadata.json assembled from real inputs, the four registry files, refusals, the whole pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import onnx
import pytest

from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.schemas import ModelMetadata, ValidationReport
from voiceflow_models.export.optimize import optimize_model
from voiceflow_models.release import publish as publish_cli
from voiceflow_models.release.pipeline import PipelineError, run_pipeline

FOUR_FILES = {"model.onnx", "metadata.json", "validation_report.json", "checksum.sha256"}


def _root(url: str) -> Path:
    return Path(urlparse(url).path)


def test_publish_writes_the_four_files_with_full_metadata(fast_onnx, tmp_path, registry_url, publish, release_inputs):
    model = optimize_model(fast_onnx.path, tmp_path / "model_optimized.onnx").output
    meta_out = tmp_path / "metadata.json"
    assert publish(model, "--version", "1.0.0", "--metadata-out", str(meta_out)) == 0
    folder = _root(registry_url) / "fast-cnn" / "v1.0.0"
    assert {p.name for p in folder.iterdir()} >= FOUR_FILES
    sha = sha256_file(model)
    assert (folder / "checksum.sha256").read_text().split()[0] == sha
    meta = ModelMetadata.read(folder / "metadata.json")
    assert meta.version == "1.0.0" and meta.model_name == "fast-cnn" and meta.file.sha256 == sha
    assert meta.file.onnx_opset == 18 and meta.file.size_bytes == model.stat().st_size
    assert meta.architecture.type == "cnn" and meta.architecture.signature == fast_onnx.architecture.signature
    assert meta.architecture.params == fast_onnx.architecture.params
    assert meta.contract.output_shape == [1, 4] and meta.contract.extra_outputs == ["embedding"]
    assert meta.training.epochs == 3 and meta.training.batch_size == 16 and meta.training.optimizer == "AdamW"
    assert meta.training.learning_rate == 0.002
    assert meta.lineage.seed == 42 and len(meta.lineage.config_hash) == 64 and meta.lineage.config["seed"] == 42
    assert meta.lineage.dataset_fingerprint.startswith("config:") and "onnxruntime" in meta.lineage.package_versions
    assert meta.git_commit  # short hash inside a git checkout, "unknown" outside
    bench = json.loads(release_inputs["benchmark"].read_text())
    assert meta.performance["cpu"].p99_ms == bench["performance"]["cpu"]["p99_ms"]
    acc = json.loads(release_inputs["accuracy"].read_text())
    assert meta.accuracy.der_collar_025 == acc["systems"]["model"]["der_collar_025"]
    assert ModelMetadata.read(meta_out).file.sha256 == sha
    assert meta.diarization is not None and meta.diarization.vector == acc["diarization"]["vector"]
    report = ValidationReport.read(folder / "validation_report.json")
    assert report.passed and report.model_sha256 == sha
    # The registry's own view agrees, and the serving side can pull it.
    registry = ModelRegistry(registry_url)
    assert str(registry.resolve("fast-cnn")) == "1.0.0"
    pulled = registry.pull("fast-cnn", "latest", tmp_path / "cache")
    assert sha256_file(pulled.path) == sha


def test_publish_refuses_a_model_that_fails_the_contract(tmp_path, registry_url, publish, capsys):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["audio"], ["speaker_embeddings"])],
        "bad",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch_size", 16000])],
        [helper.make_tensor_value_info("speaker_embeddings", TensorProto.FLOAT, ["batch_size", 16000])],
    )
    bad = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(bad))
    assert publish(bad, "--version", "1.0.0", "--model-name", "bad-model") == 1
    assert "input.length" in " ".join(capsys.readouterr().err.split())
    assert not (_root(registry_url) / "bad-model").exists()


def test_publish_needs_a_benchmark_and_measures_a_missing_accuracy(fast_onnx, registry_url, release_inputs, capsys):
    base = ["--model", str(fast_onnx.path), "--registry", registry_url, "--auto", "--no-latency-check"]
    assert publish_cli.main(base) == 1
    assert "--benchmark" in " ".join(capsys.readouterr().err.split())
    assert not (_root(registry_url) / "fast-cnn").exists()
    # The seed's command has no accuracy JSON: DER is then measured on held-out conversations before publishing.
    extra = [
        "--benchmark",
        str(release_inputs["benchmark"]),
        "--accuracy-conversations",
        "1",
        "--accuracy-duration",
        "6",
    ]
    assert publish_cli.main([*base, *extra]) == 0
    meta = ModelMetadata.read(_root(registry_url) / "fast-cnn" / "v1.0.0" / "metadata.json")
    assert 0.0 <= meta.accuracy.der_test_set <= 2.0
    with pytest.raises(SystemExit):
        publish_cli.main(["--model", str(fast_onnx.path)])  # neither --version nor --auto


def test_pipeline_publishes_then_patches(tiny_network, tmp_path, registry_url):
    from torch import nn

    common = {
        "registry": registry_url,
        "latency_runs": 10,
        "conversations": 1,
        "duration_s": 8.0,
        "threads": (1,),
        "check_latency": False,
    }
    first = run_pipeline(
        None, network=tiny_network, artifacts_dir=tmp_path / "a1", real_sample_dir=tmp_path / "no-sample", **common
    )
    assert (first.model_name, first.version, first.bump) == ("tiny-cnn", "1.0.0", "initial")
    assert {
        "model.onnx",
        "model_optimized.onnx",
        "validation_report.json",
        "benchmark_results.json",
        "accuracy.json",
        "metadata.json",
    } <= set(first.artifacts)
    assert set(first.timings_s) == {"export", "optimise", "validate", "benchmark", "accuracy", "version", "publish"}
    assert {p.name for p in (_root(registry_url) / "tiny-cnn" / "v1.0.0").iterdir()} >= FOUR_FILES
    meta = ModelMetadata.read(_root(registry_url) / "tiny-cnn" / "v1.0.0" / "metadata.json")
    calibration = json.loads(first.artifacts["accuracy.json"].read_text())["calibration"]
    assert (meta.diarization.vector, meta.diarization.threshold) == (calibration["vector"], calibration["threshold"])
    # Without the real recording the accuracy block says why its real-speech entry has no score.
    assert meta.accuracy.real_speech is not None and meta.accuracy.real_speech.der_collar_0 is None
    assert "make real-sample" in (meta.accuracy.real_speech.skipped or "")

    retrained = type(tiny_network)()  # same architecture, fresh weights
    retrained.load_state_dict({k: v + 0.01 for k, v in tiny_network.state_dict().items()})
    nn.Module.eval(retrained)
    second = run_pipeline(None, network=retrained, artifacts_dir=tmp_path / "a2", **common)
    assert (second.version, second.bump) == ("1.0.1", "patch")

    with pytest.raises(PipelineError, match="export"):
        run_pipeline(tmp_path / "missing.ckpt", artifacts_dir=tmp_path / "a3", **common)
