"""Triton's model configuration extension: ``GET /v2/models/{name}[/versions/{v}]/config`` as Triton's JSON form of
``model_config.proto`` (what perf_analyzer and model_analyzer read first).

Inputs, outputs and dims are the served session's (``InferenceEngine.describe``, the same source as the model
metadata endpoint, so the two never disagree); the first axis is the batch axis (the
contract's ``batch_size``), so ``dims`` leave it out, as Triton's do when ``max_batch_size > 0``. ``max_batch_size``
is the server's ``limits.max_batch``: the contract's profiles budget latency, size and memory but set no batch limit,
and a larger batch is answered 413 here. ``version_policy`` lists the versions this process holds (``specific``);
Triton's versions are integers, ours are the registry's semantic versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voiceflow_inference.config import BatchingSettings

# Triton's DataType enum by Open Inference Protocol datatype (model_config.proto; BYTES is Triton's TYPE_STRING).
_TRITON_TYPES = {
    "BOOL": "TYPE_BOOL",
    "UINT8": "TYPE_UINT8",
    "UINT16": "TYPE_UINT16",
    "UINT32": "TYPE_UINT32",
    "UINT64": "TYPE_UINT64",
    "INT8": "TYPE_INT8",
    "INT16": "TYPE_INT16",
    "INT32": "TYPE_INT32",
    "INT64": "TYPE_INT64",
    "FP16": "TYPE_FP16",
    "FP32": "TYPE_FP32",
    "FP64": "TYPE_FP64",
    "BYTES": "TYPE_STRING",
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


def triton_type(datatype: str) -> str:
    """Triton's ``TYPE_*`` name of an OIP datatype (``TYPE_INVALID`` for anything else)."""
    return _TRITON_TYPES.get(datatype, "TYPE_INVALID")


def _dims(shape: Sequence[Any]) -> list[int]:
    """Declared dims after the batch axis; symbolic or unknown sizes are -1."""
    return [d if isinstance(d, int) and d > 0 else -1 for d in shape[1:]]


def build_model_config(
    *,
    name: str,
    described: Mapping[str, Sequence[Mapping[str, Any]]],
    versions: list[str],
    max_batch: int,
    providers: list[str],
    batching: BatchingSettings,
    parameters: dict[str, str],
) -> ModelConfig:
    """Triton's configuration of one served version; ``described`` is ``InferenceEngine.describe()``."""
    on_gpu = any(p.startswith("CUDA") or p.startswith("Tensorrt") for p in providers[:1])
    return ModelConfig(
        name=name,
        version_policy=VersionPolicy(specific=SpecificVersions(versions=versions)),
        max_batch_size=max_batch,
        input=[
            ConfigInput(name=t["name"], data_type=triton_type(t["datatype"]), dims=_dims(t["shape"]))
            for t in described["inputs"]
        ],
        output=[
            ConfigOutput(name=t["name"], data_type=triton_type(t["datatype"]), dims=_dims(t["shape"]))
            for t in described["outputs"]
        ],
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
    "triton_type",
]
