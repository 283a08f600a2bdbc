"""The runtime checks in a separate, memory-limited child process, judged by the ``runtime.memory`` rule.

Issue 12 finding 1: a 16 KB model computing ``ConstantOfShape(Shape(audio) * [1, K])`` is sized at run time, so no
static rule sees it, and it allocated 3 GB on the batch-8 probe: the validator (and the server that ran it in-process)
was OOM-killed and wrote no report. Now every ONNX Runtime session of the validator lives in a child process:

* **Limit.** The child sets ``RLIMIT_AS`` (address space) to its own size after start-up plus twice the profile's
  ``max_memory_mb``. RLIMIT_AS needs no root and works in any container (a cgroup needs write access to the cgroup
  tree); it counts address space, not memory, and ONNX Runtime's arena and thread stacks reserve more address space
  than they touch (GE2E: ~400 MiB of address space for ~65 MiB of RSS), hence the factor 2. CUDA reserves tens of GB of
  address space, so on a CUDA session the limit is not set and only the measured peak bounds the model.
* **Measure.** The child resets its peak-RSS counter (``/proc/self/clear_refs``) before building the session and
  reports ``VmHWM - VmRSS at start``: the memory the model added over every run (batch sizes, value probes, latency).
* **Judge.** Over ``max_memory_mb``, an allocation that failed under the limit, or a child killed (OOM killer, signal)
  fails ``runtime.memory`` with the budget in the message; the parent always writes the report.

The child comes from a ``forkserver`` that has the validator imported (a fork per validation: milliseconds, and no
threads of the caller are copied, unlike a plain fork of a serving process).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import sys
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from voiceflow_contract.schemas.report import CheckResult, LatencyStats
from voiceflow_contract.spec import ModelContract, Profile
from voiceflow_contract.validator.measurement import ProgressCallback
from voiceflow_contract.validator.rules import Checks
from voiceflow_contract.validator.runtime_stage import RuntimeOptions, RuntimeResult, run_runtime_stage

ADDRESS_SPACE_FACTOR = 2.0  # RLIMIT_AS headroom per MiB of budget (arena and thread stacks reserve, not touch)
ALLOCATION_FAILURES = ("failed to allocate", "bad_alloc", "memoryerror", "unable to allocate", "cannot allocate")
MIB = 2**20


@dataclass
class ChildJob:
    """Everything the child needs (pickled across the process boundary)."""

    data: bytes
    graph: Any  # GraphFacts
    contract: ModelContract
    profile: Profile
    options: RuntimeOptions


@dataclass
class ChildOutcome:
    """What the child sends back: its check results, latency, runtime facts and memory measurements."""

    results: dict[str, CheckResult] = field(default_factory=dict)
    blocked_by: str | None = None
    session_providers: list[str] = field(default_factory=list)
    latency: LatencyStats | None = None
    num_speakers: int | None = None
    embedding_dim: int | None = None
    baseline_mib: float = 0.0
    peak_mib: float = 0.0
    limit_mib: float | None = None


def _status_mib(key: str) -> float:
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _limit_memory(job: ChildJob) -> float | None:
    """Set RLIMIT_AS to the current address space plus the budget's headroom; returns the limit in MiB (or None)."""
    if any("CUDA" in p for p in job.options.session_providers) or not sys.platform.startswith("linux"):
        return None
    limit_mib = _status_mib("VmSize") + ADDRESS_SPACE_FACTOR * job.profile.max_memory_mb
    limit = int(limit_mib * MIB)
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
        return limit_mib
    return None


def _execute(job: ChildJob, on_progress: ProgressCallback | None, *, isolated: bool) -> ChildOutcome:
    """The runtime stage with its memory measured (and, ``isolated``, limited: only ever in the child)."""
    outcome = ChildOutcome()
    if isolated:
        outcome.limit_mib = _limit_memory(job)
        with contextlib.suppress(OSError), Path("/proc/self/clear_refs").open("w", encoding="ascii") as refs:
            refs.write("5")  # reset the peak-RSS counter: measure this model, not the forkserver's history
    outcome.baseline_mib = _status_mib("VmRSS")
    checks = Checks()
    runtime = RuntimeResult()
    try:
        outcome.latency = run_runtime_stage(
            checks, job.data, job.graph, job.contract, job.profile, runtime, job.options, on_progress
        )
    except MemoryError:
        checks.block("memory exhausted")
        checks.fail("runtime.memory", "memory exhausted (MemoryError)", measured="exhausted", limit=0)
    outcome.peak_mib = max(_status_mib("VmHWM"), outcome.baseline_mib)
    outcome.results, outcome.blocked_by = checks.results, checks.blocked_by
    outcome.session_providers = checks.session_providers
    outcome.num_speakers, outcome.embedding_dim = runtime.num_speakers, runtime.embedding_dim
    return outcome


