"""The validator's entry point: every rule in order, into one :class:`ValidationReport`.

``validate_model_contract`` never raises because a model is bad; it returns a report whose failed checks name the
broken rules (catalogue in :mod:`.rules`). Every ONNX / ONNX Runtime exception becomes a failed check, and every
inference run is bounded in time (``run_timeout_s``, see :mod:`.runner`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from voiceflow_contract import __version__
from voiceflow_contract.hashing import sha256_bytes
from voiceflow_contract.schemas.report import CheckStatus, LatencyStats, ValidationReport
from voiceflow_contract.spec import ModelContract, Profile, load_contract
from voiceflow_contract.validator.graph_walk import data_dependent_allocations
from voiceflow_contract.validator.isolation import ChildJob, judge_memory, run_in_process, run_isolated
from voiceflow_contract.validator.measurement import ProgressCallback, host_info
from voiceflow_contract.validator.rules import Checks, rule_names
from voiceflow_contract.validator.runner import RUN_TIMEOUT_S, choose_providers
from voiceflow_contract.validator.runtime_checks import RuntimeResult
from voiceflow_contract.validator.runtime_stage import RuntimeOptions
from voiceflow_contract.validator.static_checks import check_file, check_graph, check_parse

VALIDATOR_VERSION = __version__
CHILD_SILENCE_S = 120.0  # beyond one run's bound: longest the runtime child may stay silent (building a session)


def validate_model_contract(
    path: str | Path,
    contract: ModelContract | None = None,
    profile: str | Profile | None = None,
    *,
    num_speakers: int | None = None,
    threads: int = 1,
    providers: Sequence[str] | None = None,
    latency_runs: int | None = None,
    measure_latency: bool = True,
    on_latency_run: ProgressCallback | None = None,
    run_timeout_s: float = RUN_TIMEOUT_S,
    isolate: bool = True,
) -> ValidationReport:
    """Check the ONNX model at ``path`` against the contract and ``profile``'s budgets.

    Args:
        path: the model.onnx file.
        contract: the contract (default: the packaged model_contract.yaml).
        profile: a profile name or object (default: the contract's default profile). An unknown name raises
            ContractError: that is a caller error, not a bad model.
        num_speakers: the speaker count the model states (metadata.json); checked against the output when given.
        threads: ONNX Runtime intra-op threads (recorded in the report).
        providers: execution providers to try (default: CUDA first for a GPU profile when present, else CPU).
        latency_runs: timed runs for latency.p99 (default: the contract's ``latency_timed_runs``).
        measure_latency: False skips latency.p99 (reported as SKIPPED).
        on_latency_run: progress callback ``(done, total)`` during the timed runs.
        run_timeout_s: longest single inference run; a run past it is terminated and fails its rule.
        isolate: run the ONNX Runtime stage in a memory-limited child process (``runtime.memory``, see
            :mod:`.isolation`); False runs it in this process (debugging; the memory limit is then not applied).

    Returns:
        The report; ``report.passed`` is False when any rule failed. Never raises because of the model.
    """
    contract = contract or load_contract()
    chosen = profile if isinstance(profile, Profile) else contract.profile(profile)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    runs = latency_runs if latency_runs is not None else contract.validation.latency_timed_runs
    if runs < 1:
        raise ValueError(f"latency_runs must be >= 1, got {runs}")
    if not run_timeout_s > 0:
        raise ValueError(f"run_timeout_s must be > 0, got {run_timeout_s}")

    model_path = Path(path)
    checks = Checks()
    session_providers, available = choose_providers(chosen, providers)
    latency: LatencyStats | None = None
    runtime = RuntimeResult()
    sha = ""

    try:
        options = RuntimeOptions(
            num_speakers, threads, runs, measure_latency, session_providers, available, run_timeout_s
        )  # fmt: skip
        sha, latency = run_rules(checks, model_path, contract, chosen, runtime, options, on_latency_run, isolate)
    except Exception as exc:  # a validator bug must still produce a failed report, never crash the caller
        checks.fail("validator.error", f"unexpected {type(exc).__name__}: {exc}", measured="error", limit="none")
        checks.block("validator.error")

    results = checks.ordered(rule_names(contract))
    return ValidationReport(
        model_path=str(model_path),
        model_sha256=sha or checks.sha256,
        contract_name=contract.name,
        contract_version=contract.version,
        profile=chosen.name,
        passed=not any(r.status is CheckStatus.FAILED for r in results),
        checks=results,
        latency=latency,
        num_speakers=runtime.num_speakers,
        embedding_dim=runtime.embedding_dim,
        created_at=datetime.now(UTC),
        validator_version=VALIDATOR_VERSION,
        host=host_info(threads, available, checks.session_providers or session_providers),
    )


def run_rules(
    checks: Checks,
    model_path: Path,
    contract: ModelContract,
    chosen: Profile,
    runtime: RuntimeResult,
    options: RuntimeOptions,
    on_latency_run: ProgressCallback | None = None,
    isolate: bool = True,
) -> tuple[str, LatencyStats | None]:
    """Every rule in order; returns (sha256, latency). Rules not reached are filled in by the caller."""
    sha = ""
    latency: LatencyStats | None = None
    data = check_file(checks, model_path, chosen, contract)
    if data is not None:
        sha = checks.sha256 = sha256_bytes(data)
        model = check_parse(checks, data)
        graph = check_graph(checks, model, contract, options.num_speakers) if model is not None else None
        if graph is not None and model is not None:
            job = ChildJob(data, graph, contract, chosen, options)
            if isolate:
                outcome = run_isolated(job, on_latency_run, silence_s=options.run_timeout_s + CHILD_SILENCE_S)
            else:
                outcome = run_in_process(job, on_latency_run)
            if not isinstance(outcome, str):
                checks.results.update(outcome.results)
                checks.session_providers = outcome.session_providers
                runtime.num_speakers, runtime.embedding_dim = outcome.num_speakers, outcome.embedding_dim
                latency = outcome.latency
                if outcome.blocked_by:
                    checks.block(outcome.blocked_by)
            judge_memory(checks, outcome, chosen, data_dependent_allocations(model))
    return sha, latency


__all__ = ["VALIDATOR_VERSION", "run_rules", "validate_model_contract"]
