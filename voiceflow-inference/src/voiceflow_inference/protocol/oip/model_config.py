"""Triton's model configuration extension: ``GET /v2/models/{name}[/versions/{v}]/config`` as Triton's JSON form of
``model_config.proto`` (what perf_analyzer and model_analyzer read first).

Inputs, outputs and dims come from the served ONNX file's declared graph (:mod:`voiceflow_contract.onnx_io`, read by
:mod:`voiceflow_inference.runtime.graph_io` without loading the weights); the first axis is the batch axis (the
contract's ``batch_size``), so ``dims`` leave it out, as Triton's do when ``max_batch_size > 0``. ``max_batch_size``
is the server's ``limits.max_batch``: the contract's profiles budget latency, size and memory but set no batch limit,
and a larger batch is answered 413 here. ``version_policy`` lists the versions this process holds (``specific``);
Triton's versions are integers, ours are the registry's semantic versions.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from voiceflow_contract.onnx_io import Dim, TensorInfo
from voiceflow_inference.config import BatchingSettings
from voiceflow_inference.runtime.graph_io import declared_graph_io

# Triton's DataType enum by numpy dtype name (model_config.proto).
_TRITON_TYPES = {
    "bool": "TYPE_BOOL",
    "uint8": "TYPE_UINT8",
    "uint16": "TYPE_UINT16",
    "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64",
    "int8": "TYPE_INT8",
    "int16": "TYPE_INT16",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float16": "TYPE_FP16",
    "float32": "TYPE_FP32",
    "float64": "TYPE_FP64",
    "object": "TYPE_STRING",
}


class ConfigInput(BaseModel):
    """One ``input`` entry (``dims`` without the batch axis; -1 = variable)."""

    name: str
    data_type: str = Field(examples=["TYPE_FP32"])
    format: str = "FORMAT_NONE"
    dims: list[int]
    is_shape_tensor: bool = False
    allow_ragged_batch: bool = False
    optional: bool = False


class ConfigOutput(BaseModel):
    """One ``output`` entry (``dims`` without the batch axis)."""

    name: str
    data_type: str
    dims: list[int]
    label_filename: str = ""
    is_shape_tensor: bool = False


class SpecificVersions(BaseModel):
    """``{"versions": [...]}``: exactly these versions are served."""

    versions: list[str]


class VersionPolicy(BaseModel):
    """Triton's ``version_policy`` (one of latest / all / specific; this server reports ``specific``)."""

    specific: SpecificVersions


class InstanceGroup(BaseModel):
    """Where the model runs: one ONNX Runtime session per loaded version."""

    name: str
    kind: Literal["KIND_CPU", "KIND_GPU"]
    count: int = 1


class DynamicBatching(BaseModel):
    """Present when the engine's micro-batching merges concurrent requests (``batching.enabled``)."""

    preferred_batch_size: list[int] = Field(default_factory=list)
    max_queue_delay_microseconds: int = 0


class TransactionPolicy(BaseModel):
    """One response per request (not decoupled)."""

    decoupled: bool = False


class StringParameter(BaseModel):
    """A model-config parameter (Triton writes them as ``{"string_value": ...}``)."""

    string_value: str


class ModelConfig(BaseModel):
    """`GET /v2/models/{name}[/versions/{version}]/config`: Triton's model configuration JSON."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "fast-cnn",
                    "platform": "onnxruntime_onnx",
                    "backend": "onnxruntime",
                    "version_policy": {"specific": {"versions": ["1.1.0"]}},
                    "max_batch_size": 16,
                    "input": [{"name": "audio", "data_type": "TYPE_FP32", "format": "FORMAT_NONE", "dims": [48000]}],
                    "output": [{"name": "speaker_embeddings", "data_type": "TYPE_FP32", "dims": [3]}],
                }
            ]
        }
    )

    name: str
    platform: str = "onnxruntime_onnx"
    backend: str = "onnxruntime"
    version_policy: VersionPolicy
    max_batch_size: int
    input: list[ConfigInput]
    output: list[ConfigOutput]
    instance_group: list[InstanceGroup]
    dynamic_batching: DynamicBatching | None = None
    model_transaction_policy: TransactionPolicy = Field(default_factory=TransactionPolicy)
    parameters: dict[str, StringParameter] = Field(
        default_factory=dict, description="`version` and `sha256` of the file described"
    )


def triton_type(dtype: str) -> str:
    """Triton's ``TYPE_*`` name of a numpy dtype name (``TYPE_INVALID`` for anything else)."""
    return _TRITON_TYPES.get(dtype, "TYPE_INVALID")


def _dims(shape: tuple[Dim, ...]) -> list[int]:
    """Declared dims after the batch axis; symbolic or unknown sizes are -1."""
    return [d if isinstance(d, int) and d > 0 else -1 for d in shape[1:]]


@functools.lru_cache(maxsize=8)
def declared_io(path: Path, sha256: str) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
    """The graph inputs and outputs declared in the ONNX file, without loading its weights (read once per file;
    ``sha256`` keys the cache)."""
    del sha256  # part of the cache key only: a path re-used by other bytes is read again
    inputs, outputs = declared_graph_io(path)
    return tuple(inputs), tuple(outputs)


def build_model_config(
    *,
    name: str,
    inputs: tuple[TensorInfo, ...],
    outputs: tuple[TensorInfo, ...],
    versions: list[str],
    max_batch: int,
    providers: list[str],
    batching: BatchingSettings,
    parameters: dict[str, str],
) -> ModelConfig:
    """Triton's configuration of one served version."""
    on_gpu = any(p.startswith("CUDA") or p.startswith("Tensorrt") for p in providers[:1])
    return ModelConfig(
        name=name,
        version_policy=VersionPolicy(specific=SpecificVersions(versions=versions)),
        max_batch_size=max_batch,
        input=[ConfigInput(name=t.name, data_type=triton_type(t.dtype), dims=_dims(t.shape)) for t in inputs],
        output=[ConfigOutput(name=t.name, data_type=triton_type(t.dtype), dims=_dims(t.shape)) for t in outputs],
        instance_group=[InstanceGroup(name=name, kind="KIND_GPU" if on_gpu else "KIND_CPU")],
        dynamic_batching=(
            DynamicBatching(max_queue_delay_microseconds=round(batching.max_delay_ms * 1000))
            if batching.enabled
            else None
        ),
        parameters={key: StringParameter(string_value=value) for key, value in parameters.items()},
    )


__all__ = [
    "ConfigInput",
    "ConfigOutput",
    "DynamicBatching",
    "InstanceGroup",
    "ModelConfig",
    "SpecificVersions",
    "StringParameter",
    "TransactionPolicy",
    "VersionPolicy",
    "build_model_config",
    "declared_io",
    "triton_type",
]
