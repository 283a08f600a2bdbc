"""validation_report.json: the validator's verdict, one named check per rule."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from voiceflow_contract.schemas.base import StrictModel


class CheckStatus(StrEnum):
    """Outcome of one contract rule."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # e.g. a GPU latency budget checked on a machine without a GPU


class CheckResult(StrictModel):
    """One named rule: its outcome, what was measured and the limit it was held to."""

    name: str = Field(description="Rule name, e.g. 'input.shape' or 'latency.p99'")
    status: CheckStatus
    measured: str | float | int | bool | list[int | str] | None = None
    limit: str | float | int | bool | list[int | str] | None = None
    unit: str | None = None
    message: str = ""


class LatencyStats(StrictModel):
    """Latency measured by the validator (batch 1, after warm-up)."""

    p50_ms: float
    p99_ms: float
    mean_ms: float
    runs: int
    warmup_runs: int
    intra_op_threads: int
    provider: str


class ValidationReport(StrictModel):
    """The validator's full report; `passed` is true only when no check failed."""

    schema_version: str = "1.0"
    model_path: str
    model_sha256: str
    contract_name: str
    contract_version: str
    profile: str
    passed: bool
    checks: list[CheckResult]
    latency: LatencyStats | None = None
    num_speakers: int | None = None
    embedding_dim: int | None = None
    created_at: datetime
    validator_version: str
    host: dict[str, str] = Field(default_factory=dict, description="CPU, threads, onnxruntime version...")

    @property
    def failed_checks(self) -> list[CheckResult]:
        """The checks that failed, in order."""
        return [c for c in self.checks if c.status is CheckStatus.FAILED]
