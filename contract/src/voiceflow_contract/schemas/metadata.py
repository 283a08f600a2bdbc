"""metadata.json: everything the seed's example holds, plus the lineage needed to reproduce a model."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from voiceflow_contract.schemas.base import StrictModel
from voiceflow_contract.spec import INPUT_NAME, PROBABILITIES_OUTPUT


class Training(StrictModel):
    """How the model was trained (seed fields)."""

    dataset: str
    epochs: int = Field(ge=0)
    batch_size: int = Field(ge=1)
    optimizer: str
    learning_rate: float = Field(gt=0)


class Architecture(StrictModel):
    """What the network is. `type` drives the semantic-version bump rules."""

    type: str = Field(description="Architecture family, e.g. 'cnn' or 'wav2vec2'")
    params: int = Field(ge=0)
    layers: int = Field(ge=0)
    name: str | None = Field(default=None, description="Model class, e.g. 'fast-cnn'")
    signature: str | None = Field(default=None, description="Hash of the layer structure (shapes, not weights)")


class DevicePerformance(StrictModel):
    """Latency and throughput on one device."""

    p50_ms: float = Field(ge=0)
    p99_ms: float = Field(ge=0)
    throughput_rps: float = Field(ge=0)
    threads: int | None = None
    device_name: str | None = None


class RealSpeechAccuracy(StrictModel):
    """DER of the model on a real recording, streamed as the server clusters it (its `diarization` block).

    The recording is the development recording (the pyannote.audio sample): its figures are development figures,
    not an independent evaluation. `skipped` says why there is no score (the recording is absent).
    """

    recording: str = Field(description="Which recording, e.g. 'pyannote.audio sample'")
    role: Literal["development"] = Field(
        default="development", description="The final pass was chosen on this recording: not a held-out test"
    )
    der_collar_0: float | None = Field(default=None, ge=0)
    der_collar_025: float | None = Field(default=None, ge=0)
    speakers_found: int | None = Field(default=None, ge=0)
    reference_speakers: int | None = Field(default=None, ge=0)
    skipped: str | None = Field(default=None, description="Why the recording was not scored")


class Accuracy(StrictModel):
    """Held-out accuracy (seed fields plus DER at both collars) on synthetic conversations of unseen voices, and the
    real development recording's DER (`real_speech`)."""

    der_test_set: float = Field(ge=0)
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    der_collar_0: float | None = Field(default=None, ge=0)
    der_collar_025: float | None = Field(default=None, ge=0)
    window_accuracy: float | None = Field(default=None, ge=0, le=1)
    real_speech: RealSpeechAccuracy | None = Field(
        default=None, description="DER on the real development recording (None: not measured)"
    )


class ContractInfo(StrictModel):
    """The I/O contract the model was built against."""

    input_shape: list[int]
    output_shape: list[int]
    sample_rate: int = Field(gt=0)
    contract_version: str = "1.0.0"
    input_name: str = INPUT_NAME
    output_name: str = PROBABILITIES_OUTPUT
    num_speakers: int | None = Field(default=None, ge=2)
    extra_outputs: list[str] = Field(default_factory=list)
    embedding_dim: int | None = None


class FileInfo(StrictModel):
    """The model.onnx file itself."""

    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    onnx_opset: int = Field(ge=1)


class Lineage(StrictModel):
    """What it takes to reproduce the model."""

    config_hash: str
    dataset_fingerprint: str
    seed: int
    package_versions: dict[str, str]
    config: dict[str, Any] | None = Field(default=None, description="The resolved training config")
    parent_version: str | None = None
    mlflow_run_id: str | None = Field(default=None, description="The MLflow run that trained it (logger=mlflow)")


class DiarizationCalibration(StrictModel):
    """How serving clusters this model's window outputs, tuned when the model was scored.

    It travels with the model so the server streams with exactly the settings evaluation scored.
    """

    vector: Literal["speaker_embeddings", "embedding"] = Field(
        default="speaker_embeddings", description="Which ONNX output is clustered: the softmax or the embedding"
    )
    threshold: float = Field(
        default=0.8,
        ge=-1,
        le=1,
        description="Online pass: cosine similarity below which a window opens a new speaker (range [-1, 1])",
    )
    method: Literal["ahc", "spectral", "cohesion"] = Field(
        default="cohesion",
        description="Final pass (finalize re-clusters the session): ahc (threshold), spectral (eigengap speaker "
        "count) or cohesion (refines the online labels; what models calibrated before this field used)",
    )
    final_threshold: float = Field(
        default=0.0,
        ge=-1,
        le=1,
        description="ahc: stop merging below this cosine similarity between session-centred clusters",
    )
    vad: Literal["energy", "silero"] = Field(
        default="energy", description="Window VAD: energy + spectral flatness, or Silero VAD (ONNX, ONNX Runtime)"
    )
    hop_s: float = Field(default=0.5, gt=0, le=1, description="Window hop the calibration was measured at")
    boundary: Literal["midpoint", "margin"] = Field(
        default="midpoint",
        description="Where a speaker change falls between two windows: midpoint (half-way between their centres) or "
        "margin (where their similarity margin to the two speakers crosses zero); what models calibrated before this "
        "field used is midpoint",
    )


class ModelMetadata(StrictModel):
    """metadata.json, stored beside model.onnx in every registry version folder."""

    schema_version: str = "1.0"
    model_name: str
    version: str
    created_at: datetime
    git_commit: str
    profile: str = Field(default="cpu-realtime", description="Performance profile the model is checked against")
    training: Training
    architecture: Architecture
    performance: dict[str, DevicePerformance] = Field(description="Keyed by device, e.g. 'cpu', 'gpu_t4'")
    accuracy: Accuracy
    contract: ContractInfo
    file: FileInfo
    lineage: Lineage
    diarization: DiarizationCalibration | None = Field(
        default=None, description="Clustering calibration; None = the StreamingDiarizer defaults"
    )
