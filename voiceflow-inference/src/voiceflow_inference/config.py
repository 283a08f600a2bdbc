"""Service configuration: `config/<env>.toml` selected by VOICEFLOW_ENV, every key overridable by VOICEFLOW_* variables.

Precedence (highest first): explicit overrides passed to :func:`load_settings`, environment variables
(`VOICEFLOW_<KEY>`, nested keys joined with `__`, e.g. `VOICEFLOW_LIMITS__MAX_BATCH=8`), then the TOML file.
A bad value fails at start with :class:`ConfigError`, whose message names the key.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

Environment = Literal["development", "staging", "production"]
ENVIRONMENTS: tuple[str, ...] = ("development", "staging", "production")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_VERSION_RE = re.compile(r"^v?\d+\.\d+\.\d+$")

# The TOML file the next Settings() reads; a context variable so concurrent loads in tests do not interfere.
_toml_file: ContextVar[Path | None] = ContextVar("voiceflow_toml_file", default=None)


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key and where it came from."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrtSettings(_Section):
    """ONNX Runtime session options."""

    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"], min_length=1)
    intra_op_threads: int = Field(default=1, ge=0, le=256, description="0 lets ONNX Runtime choose")
    inter_op_threads: int = Field(default=1, ge=0, le=256)
    arena_max_mb: int = Field(
        default=4096,
        ge=0,
        description="Cap (MiB) of the CPU memory arena all served sessions share; a request needing more fails, "
        "the process lives. 0: no cap",
    )


class Limits(_Section):
    """Request and session limits (documented in docs/serving-api.md)."""

    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, description="Largest HTTP request body (413 above)")
    max_batch: int = Field(default=16, ge=1, le=4096, description="Most 1 s windows in one /infer or OIP request")
    max_ws_frame_bytes: int = Field(default=1024 * 1024, ge=64, description="Largest WebSocket frame")
    max_session_seconds: float = Field(default=3600.0, gt=0, description="Longest WebSocket session (audio seconds)")
    max_concurrent_sessions: int = Field(default=64, ge=1, description="Open WebSocket sessions at once")
    max_ws_text_bytes: int = Field(default=64 * 1024, ge=64, description="Largest WebSocket text (JSON) message")
    ws_idle_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="WebSocket session closed after this long without audio (empty frames do not count)",
    )
    ws_max_session_wall_s: float = Field(
        default=7200.0, gt=0, description="Longest WebSocket session in wall-clock seconds, whatever it sends"
    )
    validation_memory_mb: int = Field(
        default=2048,
        ge=256,
        description="Address-space cap (MiB) of the child process that validates a candidate model at load",
    )
    validation_timeout_s: float = Field(
        default=600.0, gt=0, description="Longest load-time validation; the child process is killed after it"
    )
    max_sessions_per_client: int = Field(
        default=16, ge=1, description="Open WebSocket sessions at once from one client address"
    )


class BatchingSettings(_Section):
    """Dynamic micro-batching of concurrent requests inside the engine (runtime.micro_batcher); off by default.

    With ``max_delay_ms = 0`` a lone request never waits: batches form only from requests that queued while the
    cores were busy, so latency at low load is unchanged.
    """

    enabled: bool = Field(default=False, description="Batch concurrent REST, OIP and WebSocket windows together")
    max_batch: int = Field(default=16, ge=1, le=4096, description="Most windows in one ONNX Runtime run")
    max_delay_ms: float = Field(default=0.0, ge=0, le=100, description="Longest wait for a batch to fill")
    max_concurrent: int = Field(default=2, ge=1, le=256, description="Batches running at once (about the cores)")


class Settings(BaseSettings):
    """All settings of the inference service."""

    model_config = SettingsConfigDict(
        env_prefix="VOICEFLOW_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    env: Environment = Field(default="development", description="Which config/<env>.toml was loaded")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    registry_url: str = Field(default="./registry", min_length=1, description="Path, file://, s3://, gs:// or az://")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options for the registry")
    model_name: str = Field(default="ge2e", description="Registry model to serve (fast-cnn by name)")
    model_ref: str = Field(default="latest", min_length=1, description="Version ('1.2.0') or alias ('latest')")
    cache_dir: Path = Field(default=Path("./models/cache"), description="Local cache of pulled, verified models")
    watch_dir: Path | None = Field(default=None, description="Directory watched for an atomically replaced model file")
    watch_filename: str = Field(default="model.onnx", description="File name inside watch_dir")
    poll_interval_s: float = Field(default=30.0, ge=0, description="Registry poll period; 0 disables polling")
    measure_latency: bool = Field(default=False, description="Re-measure the latency budget when validating at load")
    keep_versions: int = Field(default=3, ge=1, le=32, description="Loaded versions kept for instant rollback")
    warmup_runs: int = Field(default=3, ge=0, le=1000)
    shutdown_grace_s: float = Field(default=10.0, ge=0, description="Time open sessions get to finish on shutdown")
    admin_token: SecretStr | None = Field(default=None, description="Bearer token for /admin; unset disables /admin")
    ab_weights: dict[str, float] = Field(
        default_factory=dict, description='A/B split, e.g. {"1.0.0": 0.9, "1.1.0": 0.1}'
    )
    demo_page: bool = Field(default=False, description="Serve the browser demo at /demo (true in development)")
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry (traces, metrics, logs through the global providers); off: "
        "Prometheus is the service's telemetry, and the per-request provider check costs the event loop time",
    )
    ort: OrtSettings = Field(default_factory=OrtSettings)
    limits: Limits = Field(default_factory=Limits)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init kwargs beat environment variables, which beat the TOML file of the selected environment."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _toml_file.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @field_validator("model_name")
    @classmethod
    def _check_model_name(cls, value: str) -> str:
        if not _NAME_RE.fullmatch(value):
            raise ValueError("must be lowercase letters, digits, '.', '_' or '-' (at most 64), e.g. 'fast-cnn'")
        return value

    @field_validator("model_ref")
    @classmethod
    def _check_model_ref(cls, value: str) -> str:
        if not (_VERSION_RE.fullmatch(value) or _NAME_RE.fullmatch(value)):
            raise ValueError("must be a version like '1.2.0' or an alias like 'latest'")
        return value

    @field_validator("watch_filename")
    @classmethod
    def _check_watch_filename(cls, value: str) -> str:
        if "/" in value or "\\" in value or value.startswith(".") or not value.endswith(".onnx"):
            raise ValueError("must be a plain file name ending in .onnx, e.g. 'model.onnx'")
        return value

    @field_validator("watch_dir", mode="before")
    @classmethod
    def _empty_watch_dir_is_none(cls, value: object) -> object:
        # VOICEFLOW_WATCH_DIR="" disables the watcher (Path("") would silently mean the current directory).
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("admin_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        # An empty VOICEFLOW_ADMIN_TOKEN means "admin disabled", never "the empty string is the password".
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value

    @field_validator("admin_token")
    @classmethod
    def _check_token_strength(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("must be at least 8 characters (or unset to disable /admin)")
        return value

    @field_validator("ab_weights")
    @classmethod
    def _check_ab_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for version, weight in value.items():
            if not _VERSION_RE.fullmatch(version):
                raise ValueError(f"key {version!r} is not a version like '1.2.0'")
            if weight < 0 or weight != weight:
                raise ValueError(f"weight of {version!r} must be >= 0")
        if value and sum(value.values()) <= 0:
            raise ValueError("weights must not all be zero")
        if len(value) == 1:
            raise ValueError("an A/B split needs two or more versions (or none)")
        return {version.removeprefix("v"): weight for version, weight in value.items()}


def config_dir() -> Path:
    """Where the `<env>.toml` files live: $VOICEFLOW_CONFIG_DIR, the installed package copy, or the source tree."""
    override = os.environ.get("VOICEFLOW_CONFIG_DIR")
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parent / "config"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "config"


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        env_name = "VOICEFLOW_" + "__".join(str(part).upper() for part in item["loc"])
        lines.append(f"config key '{key}' ({env_name} or {source}): {item['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(env: str | None = None, **overrides: Any) -> Settings:
    """Load the settings for `env` (default: $VOICEFLOW_ENV, else development).

    Raises:
        ConfigError: the environment is unknown, the TOML file is missing or malformed, or a value is invalid;
            the message names the key (and its environment variable).
    """
    chosen = env or os.environ.get("VOICEFLOW_ENV") or "development"
    if chosen not in ENVIRONMENTS:
        raise ConfigError(f"config key 'env' (VOICEFLOW_ENV): {chosen!r} is not one of {', '.join(ENVIRONMENTS)}")
    toml_path = config_dir() / f"{chosen}.toml"
    if not toml_path.is_file():
        raise ConfigError(f"config key 'env' (VOICEFLOW_ENV={chosen}): config file {toml_path} not found")
    # VOICEFLOW_REGISTRY_URL is the documented variable; VOICEFLOW_REGISTRY is accepted too (as by every registry CLI).
    if "registry_url" not in overrides and not os.environ.get("VOICEFLOW_REGISTRY_URL"):
        alias = os.environ.get("VOICEFLOW_REGISTRY")
        if alias:
            overrides["registry_url"] = alias
    token = _toml_file.set(toml_path)
    try:
        overrides["env"] = chosen
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(toml_path))) from None
    except ValueError as exc:  # malformed TOML (tomllib.TOMLDecodeError is a ValueError)
        raise ConfigError(f"config file {toml_path}: {exc}") from None
    finally:
        _toml_file.reset(token)


__all__ = [
    "ENVIRONMENTS",
    "BatchingSettings",
    "ConfigError",
    "Limits",
    "OrtSettings",
    "Settings",
    "config_dir",
    "load_settings",
]
