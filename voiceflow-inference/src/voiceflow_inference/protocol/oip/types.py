"""Open Inference Protocol v2 wire types (pydantic): server and model metadata, readiness, inference request and
response (the JSON part when the binary tensor extension is used)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from voiceflow_contract.spec import INPUT_NAME, PROBABILITIES_OUTPUT, WINDOW_SAMPLES


class ServerMetadata(BaseModel):
    """`GET /v2`."""

    name: str
    version: str
    extensions: list[str]


class LiveStatus(BaseModel):
    """`GET /v2/health/live`."""

    live: bool


class ReadyStatus(BaseModel):
    """`GET /v2/health/ready`."""

    ready: bool


class TensorMetadata(BaseModel):
    """Name, datatype and shape (-1 = variable) of a model input or output."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadataResponse(BaseModel):
    """`GET /v2/models/{name}[/versions/{version}]`."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ModelReadyResponse(BaseModel):
    """`GET /v2/models/{name}[/versions/{version}]/ready`."""

    name: str
    ready: bool


class RequestInput(BaseModel):
    """One input tensor: JSON ``data`` (flat or nested, row-major) or ``parameters.binary_data_size`` bytes."""

    model_config = ConfigDict(extra="allow")

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class RequestOutput(BaseModel):
    """A requested output; ``parameters.binary_data`` asks for raw little-endian bytes."""

    model_config = ConfigDict(extra="allow")

    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """OIP inference request (the JSON part when the binary extension is used)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [
                        {
                            "name": INPUT_NAME,
                            "shape": [1, WINDOW_SAMPLES],
                            "datatype": "FP32",
                            "data": [0.0, f"... {WINDOW_SAMPLES}"],
                        }
                    ],
                    "outputs": [{"name": PROBABILITIES_OUTPUT}],
                }
            ]
        },
    )

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    """One output tensor (``data`` in JSON, or ``parameters.binary_data_size`` bytes after the JSON header)."""

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[float] | None = None


class InferenceResponse(BaseModel):
    """OIP inference response."""

    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


__all__ = [
    "InferenceRequest",
    "InferenceResponse",
    "LiveStatus",
    "ModelMetadataResponse",
    "ModelReadyResponse",
    "ReadyStatus",
    "RequestInput",
    "RequestOutput",
    "ResponseOutput",
    "ServerMetadata",
    "TensorMetadata",
]
