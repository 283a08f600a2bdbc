"""What a deploy found and did: the findings of each phase, the step log (timed, named steps) and the JSON report."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Result = Literal["deployed", "rolled_back", "refused", "rollback_failed"]
StepStatus = Literal["ok", "failed", "skipped"]

STATUS_MARKS: dict[StepStatus, str] = {
    "ok": "[green]ok[/]",
    "failed": "[red]FAILED[/]",
    "skipped": "[yellow]skipped[/]",
}


class DeployStep(BaseModel):
    """One step of the deployment: its name, outcome, duration and what was seen."""

    name: str
    status: StepStatus
    seconds: float
    detail: str


class SmokeSummary(BaseModel):
    """Latency of the single-window smoke calls (round trip, ms) against the budget."""

    calls: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    budget_ms: float


class DeployReport(BaseModel):
    """What ``voiceflow-inference deploy`` did (written with ``--report``)."""

    server: str
    env: str
    registry: str | None
    model: str | None
    requested: str = Field(description="The version or alias asked for")
    from_version: str | None = Field(description="Version served before the deploy")
    to_version: str | None = Field(description="The requested ref resolved in the registry")
    sha256: str | None = Field(description="sha256 of the deployed model.onnx (registry)")
    final_version: str | None = Field(description="Version served when the command ended")
    pin: bool | None
    result: Result
    failed_check: str | None
    message: str
    exit_code: int
    started_at: datetime
    seconds: float
    steps: list[DeployStep]
    smoke: SmokeSummary | None = None


@dataclass
class DeployFindings:
    """What the phases learnt: the server before the deploy, the resolved version and its registry facts."""

    model: str | None
    pin: bool | None
    from_version: str | None = None
    from_sha256: str | None = None
    from_pinned: str | None = None
    to_version: str | None = None
    sha256: str | None = None
    num_speakers: int | None = None
    profile_p99_ms: float | None = None


class DeployStopError(Exception):
    """End the deployment with ``exit_code``; ``check`` names the failed rule."""

    def __init__(self, exit_code: int, check: str, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.check = check


class StepLog:
    """The timed steps of one deploy, in order; each is logged as it ends and ``advance`` is told as it starts."""

    def __init__(
        self,
        log: Callable[[str], None] = lambda _line: None,
        advance: Callable[[str], None] = lambda _step: None,
    ) -> None:
        self.log = log
        self.advance = advance
        self.steps: list[DeployStep] = []

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time a step; the body appends its detail line. A DeployStopError inside records the step as failed."""
        detail: list[str] = []
        started = time.perf_counter()
        self.advance(name)
        try:
            yield detail
        except DeployStopError as stop:
            self.record(name, "failed", started, str(stop))
            raise
        self.record(name, "ok", started, "; ".join(detail))

    def record(self, name: str, status: StepStatus, started: float, detail: str) -> None:
        """Add a step that began at ``started`` (perf_counter) and ends now."""
        step = DeployStep(name=name, status=status, seconds=round(time.perf_counter() - started, 3), detail=detail)
        self.steps.append(step)
        self.log(f"{STATUS_MARKS[status]} {name}: {detail}")

    def skip(self, name: str, detail: str) -> None:
        """Add a skipped step."""
        self.record(name, "skipped", time.perf_counter(), detail)


__all__ = [
    "STATUS_MARKS",
    "DeployFindings",
    "DeployReport",
    "DeployStep",
    "DeployStopError",
    "Result",
    "SmokeSummary",
    "StepLog",
    "StepStatus",
]
