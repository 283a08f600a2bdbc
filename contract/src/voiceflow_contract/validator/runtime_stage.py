"""The runtime stage: one ONNX Runtime session, the batch and value checks and the latency runs.

Run by :mod:`.isolation` inside the memory-limited child process (``validate_model_contract(isolate=False)`` runs it
in the caller's process). onnxruntime is an optional extra of the contract (``cpu`` / ``gpu``), imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voiceflow_contract.schemas.report import LatencyStats
from voiceflow_contract.spec import ModelContract, Profile
from voiceflow_contract.validator.measurement import ProgressCallback, check_latency
from voiceflow_contract.validator.rules import Checks
from voiceflow_contract.validator.runner import RUN_TIMEOUT_S, BoundedSession, open_session
from voiceflow_contract.validator.runtime_checks import RuntimeResult, check_batches, check_values
from voiceflow_contract.validator.static_checks import GraphFacts


@dataclass(frozen=True)
class RuntimeOptions:
    """How the runtime stage runs: the caller's choices, passed unchanged through the isolation child."""

    num_speakers: int | None = None
    threads: int = 1
    runs: int = 1
    measure_latency: bool = True
    session_providers: list[str] = field(default_factory=list)
    available: list[str] = field(default_factory=list)
    run_timeout_s: float = RUN_TIMEOUT_S


def run_runtime_stage(
    checks: Checks,
    data: bytes,
    graph: GraphFacts,
    contract: ModelContract,
    chosen: Profile,
    runtime: RuntimeResult,
    options: RuntimeOptions,
    on_latency_run: ProgressCallback | None = None,
) -> LatencyStats | None:
    """runtime.session, runtime.batch_<n>, output.* value rules and latency.p99; returns the latency stats."""
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]  # optional extra (cpu / gpu)

    latency: LatencyStats | None = None
    try:
        session = BoundedSession(open_session(data, options.threads, options.session_providers), options.run_timeout_s)
    except Exception as exc:  # ORT raises Fail/InvalidGraph/NotImplemented... for bad models
        checks.fail("runtime.session", f"ONNX Runtime cannot load the model: {exc}", measured=False, limit=True)
        checks.block("runtime.session failed")
        return None
    session_providers = checks.session_providers = list(session.get_providers())
    checks.ok("runtime.session", f"onnxruntime {ort.__version__} on {session_providers}", True, True)
    try:
        if check_batches(checks, session, graph, contract, runtime):
            check_values(checks, session, graph, contract, runtime, options.num_speakers)
            if options.measure_latency:
                latency = check_latency(
                    checks,
                    session,
                    graph,
                    contract,
                    chosen,
                    threads=options.threads,
                    runs=options.runs,
                    session_providers=session_providers,
                    available=options.available,
                    on_run=on_latency_run,
                )
            else:
                checks.skip("latency.p99", "latency measurement disabled (--no-latency)", limit=chosen.p99_ms)
        else:
            checks.block("the model runs at no batch size")
    finally:
        session.close()
    return latency


__all__ = ["RuntimeOptions", "RuntimeResult", "run_runtime_stage"]
