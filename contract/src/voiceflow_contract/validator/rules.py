"""The rule catalogue: every rule name in the order it runs, and the collector that records each rule's outcome.

A report lists every rule of :func:`rule_names`, always in that order; a rule the pipeline never reached is filled
in as SKIPPED with the reason it was blocked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from voiceflow_contract.schemas.report import CheckResult, CheckStatus
from voiceflow_contract.spec import ModelContract, load_contract

MESSAGE_LIMIT = 400  # characters of one check message

# Every rule, in the order it runs. Optional outputs add ``output.<name>`` after output.rank.
BASE_RULES: tuple[str, ...] = (
    "file.exists",
    "file.size",
    "file.readable",
    "onnx.parse",
    "onnx.external_data",
    "onnx.checker",
    "graph.declared_dims",
    "input.name",
    "input.dtype",
    "input.rank",
    "input.length",
    "input.batch_dynamic",
    "output.name",
    "output.dtype",
    "output.rank",
)
RUNTIME_RULES: tuple[str, ...] = (
    "runtime.session",
    # runtime.batch_<n> for each configured batch size goes here
    "output.num_speakers",
    "output.finite",
    "output.softmax",
    "latency.p99",
    "runtime.memory",  # peak memory over every run above, measured in the memory-limited child process
)


def rule_names(contract: ModelContract | None = None) -> list[str]:
    """All rule names a report for ``contract`` contains, in order."""
    contract = contract or load_contract()
    optional = [f"output.{spec.name}" for spec in contract.optional_outputs]
    batches = [f"runtime.batch_{b}" for b in contract.validation.batch_sizes]
    return [*BASE_RULES, *optional, RUNTIME_RULES[0], *batches, *RUNTIME_RULES[1:]]


def short(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """One-line, bounded message: ORT errors can be pages long and must not bloat the report."""
    flat = " ".join(str(message).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass
class Checks:
    """Collects CheckResults; rules never reached are filled in as SKIPPED with the reason they were blocked."""

    results: dict[str, CheckResult] = field(default_factory=dict)
    blocked_by: str | None = None
    sha256: str = ""  # kept here so a crash mid-pipeline still reports which bytes were judged
    session_providers: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        status: CheckStatus,
        message: str = "",
        measured: Any = None,
        limit: Any = None,
        unit: str | None = None,
    ) -> bool:
        self.results[name] = CheckResult(
            name=name, status=status, measured=measured, limit=limit, unit=unit, message=short(message)
        )
        return status is not CheckStatus.FAILED

    def ok(
        self, name: str, message: str = "", measured: Any = None, limit: Any = None, unit: str | None = None
    ) -> bool:
        return self.add(name, CheckStatus.PASSED, message, measured, limit, unit)

    def fail(self, name: str, message: str, measured: Any = None, limit: Any = None, unit: str | None = None) -> bool:
        return self.add(name, CheckStatus.FAILED, message, measured, limit, unit)

    def check(
        self,
        name: str,
        passed: bool,
        message: str,
        measured: Any = None,
        limit: Any = None,
        unit: str | None = None,
    ) -> bool:
        return self.add(name, CheckStatus.PASSED if passed else CheckStatus.FAILED, message, measured, limit, unit)

    def skip(self, name: str, message: str, measured: Any = None, limit: Any = None, unit: str | None = None) -> None:
        self.add(name, CheckStatus.SKIPPED, message, measured, limit, unit)

    def block(self, reason: str) -> None:
        """Stop the pipeline: every rule not yet recorded is SKIPPED with ``reason``."""
        if self.blocked_by is None:
            self.blocked_by = reason

    def ordered(self, names: Sequence[str]) -> list[CheckResult]:
        reason = f"not run: {self.blocked_by}" if self.blocked_by else "not run"
        out = [self.results.get(n) or CheckResult(name=n, status=CheckStatus.SKIPPED, message=reason) for n in names]
        out.extend(r for n, r in self.results.items() if n not in names)
        return out


__all__ = ["BASE_RULES", "RUNTIME_RULES", "Checks", "rule_names", "short"]
