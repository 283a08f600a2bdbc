"""Test helpers for code that consumes the model contract (like ``numpy.testing``): numpy + onnx only, no torch.

- :func:`build_contract_model` writes a tiny, contract-valid ONNX model (``audio [B, WINDOW_SAMPLES]`` ->
  ``speaker_embeddings`` softmax ``[B, S]`` + ``embedding [B, E]``), with knobs that break the contract on purpose.
- :func:`contract_model_proto` wraps any graph body in the contract's input/outputs (opset 18, IR 9, checked), for
  tests that need a different computation with the same interface.
- :func:`contract_metadata` builds a complete :class:`ModelMetadata` for such a file.
- :func:`publish_model_file` validates a file with the real validator and publishes it with the real registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from voiceflow_contract.errors import ContractError
from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.registry import ModelRegistry, VersionInfo
from voiceflow_contract.schemas.metadata import (
    Accuracy,
    Architecture,
    ContractInfo,
    DevicePerformance,
    FileInfo,
    Lineage,
    ModelMetadata,
    Training,
)
from voiceflow_contract.schemas.report import ValidationReport
from voiceflow_contract.spec import EMBEDDING_OUTPUT, INPUT_NAME, PROBABILITIES_OUTPUT, SAMPLE_RATE, WINDOW_SAMPLES
from voiceflow_contract.validator import validate_model_contract

__all__ = [
    "FRAMES",
    "OPSET",
    "WINDOW",
    "build_contract_model",
    "contract_metadata",
    "contract_model_proto",
    "publish_model_file",
]

WINDOW = WINDOW_SAMPLES
FRAMES = 480  # the toy model averages 480 frames of 100 samples, then two linear layers
OPSET = 18
IR_VERSION = 9


def contract_model_proto(
    nodes: Sequence[onnx.NodeProto],
    initializers: Sequence[onnx.TensorProto],
    *,
    num_speakers: int,
    embedding_dim: int,
    window: int = WINDOW,
    graph_name: str = "toy_diarizer",
    producer_name: str = "voiceflow-tests",
) -> onnx.ModelProto:
    """A checked ONNX model: input ``audio [batch_size, window]``, outputs ``speaker_embeddings [batch_size, S]`` and
    ``embedding [batch_size, E]``, computed by ``nodes`` from ``initializers`` (opset 18, IR version 9)."""
    graph = helper.make_graph(
        list(nodes),
        graph_name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch_size", window])],
        [
            helper.make_tensor_value_info(PROBABILITIES_OUTPUT, TensorProto.FLOAT, ["batch_size", num_speakers]),
            helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["batch_size", embedding_dim]),
        ],
        list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer_name)
    model.ir_version = IR_VERSION  # what the pinned onnxruntime accepts, whatever the installed onnx defaults to
    onnx.checker.check_model(model)
    return model


def build_contract_model(
    path: Path,
    *,
    num_speakers: int = 2,
    embedding_dim: int = 8,
    seed: int = 0,
    softmax: bool = True,
    window: int = WINDOW,
    square: bool = False,
    graph_name: str = "toy_diarizer",
    producer_name: str = "voiceflow-tests",
) -> Path:
    """Write a small contract model to ``path`` (parents created) and return ``path``.

    The graph reshapes the window into 480 frames, averages each frame (its power when ``square``), then applies two
    random MatMuls (``embedding``, then logits) and a softmax. Different seeds give different weights, so versions
    are distinguishable by their outputs. ``softmax=False`` breaks the contract (outputs are not probabilities);
    ``window`` != WINDOW breaks the input shape rule.
    """
    rng = np.random.default_rng(seed)
    w_emb = rng.standard_normal((FRAMES, embedding_dim)).astype(np.float32)
    w_spk = rng.standard_normal((embedding_dim, num_speakers)).astype(np.float32)
    nodes = [helper.make_node("Reshape", [INPUT_NAME, "frames_shape"], ["frames"])]
    if square:
        nodes.append(helper.make_node("Mul", ["frames", "frames"], ["power"]))
    nodes += [
        helper.make_node("ReduceMean", ["power" if square else "frames", "axes"], ["energy"], keepdims=0),
        helper.make_node("MatMul", ["energy", "w_emb"], [EMBEDDING_OUTPUT]),
        helper.make_node("MatMul", [EMBEDDING_OUTPUT, "w_spk"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [PROBABILITIES_OUTPUT], axis=-1)
        if softmax
        else helper.make_node("Identity", ["logits"], [PROBABILITIES_OUTPUT]),
    ]
    inits = [
        numpy_helper.from_array(np.array([-1, FRAMES, window // FRAMES], dtype=np.int64), "frames_shape"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axes"),
        numpy_helper.from_array(w_emb, "w_emb"),
        numpy_helper.from_array(w_spk, "w_spk"),
    ]
    model = contract_model_proto(
        nodes,
        inits,
        num_speakers=num_speakers,
        embedding_dim=embedding_dim,
        window=window,
        graph_name=graph_name,
        producer_name=producer_name,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def contract_metadata(
    model_path: Path,
    name: str,
    version: str,
    *,
    num_speakers: int | None = 2,
    embedding_dim: int | None = 8,
    extra_outputs: Sequence[str] | None = None,
    batch: int = 1,
    onnx_opset: int = OPSET,
    **fields: Any,
) -> ModelMetadata:
    """A complete :class:`ModelMetadata` for the model file at ``model_path`` (size and sha256 read from it).

    ``contract`` describes ``[batch, WINDOW] -> [batch, S]`` (+ ``embedding`` when ``embedding_dim`` is set, unless
    ``extra_outputs`` says otherwise). Every other top-level field gets a neutral toy value; pass any of them in
    ``fields`` (e.g. ``git_commit=``, ``training=``, ``lineage=``) to replace it whole.
    """
    if extra_outputs is None:
        extra_outputs = [EMBEDDING_OUTPUT] if embedding_dim is not None else []
    values: dict[str, Any] = {
        "model_name": name,
        "version": version,
        "created_at": datetime.now(UTC),
        "git_commit": "0000000",
        "training": Training(dataset="synthetic", epochs=0, batch_size=1, optimizer="none", learning_rate=0.001),
        "architecture": Architecture(type="toy", params=FRAMES * (embedding_dim or 0), layers=2, name=name),
        "performance": {"cpu": DevicePerformance(p50_ms=0.1, p99_ms=0.2, throughput_rps=1000.0)},
        "accuracy": Accuracy(der_test_set=0.5, precision=0.5, recall=0.5),
        "contract": ContractInfo(
            input_shape=[batch, WINDOW],
            output_shape=[batch, num_speakers or 2],
            sample_rate=SAMPLE_RATE,
            num_speakers=num_speakers,
            extra_outputs=list(extra_outputs),
            embedding_dim=embedding_dim,
        ),
        "file": FileInfo(size_bytes=model_path.stat().st_size, sha256=sha256_file(model_path), onnx_opset=onnx_opset),
        "lineage": Lineage(config_hash="test", dataset_fingerprint="synthetic", seed=0, package_versions={}),
    }
    values.update(fields)
    return ModelMetadata(**values)


def publish_model_file(
    registry: ModelRegistry | str,
    name: str,
    version: str,
    model_path: Path,
    *,
    metadata: ModelMetadata | None = None,
    num_speakers: int | None = 2,
    embedding_dim: int | None = 8,
    measure_latency: bool = False,
    aliases: Sequence[str] = ("latest",),
) -> tuple[VersionInfo, ValidationReport]:
    """Validate ``model_path`` with the real validator and publish it as ``name`` ``version`` with the real registry.

    ``registry`` is a :class:`ModelRegistry` or a registry URL. ``num_speakers`` is passed to the validator (``None``:
    read from the model) and, with ``embedding_dim``, describes the model in the default :func:`contract_metadata`
    (used when ``metadata`` is not given). Latency is not measured unless ``measure_latency`` (it is slow and noisy
    on shared machines). Raises :class:`ContractError` naming the failed checks if the model fails the contract.
    """
    report = validate_model_contract(model_path, num_speakers=num_speakers, measure_latency=measure_latency)
    if not report.passed:
        raise ContractError(f"{model_path} fails the contract: {[c.message for c in report.failed_checks]}")
    if metadata is None:
        metadata = contract_metadata(model_path, name, version, num_speakers=num_speakers, embedding_dim=embedding_dim)
    client = ModelRegistry(registry) if isinstance(registry, str) else registry
    info = client.publish(name, version, model_path, metadata, report, aliases=tuple(aliases))
    return info, report
