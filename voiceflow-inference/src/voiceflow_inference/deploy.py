"""`voiceflow-inference deploy`: the seed's production deployment workflow against a running service.

    voiceflow-inference deploy --server URL --version X.Y.Z|latest [--model NAME] [--env ENV] [--token T]
        [--registry URL] [--pin/--no-pin] [--smoke-windows N] [--max-latency-ms MS] [--report PATH]

1. **preflight** (nothing changes on the server): ``/health``, ``/ready`` (records the version served now, the pin and
   any A/B split), the admin token (``GET /admin/models``); resolve the version in the registry, pull it (sha256
   verified) and validate it here with the contract validator.
2. **move**: ``POST /admin/reload {"version": V}`` (the server pulls, validates, warms and swaps), then
   ``POST /admin/pin {"version": V}`` when pinning (default for production, or when the server was pinned); wait
   until ``/ready`` reports V with the registry's sha256 (bounded by ``--timeout``).
3. **smoke**: ``/health`` 200, ``/ready`` on V, ``/infer`` on N synthetic 1 s windows (one batch + N single calls):
   200, the answer names V, probabilities finite and rows sum to 1, round-trip p99 of the single calls <= the budget
   (default: the model profile's p99 budget from the contract, 10 ms for cpu-realtime, plus 240 ms of HTTP/JSON slack).
4. **rollback** on any failure after the server was touched: ``POST /admin/rollback {"version": previous}`` (and the
   previous pin restored), verified on ``/ready``.
5. **report**: a table on stdout, progress on stderr, JSON with ``--report`` (rendering and arguments:
   :mod:`voiceflow_inference.deploy_cli`).

Exit codes: 0 deployed; 1 the model failed validation here; 2 bad usage/configuration; 3 registry error;
4 preflight against the server failed (unreachable, not answering, wrong token, other model); 5 the server refused
the reload (it keeps serving the previous version); 6 a check after the move failed and the server was rolled back;
7 a check failed and the rollback failed too (or there was nothing to roll back to): act now.
In cases 1-5 nothing changed on the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from voiceflow_inference.service_client import ServiceClient

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_REGISTRY = 0, 1, 2, 3
EXIT_PREFLIGHT, EXIT_REFUSED, EXIT_ROLLED_BACK, EXIT_ROLLBACK_FAILED = 4, 5, 6, 7

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_SMOKE_WINDOWS = 5
MAX_SMOKE_WINDOWS = 16  # the service's default limits.max_batch: the batch smoke call must fit
HTTP_SLACK_MS = 240.0  # JSON encode/decode of ~0.4 MB per window + HTTP, on top of the model's p99 budget
READY_POLL_S = 0.2

Result = Literal["deployed", "rolled_back", "refused", "rollback_failed"]
StepStatus = Literal["ok", "failed", "skipped"]


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
class DeployOptions:
    """Parsed ``deploy`` arguments (None: take the default described in ``--help``)."""

    server: str
    version: str
    env: str
    model: str | None = None
    token: str | None = None
    registry: str | None = None
    pin: bool | None = None
    smoke_windows: int = DEFAULT_SMOKE_WINDOWS
    max_latency_ms: float | None = None
    timeout: float = 120.0
    cache_dir: Path | None = None
    validate_latency: bool | None = None


class _DeployStopError(Exception):
    """End the deployment with ``exit_code``; ``check`` names the failed rule."""

    def __init__(self, exit_code: int, check: str, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.check = check


class Deployment:
    """One run of the deploy workflow; :meth:`run` never raises for a failed deploy, it returns the report."""

    def __init__(
        self,
        options: DeployOptions,
        client: ServiceClient,
        *,
        registry_url: str,
        default_validate_latency: bool,
        storage_options: dict[str, Any] | None = None,
        log: Callable[[str], None] = lambda _line: None,
        advance: Callable[[str], None] = lambda _step: None,
    ) -> None:
        self.options = options
        self.client = client
        self.registry_url = registry_url
        self.storage_options = storage_options or {}
        self.validate_latency = (
            options.validate_latency if options.validate_latency is not None else default_validate_latency
        )
        self.log = log
        self.advance = advance
        self.steps: list[DeployStep] = []
        self.model: str | None = options.model
        self.from_version: str | None = None
        self.from_sha256: str | None = None
        self.from_pinned: str | None = None
        self.to_version: str | None = None
        self.sha256: str | None = None
        self.num_speakers: int | None = None
        self.profile_p99_ms: float | None = None
        self.pin: bool | None = options.pin
        self.smoke: SmokeSummary | None = None

    # ------------------------------------------------------------------ bookkeeping
    @contextmanager
    def _step(self, name: str) -> Iterator[list[str]]:
        """Time a step; the body appends its detail line. A _DeployStopError inside records the step as failed."""
        detail: list[str] = []
        started = time.perf_counter()
        self.advance(name)
        try:
            yield detail
        except _DeployStopError as stop:
            self._record(name, "failed", started, str(stop))
            raise
        self._record(name, "ok", started, "; ".join(detail))

    def _record(self, name: str, status: StepStatus, started: float, detail: str) -> None:
        step = DeployStep(name=name, status=status, seconds=round(time.perf_counter() - started, 3), detail=detail)
        self.steps.append(step)
        mark = {"ok": "[green]ok[/]", "failed": "[red]FAILED[/]", "skipped": "[yellow]skipped[/]"}[status]
        self.log(f"{mark} {name}: {detail}")

    def _skip(self, name: str, detail: str) -> None:
        self._record(name, "skipped", time.perf_counter(), detail)

    # ------------------------------------------------------------------ phase 1: nothing changes on the server
    def _preflight(self) -> None:
        from voiceflow_inference.service_client import ServiceCallError

        with self._step("preflight.server") as detail:
            try:
                self.client.health()
                status, ready = self.client.ready()
            except ServiceCallError as exc:
                raise _DeployStopError(EXIT_PREFLIGHT, "preflight.server", str(exc)) from exc
            self.from_version = ready.get("version") if status == 200 else None
            self.from_sha256 = ready.get("sha256") if status == 200 else None
            self.from_pinned = ready.get("pinned")
            served_model = str(ready.get("model") or "")
            if self.model is None:
                self.model = served_model or None
            elif served_model and served_model != self.model:
                raise _DeployStopError(
                    EXIT_PREFLIGHT,
                    "preflight.model",
                    f"the server serves model {served_model!r}, not {self.model!r} (one model per server)",
                )
            if self.model is None:
                raise _DeployStopError(EXIT_USAGE, "preflight.model", "the server names no model: pass --model")
            if ready.get("draining"):
                raise _DeployStopError(EXIT_PREFLIGHT, "preflight.server", "the server is shutting down (draining)")
            ab = ready.get("ab_weights") or {}
            detail.append(
                f"/health 200, /ready {status}: {self.model} {self.from_version or '(nothing served)'}"
                + (f", pinned {self.from_pinned}" if self.from_pinned else "")
                + (f", A/B {ab}" if ab else "")
            )
        with self._step("preflight.admin") as detail:
            try:
                self.client.admin_models()
            except ServiceCallError as exc:
                raise _DeployStopError(EXIT_PREFLIGHT, "preflight.admin", f"admin API refused: {exc}") from exc
            detail.append("token accepted (GET /admin/models 200)")
        if self.pin is None:
            self.pin = self.options.env == "production" or self.from_pinned is not None
        if ab and not self.pin:
            raise _DeployStopError(
                EXIT_PREFLIGHT,
                "preflight.ab",
                f'an A/B split is active ({ab}): end it (POST /admin/ab {{"weights": {{}}}}) or deploy with --pin '
                "(which ends it)",
            )

    def _resolve_pull_validate(self, cache_dir: Path) -> None:
        from voiceflow_contract.errors import ContractError, RegistryError
        from voiceflow_contract.registry import ModelRegistry
        from voiceflow_contract.spec import load_contract
        from voiceflow_contract.validator import validate_model_contract

        model = self.model or ""
        with self._step("registry.resolve") as detail:
            try:
                registry = ModelRegistry(self.registry_url, storage_options=self.storage_options)
                version = registry.resolve(model, self.options.version)
            except (RegistryError, OSError, ValueError) as exc:
                raise _DeployStopError(
                    EXIT_REGISTRY, "registry.resolve", f"{model} {self.options.version}: {exc}"
                ) from exc
            self.to_version = str(version)
            detail.append(f"{model} {self.options.version} -> {version} in {self.registry_url}")
        with self._step("registry.pull") as detail:
            try:
                pulled = registry.pull(model, version, cache_dir)
            except (RegistryError, OSError, ValueError) as exc:
                raise _DeployStopError(EXIT_REGISTRY, "registry.pull", f"{model} {version}: {exc}") from exc
            self.sha256 = pulled.sha256
            self.num_speakers = pulled.metadata.contract.num_speakers
            detail.append(f"sha256 {pulled.sha256[:12]}… verified ({pulled.metadata.file.size_bytes} bytes)")
        with self._step("validate") as detail:
            try:
                contract = load_contract()
                profile = contract.profile(pulled.metadata.profile)
                self.profile_p99_ms = profile.p99_ms
                report = validate_model_contract(
                    pulled.path,
                    contract,
                    profile,
                    num_speakers=self.num_speakers,
                    measure_latency=self.validate_latency,
                )
            except ContractError as exc:
                raise _DeployStopError(EXIT_INVALID, "validate", f"{model} {version}: {exc}") from exc
            if not report.passed:
                failed = "; ".join(f"{c.name}: {c.message}" for c in report.failed_checks)
                raise _DeployStopError(EXIT_INVALID, "validate", f"{model} {version} violates the contract: {failed}")
            checks = len(report.checks)
            latency = "" if self.validate_latency else ", latency not measured"
            detail.append(f"{checks} contract checks passed (profile {profile.name}{latency})")

    # ------------------------------------------------------------------ phase 2: the server moves
    def _wait_ready(self, version: str, sha256: str | None) -> str:
        """Poll /ready until it serves ``version`` (with ``sha256``); returns a detail line, else raises."""
        from voiceflow_inference.service_client import ServiceCallError

        deadline = time.monotonic() + self.options.timeout
        last = "no answer"
        while True:
            try:
                status, ready = self.client.ready()
                last = f"/ready {status} serving {ready.get('version')}"
                if status == 200 and ready.get("version") == version:
                    if sha256 is not None and ready.get("sha256") != sha256:
                        raise _DeployStopError(
                            EXIT_ROLLED_BACK,
                            "ready",
                            f"/ready serves {version} with sha256 {str(ready.get('sha256'))[:12]}…, the registry "
                            f"has {sha256[:12]}…",
                        )
                    return f"/ready 200 on {version}" + (f", sha256 {sha256[:12]}…" if sha256 else "")
            except ServiceCallError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                raise _DeployStopError(
                    EXIT_ROLLED_BACK,
                    "ready",
                    f"/ready did not report {version} within {self.options.timeout:g} s (last: {last})",
                )
            time.sleep(READY_POLL_S)

    def _move(self) -> None:
        from voiceflow_inference.service_client import ServiceCallError

        target = self.to_version or ""
        with self._step("reload") as detail:
            try:
                self.client.reload(target)
            except ServiceCallError as exc:
                if exc.status is not None and exc.status < 500:
                    # The server answered and refused: the previous model keeps serving, nothing to undo.
                    raise _DeployStopError(EXIT_REFUSED, "reload", f"the server refused {target}: {exc}") from exc
                raise _DeployStopError(EXIT_ROLLED_BACK, "reload", str(exc)) from exc
            detail.append(f'POST /admin/reload {{"version": "{target}"}} 200')
        if self.pin:
            with self._step("pin") as detail:
                try:
                    self.client.pin(target)
                except ServiceCallError as exc:
                    raise _DeployStopError(EXIT_ROLLED_BACK, "pin", str(exc)) from exc
                detail.append(f"pinned {target}")
        elif self.from_pinned is not None:
            with self._step("unpin") as detail:
                try:
                    self.client.pin(None)
                except ServiceCallError as exc:
                    raise _DeployStopError(EXIT_ROLLED_BACK, "unpin", str(exc)) from exc
                detail.append(f"pin on {self.from_pinned} removed (--no-pin): the server follows its model_ref")
        else:
            self._skip("pin", "not pinned (the server keeps following its configured model_ref)")
        with self._step("ready") as detail:
            detail.append(self._wait_ready(target, self.sha256))

    def budget_ms(self) -> float:
        """The smoke latency budget: --max-latency-ms, else the model profile's p99 budget + HTTP slack."""
        if self.options.max_latency_ms is not None:
            return self.options.max_latency_ms
        return (self.profile_p99_ms if self.profile_p99_ms is not None else 10.0) + HTTP_SLACK_MS

    def _smoke(self) -> None:
        from voiceflow_inference.smoke import run_smoke

        budget = self.budget_ms()
        self.advance("smoke")
        result = run_smoke(
            self.client,
            model=self.model or "",
            version=self.to_version or "",
            sha256=self.sha256,
            num_speakers=self.num_speakers,
            windows=self.options.smoke_windows,
            max_latency_ms=budget,
        )
        lat = result.latencies_ms
        self.smoke = SmokeSummary(
            calls=len(lat),
            p50_ms=_round(result.percentile_ms(50)),
            p99_ms=_round(result.percentile_ms(99)),
            max_ms=_round(max(lat) if lat else None),
            budget_ms=budget,
        )
        for check in result.checks:
            self._record(
                check.name, "ok" if check.passed else "failed", time.perf_counter() - check.seconds, check.detail
            )
        failure = result.first_failure
        if failure is not None:
            raise _DeployStopError(EXIT_ROLLED_BACK, failure.name, failure.detail)

    def _rollback(self) -> tuple[bool, str]:
        """Put the previous version back (and its pin); returns (ok, detail)."""
        from voiceflow_inference.service_client import ServiceCallError

        previous = self.from_version
        if previous is None:
            self._skip("rollback", "nothing was served before the deploy: no version to roll back to")
            return False, "nothing was served before the deploy, so there is no version to roll back to"
        try:
            with self._step("rollback") as detail:
                try:
                    self.client.rollback(previous)
                    detail.append(f'POST /admin/rollback {{"version": "{previous}"}} 200')
                    if self.from_pinned == previous:
                        self.client.pin(previous)
                        detail.append(f"re-pinned {previous}")
                except ServiceCallError as exc:
                    raise _DeployStopError(EXIT_ROLLBACK_FAILED, "rollback", str(exc)) from exc
                detail.append(self._wait_ready(previous, self.from_sha256))
        except _DeployStopError as stop:
            return False, str(stop)
        return True, f"rolled back to {previous}"

    # ------------------------------------------------------------------ driver
    def run(self, cache_dir: Path) -> DeployReport:
        """Preflight, move, smoke test; roll back on a failure after the move. Never raises for a failed deploy."""
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        exit_code: int = EXIT_OK
        result: Result = "deployed"
        check: str | None = None
        touched = False
        try:
            try:
                self._preflight()
                self._resolve_pull_validate(cache_dir)
                touched = True
                self._move()
                self._smoke()
            except _DeployStopError:
                raise
            except Exception as exc:  # a bug or an unforeseen error must still roll back a moved server
                raise _DeployStopError(EXIT_ROLLED_BACK, "internal", f"{type(exc).__name__}: {exc}") from exc
            message = f"{self.model} {self.from_version or '(none)'} -> {self.to_version} deployed"
        except _DeployStopError as stop:
            check, message = stop.check, str(stop)
            if not touched or stop.exit_code == EXIT_REFUSED:
                exit_code, result = stop.exit_code, "refused"
                if check == "internal":
                    exit_code = EXIT_USAGE
            else:
                ok, detail = self._rollback()
                exit_code = EXIT_ROLLED_BACK if ok else EXIT_ROLLBACK_FAILED
                result = "rolled_back" if ok else "rollback_failed"
                message = f"{check} failed: {message}; {detail}"
        final_version = None
        try:
            final_version = self.client.ready()[1].get("version")
        except Exception:  # the report must be written even when the server is gone
            final_version = None
        return DeployReport(
            server=self.client.base_url,
            env=self.options.env,
            registry=self.registry_url,
            model=self.model,
            requested=self.options.version,
            from_version=self.from_version,
            to_version=self.to_version,
            sha256=self.sha256,
            final_version=final_version,
            pin=self.pin,
            result=result,
            failed_check=check,
            message=message,
            exit_code=exit_code,
            started_at=started_at,
            seconds=round(time.perf_counter() - started, 3),
            steps=self.steps,
            smoke=self.smoke,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


__all__ = [
    "DEFAULT_SERVER",
    "DEFAULT_SMOKE_WINDOWS",
    "HTTP_SLACK_MS",
    "MAX_SMOKE_WINDOWS",
    "DeployOptions",
    "DeployReport",
    "DeployStep",
    "Deployment",
    "SmokeSummary",
]
