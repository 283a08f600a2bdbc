"""The model contract as typed data: model_contract.yaml loaded into pydantic models.

``load_contract()`` reads the copy shipped inside the package, so training and serving check against the same file.
Unknown keys and bad values raise :class:`~voiceflow_contract.errors.ContractError` naming the offending key.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voiceflow_contract.errors import ContractError
from voiceflow_contract.semver import Version

CONTRACT_FILENAME = "model_contract.yaml"
_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class _SpecModel(BaseModel):
    """Base of every contract section: unknown keys are errors (a typo must not silently disable a rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_SpecModel):
    """One graph input or output as the contract states it."""

    name: str = Field(min_length=1)
    type: Literal["float32", "float16", "float64", "int16", "int32", "int64"] = Field(
        description="Element type, numpy spelling"
    )
    shape: list[int | str] = Field(min_length=1, description="Fixed sizes as ints, symbolic dims as names")
    description: str = ""
    activation: Literal["softmax"] | None = Field(default=None, description="Activation the values must satisfy")

    @field_validator("shape")
    @classmethod
    def _dims_are_positive(cls, shape: list[int | str]) -> list[int | str]:
        for dim in shape:
            if isinstance(dim, int) and dim <= 0:
                raise ValueError(f"fixed dimensions must be positive, got {dim}")
            if isinstance(dim, str) and not dim.isidentifier():
                raise ValueError(f"symbolic dimensions must be identifiers, got {dim!r}")
        return shape

    @property
    def dtype(self) -> str:
        """Alias of ``type`` (numpy spelling, e.g. ``float32``)."""
        return self.type

    @property
    def rank(self) -> int:
        """Number of dimensions."""
        return len(self.shape)


class ContractMetadata(_SpecModel):
    """Audio framing and speaker count."""

    sample_rate: int = Field(gt=0, description="Samples per second of the input audio")
    audio_duration: float = Field(gt=0, description="Seconds of audio per window")
    num_speakers: Literal["dynamic"] | int = Field(
        description="'dynamic' (each model states its count in metadata.json) or a fixed count for every model"
    )
    min_num_speakers: int = Field(default=2, ge=1, description="Fewest speakers a model may score")

    @model_validator(mode="after")
    def _fixed_count_meets_minimum(self) -> ContractMetadata:
        if isinstance(self.num_speakers, int) and self.num_speakers < self.min_num_speakers:
            raise ValueError(f"num_speakers {self.num_speakers} is below min_num_speakers {self.min_num_speakers}")
        return self


class PerformanceRequirements(_SpecModel):
    """The seed's budgets, kept verbatim; the named profiles are what the validator enforces."""

    cpu_p99_ms: float = Field(gt=0)
    gpu_p99_ms: float = Field(gt=0)
    model_size_mb: float = Field(gt=0)


class Profile(_SpecModel):
    """A named performance budget; a model declares its profile in metadata.json (``"profile"``)."""

    name: str = Field(pattern=_NAME_PATTERN)
    description: str = ""
    device: Literal["cpu", "gpu"]
    p99_ms: float = Field(gt=0, description="Batch-1 P99 latency budget in milliseconds")
    model_size_mb: float = Field(gt=0, description="Largest allowed model.onnx, in MB (10^6 bytes)")
    max_memory_mb: float = Field(
        default=512.0,
        gt=0,
        description="Peak memory the model may add while it runs the validator's probes (batch sizes, value probes, "
        "latency runs), in MiB: peak RSS of the validator's child process minus its RSS before the session",
    )


class ValidationSettings(_SpecModel):
    """How the validator probes a model."""

    batch_sizes: list[int] = Field(default_factory=lambda: [1, 8], min_length=1)
    softmax_tolerance: float = Field(default=1e-3, gt=0, lt=1)
    latency_warmup_runs: int = Field(default=10, ge=0)
    latency_timed_runs: int = Field(default=100, ge=1)
    max_declared_dim: int = Field(
        default=10_000_000, gt=0, description="Any declared dimension above this is refused before running the model"
    )
    max_load_factor: float = Field(
        default=4.0, ge=1, description="Files larger than this multiple of the profile's size budget are not loaded"
    )

    @field_validator("batch_sizes")
    @classmethod
    def _batches_positive(cls, sizes: list[int]) -> list[int]:
        if any(size < 1 for size in sizes):
            raise ValueError(f"batch sizes must be >= 1, got {sizes}")
        return sizes


