"""Load-time contract validation in a child process under a memory cap, so a hostile candidate model (one that
allocates gigabytes at run time, or crashes ONNX Runtime) is refused and the serving process keeps its model.

The parent runs ``python -m voiceflow_inference.lifecycle.isolated_validation`` with the request as JSON on stdin; the
child caps its address space (``resource.setrlimit(RLIMIT_AS)``, ``limits.validation_memory_mb``), runs
:func:`voiceflow_contract.validator.validate_model_contract` (``isolate=False``: this child is the isolation) and
prints the report JSON on stdout. A child that is killed, exits non-zero, prints no report or outlives
``limits.validation_timeout_s`` refuses the model.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from voiceflow_contract.schemas import ValidationReport

_MIB = 1024 * 1024


class ValidationProcessError(RuntimeError):
    """The validator process died, timed out or printed no report; the message says which (and the memory cap)."""


def validate_in_child(
    path: Path,
    *,
    profile: str | None,
    num_speakers: int | None,
    threads: int,
    providers: list[str],
    measure_latency: bool,
    memory_mb: int,
    timeout_s: float,
) -> ValidationReport:
    """Validate ``path`` in a fresh interpreter capped at ``memory_mb`` MiB of address space."""
    request = {
        "path": str(path),
        "profile": profile,
        "num_speakers": num_speakers,
        "threads": threads,
        "providers": providers,
        "measure_latency": measure_latency,
        "memory_mb": memory_mb,
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-m", __name__],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ValidationProcessError(f"the validator did not finish within {timeout_s:g} s and was killed") from exc
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-2:])[-300:]
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited {proc.returncode}"
        raise ValidationProcessError(
            f"the validator process {how} (memory cap {memory_mb} MiB: a model that needs more is refused)"
            + (f": {tail}" if tail else "")
        )
    try:
        return ValidationReport.model_validate_json(proc.stdout)
    except ValueError as exc:
        raise ValidationProcessError(f"the validator process printed no readable report: {exc}") from exc


def _child(request: dict[str, Any]) -> int:
    cap = int(request["memory_mb"]) * _MIB
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # Imported after the cap so the validator's own start-up is inside it (onnx and onnxruntime are heavy).
    from voiceflow_contract.validator import validate_model_contract

    report = validate_model_contract(
        request["path"],
        profile=request["profile"],
        num_speakers=request["num_speakers"],
        threads=int(request["threads"]),
        providers=list(request["providers"]),
        measure_latency=bool(request["measure_latency"]),
        # This process is the isolation (capped above, killed on timeout): a second, validator-owned child per load
        # would only double the start-up cost.
        isolate=False,
    )
    sys.stdout.write(report.model_dump_json())
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(json.loads(sys.stdin.read())))
