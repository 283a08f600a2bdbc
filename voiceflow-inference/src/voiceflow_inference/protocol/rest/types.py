"""`POST /infer` wire types: the request (JSON audio windows) and the response (speaker probabilities)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from voiceflow_contract.spec import SAMPLE_RATE, WINDOW_SAMPLES


class InferRequest(BaseModel):
    """One or more 1 s windows of 48 kHz mono float audio (roughly in [-1, 1])."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        # Shortened example: a real window holds exactly WINDOW_SAMPLES samples.
        json_schema_extra={"examples": [{"audio": [[0.0, 0.01, -0.02]], "sample_rate": SAMPLE_RATE}]},
    )

    audio: list[list[float]] = Field(description=f"Windows of exactly {WINDOW_SAMPLES} samples each", min_length=1)
    sample_rate: int = Field(
        default=SAMPLE_RATE, description=f"Must be {SAMPLE_RATE} (the WebSocket endpoint resamples)"
    )
    return_embeddings: bool = Field(default=False, description="Also return the model's `embedding` output")


class InferResponse(BaseModel):
    """Per-window speaker probabilities from one model version."""

    model: str = Field(examples=["fast-cnn"])
    version: str = Field(examples=["1.1.0"])
    sha256: str
    request_id: str
    num_speakers: int
    probabilities: list[list[float]] = Field(description="[windows, num_speakers] softmax probabilities")
    speakers: list[int] = Field(description="argmax speaker index per window")
    embeddings: list[list[float]] | None = Field(default=None, description="[windows, embedding_dim], if requested")


__all__ = ["InferRequest", "InferResponse"]
