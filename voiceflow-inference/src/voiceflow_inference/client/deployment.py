"""The deploy workflow (steps and exit codes: :mod:`voiceflow_inference.client.deploy_options`): preflight and local
validation (:mod:`~voiceflow_inference.client.deploy_preflight`), then the move on the server (reload, pin, wait for
``/ready``), the smoke test, and the rollback when a check after the move fails."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voiceflow_inference.client.deploy_options import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_ROLLBACK_FAILED,
    EXIT_ROLLED_BACK,
    EXIT_USAGE,
    HTTP_SLACK_MS,
    READY_POLL_S,
    DeployOptions,
)
from voiceflow_inference.client.deploy_preflight import check_server, resolve_pull_validate
from voiceflow_inference.client.deploy_report import (
    DeployFindings,
    DeployReport,
    DeployStopError,
    Result,
    SmokeSummary,
    StepLog,
)
from voiceflow_inference.client.service_client import ServiceCallError, ServiceClient
from voiceflow_inference.client.smoke import run_smoke


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
        self.steps = StepLog(log, advance)
        self.found = DeployFindings(model=options.model, pin=options.pin)
        self.smoke: SmokeSummary | None = None

    # ------------------------------------------------------------------ phase 2: the server moves
    def _wait_ready(self, version: str, sha256: str | None) -> str:
        """Poll /ready until it serves ``version`` (with ``sha256``); returns a detail line, else raises."""
        deadline = time.monotonic() + self.options.timeout
        last = "no answer"
        while True:
            try:
                status, ready = self.client.ready()
                last = f"/ready {status} serving {ready.get('version')}"
                if status == 200 and ready.get("version") == version:
                    if sha256 is not None and ready.get("sha256") != sha256:
                        raise DeployStopError(
                            EXIT_ROLLED_BACK,
                            "ready",
                            f"/ready serves {version} with sha256 {str(ready.get('sha256'))[:12]}…, the registry "
                            f"has {sha256[:12]}…",
                        )
                    return f"/ready 200 on {version}" + (f", sha256 {sha256[:12]}…" if sha256 else "")
            except ServiceCallError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                raise DeployStopError(
                    EXIT_ROLLED_BACK,
                    "ready",
                    f"/ready did not report {version} within {self.options.timeout:g} s (last: {last})",
                )
            time.sleep(READY_POLL_S)

    def _move(self) -> None:
        """Reload the resolved version on the server, pin (or unpin) it, and wait until ``/ready`` serves it."""
        target = self.found.to_version or ""
        with self.steps.step("reload") as detail:
            try:
                self.client.reload(target)
            except ServiceCallError as exc:
                if exc.status is not None and exc.status < 500:
                    # The server answered and refused: the previous model keeps serving, nothing to undo.
                    raise DeployStopError(EXIT_REFUSED, "reload", f"the server refused {target}: {exc}") from exc
                raise DeployStopError(EXIT_ROLLED_BACK, "reload", str(exc)) from exc
            detail.append(f'POST /admin/reload {{"version": "{target}"}} 200')
        if self.found.pin:
            with self.steps.step("pin") as detail:
                try:
                    self.client.pin(target)
                except ServiceCallError as exc:
                    raise DeployStopError(EXIT_ROLLED_BACK, "pin", str(exc)) from exc
                detail.append(f"pinned {target}")
        elif self.found.from_pinned is not None:
            with self.steps.step("unpin") as detail:
                try:
                    self.client.pin(None)
                except ServiceCallError as exc:
                    raise DeployStopError(EXIT_ROLLED_BACK, "unpin", str(exc)) from exc
                detail.append(f"pin on {self.found.from_pinned} removed (--no-pin): the server follows its model_ref")
        else:
            self.steps.skip("pin", "not pinned (the server keeps following its configured model_ref)")
        with self.steps.step("ready") as detail:
            detail.append(self._wait_ready(target, self.found.sha256))

    # ------------------------------------------------------------------ phase 3: smoke test
    def budget_ms(self) -> float:
        """The smoke latency budget: --max-latency-ms, else the model profile's p99 budget + HTTP slack."""
        if self.options.max_latency_ms is not None:
            return self.options.max_latency_ms
        p99 = self.found.profile_p99_ms
        return (p99 if p99 is not None else 10.0) + HTTP_SLACK_MS

    def _smoke(self) -> None:
        """Run the smoke test against the moved server; its checks become steps, the first failure stops."""
        budget = self.budget_ms()
        self.steps.advance("smoke")
        result = run_smoke(
            self.client,
            model=self.found.model or "",
            version=self.found.to_version or "",
            sha256=self.found.sha256,
            num_speakers=self.found.num_speakers,
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
            self.steps.record(
                check.name, "ok" if check.passed else "failed", time.perf_counter() - check.seconds, check.detail
            )
        failure = result.first_failure
        if failure is not None:
            raise DeployStopError(EXIT_ROLLED_BACK, failure.name, failure.detail)

    # ------------------------------------------------------------------ phase 4: rollback
    def _rollback(self) -> tuple[bool, str]:
        """Put the previous version back (and its pin); returns (ok, detail)."""
        previous = self.found.from_version
        if previous is None:
            self.steps.skip("rollback", "nothing was served before the deploy: no version to roll back to")
            return False, "nothing was served before the deploy, so there is no version to roll back to"
        try:
            with self.steps.step("rollback") as detail:
                try:
                    self.client.rollback(previous)
                    detail.append(f'POST /admin/rollback {{"version": "{previous}"}} 200')
                    if self.found.from_pinned == previous:
                        self.client.pin(previous)
                        detail.append(f"re-pinned {previous}")
                except ServiceCallError as exc:
                    raise DeployStopError(EXIT_ROLLBACK_FAILED, "rollback", str(exc)) from exc
                detail.append(self._wait_ready(previous, self.found.from_sha256))
        except DeployStopError as stop:
            return False, str(stop)
        return True, f"rolled back to {previous}"

    # ------------------------------------------------------------------ driver
    def _preflight(self, cache_dir: Path) -> None:
        """Phase 1 (nothing changes on the server): the server and token, then resolve, pull and validate here."""
        check_server(self.client, self.found, self.steps, self.options.env)
        resolve_pull_validate(
            self.found,
            self.steps,
            registry_url=self.registry_url,
            storage_options=self.storage_options,
            ref=self.options.version,
            cache_dir=cache_dir,
            measure_latency=self.validate_latency,
        )

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
                self._preflight(cache_dir)
                touched = True
                self._move()
                self._smoke()
            except DeployStopError:
                raise
            except Exception as exc:  # a bug or an unforeseen error must still roll back a moved server
                raise DeployStopError(EXIT_ROLLED_BACK, "internal", f"{type(exc).__name__}: {exc}") from exc
            message = f"{self.found.model} {self.found.from_version or '(none)'} -> {self.found.to_version} deployed"
        except DeployStopError as stop:
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
        return self._report(started_at, started, result, check, message, exit_code)

    def _report(
        self, started_at: datetime, started: float, result: Result, check: str | None, message: str, exit_code: int
    ) -> DeployReport:
        final_version = None
        try:
            final_version = self.client.ready()[1].get("version")
        except Exception:  # the report must be written even when the server is gone
            final_version = None
        found = self.found
        return DeployReport(
            server=self.client.base_url,
            env=self.options.env,
            registry=self.registry_url,
            model=found.model,
            requested=self.options.version,
            from_version=found.from_version,
            to_version=found.to_version,
            sha256=found.sha256,
            final_version=final_version,
            pin=found.pin,
            result=result,
            failed_check=check,
            message=message,
            exit_code=exit_code,
            started_at=started_at,
            seconds=round(time.perf_counter() - started, 3),
            steps=self.steps.steps,
            smoke=self.smoke,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


__all__ = ["Deployment"]