def _child(job: ChildJob, conn: Connection) -> None:
    """Child entry point: runtime checks under the memory limit, progress and the outcome sent over ``conn``."""
    outcome = _execute(job, lambda done, total: conn.send(("progress", done, total)), isolated=True)
    conn.send(("done", outcome))
    conn.close()


def run_in_process(job: ChildJob, on_progress: ProgressCallback | None) -> ChildOutcome:
    """The runtime stage in this process (``isolate=False``): measured, not limited."""
    return _execute(job, on_progress, isolated=False)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["voiceflow_contract.validator.runtime_stage"])
        return context
    return multiprocessing.get_context("spawn")


def run_isolated(job: ChildJob, on_progress: ProgressCallback | None, silence_s: float) -> ChildOutcome | str:
    """Run the runtime stage in a child; the outcome, or why the child produced none (killed, crashed, silent)."""
    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(job, send), name="voiceflow-validator-runtime", daemon=True)
    process.start()
    send.close()
    try:
        while True:
            if not receive.poll(silence_s):
                process.kill()
                return f"the runtime checks sent nothing for {silence_s:g} s and were stopped"
            try:
                message = receive.recv()
            except (EOFError, OSError):
                break
            if message[0] == "progress" and on_progress is not None:
                on_progress(message[1], message[2])
            elif message[0] == "done":
                return message[1]  # type: ignore[no-any-return]
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()
        receive.close()
    code = process.exitcode
    if code is not None and code < 0:
        return f"the runtime checks were killed by signal {-code} (out of memory: the kernel's OOM killer or the limit)"
    return f"the runtime checks crashed (exit code {code}), most likely out of memory"


def judge_memory(checks: Checks, outcome: ChildOutcome | str, profile: Profile, allocators: list[str]) -> None:
    """runtime.memory from the child's outcome; ``allocators`` (data-dependent allocation ops) are reported."""
    budget = profile.max_memory_mb
    note = f"; data-dependent allocations (bounded by this budget): {', '.join(allocators[:3])}" if allocators else ""
    if isinstance(outcome, str):
        checks.fail("runtime.memory", f"{outcome}; budget {budget:g} MiB{note}", "killed", budget, "MiB")
        checks.block("runtime.memory failed: the runtime checks did not finish")
        return
    if "runtime.memory" in outcome.results or "runtime.session" not in outcome.results:
        return
    if outcome.results["runtime.session"].status.value == "failed":
        return
    used = round(outcome.peak_mib - outcome.baseline_mib, 1)
    failed_alloc = [
        r.name for r in outcome.results.values() if any(m in r.message.lower() for m in ALLOCATION_FAILURES)
    ]
    limit = f"{outcome.limit_mib:.0f} MiB address-space limit" if outcome.limit_mib else "no address-space limit"
    if failed_alloc:
        checks.fail(
            "runtime.memory",
            f"an allocation failed in {failed_alloc[0]} under the {limit} "
            f"(profile {profile.name}: {budget:g} MiB){note}",
            "over limit",
            budget,
            "MiB",
        )
    else:
        checks.check(
            "runtime.memory",
            used <= budget,
            f"peak RSS {outcome.peak_mib:.0f} MiB ({used:g} MiB above the {outcome.baseline_mib:.0f} MiB before the "
            f"session; profile {profile.name} allows {budget:g} MiB; {limit}){note}",
            used,
            budget,
            "MiB",
        )


__all__ = ["ADDRESS_SPACE_FACTOR", "ChildJob", "ChildOutcome", "judge_memory", "run_in_process", "run_isolated"]