def _coerce_profiles(raw: Any) -> Any:
    """Profiles are a mapping in YAML (name -> budget); each Profile carries its own name."""
    if not isinstance(raw, dict):
        return raw
    coerced: dict[Any, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            if "name" in value and value["name"] != key:
                raise ValueError(f"profile key {key!r} does not match its name {value['name']!r}")
            value = {"name": key, **value}
        coerced[key] = value
    return coerced


class ModelContract(_SpecModel):
    """The whole contract: I/O tensors, audio framing, budgets (profiles) and validator settings."""

    name: str = Field(min_length=1)
    version: str = Field(description="Contract version (semver)")
    input: TensorSpec
    output: TensorSpec
    optional_outputs: list[TensorSpec] = Field(default_factory=list)
    metadata: ContractMetadata
    performance_requirements: PerformanceRequirements
    default_profile: str
    profiles: dict[str, Profile] = Field(min_length=1)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)

    @field_validator("version")
    @classmethod
    def _version_is_semver(cls, value: str) -> str:
        return str(Version.parse(value))

    @field_validator("profiles", mode="before")
    @classmethod
    def _profiles_named(cls, raw: Any) -> Any:
        return _coerce_profiles(raw)

    @model_validator(mode="after")
    def _consistent(self) -> ModelContract:
        if self.default_profile not in self.profiles:
            raise ValueError(f"default_profile {self.default_profile!r} is not one of {sorted(self.profiles)}")
        expected = self.metadata.sample_rate * self.metadata.audio_duration
        if not math.isclose(expected, round(expected)):
            raise ValueError("sample_rate * audio_duration must be a whole number of samples")
        if self.input.rank != 2 or self.input.shape[1] != round(expected):
            raise ValueError(f"input.shape must be [batch_size, {round(expected)}] (sample_rate * audio_duration)")
        if self.output.rank != 2:
            raise ValueError("output.shape must be [batch_size, num_speakers]")
        names = [self.output.name, *(o.name for o in self.optional_outputs)]
        if len(set(names)) != len(names):
            raise ValueError(f"output names must be unique, got {names}")
        return self

    @property
    def window_samples(self) -> int:
        """Samples in one input window (48000 for 1 s at 48 kHz)."""
        return round(self.metadata.sample_rate * self.metadata.audio_duration)

    @property
    def profile_names(self) -> list[str]:
        """Known profile names, default first."""
        return [self.default_profile, *sorted(n for n in self.profiles if n != self.default_profile)]

    def profile(self, name: str | None = None) -> Profile:
        """The named profile (default for ``None``); an unknown name raises ContractError listing the known ones."""
        key = self.default_profile if name is None else name
        try:
            return self.profiles[key]
        except KeyError:
            raise ContractError(f"unknown profile {key!r}; known profiles: {', '.join(self.profile_names)}") from None

    def optional_output(self, name: str) -> TensorSpec | None:
        """The optional output called ``name``, if the contract declares one."""
        return next((o for o in self.optional_outputs if o.name == name), None)


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem, each naming the dotted key path (``profiles.gpu-large.p99_ms``)."""
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "<root>"
        if error["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        else:
            lines.append(f"{key}: {error['msg']}")
    return f"invalid contract {source}: " + "; ".join(lines)


def parse_contract(data: Any, source: str = "<data>") -> ModelContract:
    """Validate an already-parsed contract mapping; raises ContractError naming each bad key."""
    if not isinstance(data, dict):
        raise ContractError(f"invalid contract {source}: top level must be a mapping, got {type(data).__name__}")
    try:
        return ModelContract.model_validate(data)
    except ValidationError as exc:
        raise ContractError(format_validation_error(exc, source)) from exc
    except ValueError as exc:  # e.g. InvalidNameError raised inside a validator
        raise ContractError(f"invalid contract {source}: {exc}") from exc


def load_contract(path: str | Path | None = None) -> ModelContract:
    """Load the contract from ``path``, or the copy shipped inside the package when ``path`` is None."""
    if path is None:
        source = f"voiceflow_contract/{CONTRACT_FILENAME}"
        text = resources.files("voiceflow_contract").joinpath(CONTRACT_FILENAME).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ContractError(f"cannot read contract {source}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"invalid contract {source}: not valid YAML: {exc}") from exc
    return parse_contract(data, source)


# The shipped contract's facts as constants: every module reads the sample rate, window length and tensor names from
# here instead of repeating 48000 or "speaker_embeddings" (a contract change then moves every user at once).
CONTRACT: ModelContract = load_contract()
SAMPLE_RATE: int = CONTRACT.metadata.sample_rate
WINDOW_SECONDS: float = CONTRACT.metadata.audio_duration
WINDOW_SAMPLES: int = CONTRACT.window_samples
INPUT_NAME: str = CONTRACT.input.name
PROBABILITIES_OUTPUT: str = CONTRACT.output.name
EMBEDDING_OUTPUT: str = "embedding"  # the optional output online clustering reads
OUTPUT_NAMES: tuple[str, ...] = (CONTRACT.output.name, *(o.name for o in CONTRACT.optional_outputs))
if EMBEDDING_OUTPUT not in OUTPUT_NAMES:  # pragma: no cover - guards an edit of model_contract.yaml
    raise ContractError(f"the shipped contract no longer declares the {EMBEDDING_OUTPUT!r} output")

__all__ = [
    "CONTRACT",
    "CONTRACT_FILENAME",
    "EMBEDDING_OUTPUT",
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "PROBABILITIES_OUTPUT",
    "SAMPLE_RATE",
    "WINDOW_SAMPLES",
    "WINDOW_SECONDS",
    "ContractMetadata",
    "ModelContract",
    "PerformanceRequirements",
    "Profile",
    "TensorSpec",
    "ValidationSettings",
    "format_validation_error",
    "load_contract",
    "parse_contract",
]
