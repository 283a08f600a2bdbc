"""Runtime checks: the model really runs at each batch size, and its outputs are well-formed on every probe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voiceflow_contract.spec import ModelContract
from voiceflow_contract.validator.probes import Array, probe_shape, probes
from voiceflow_contract.validator.rules import Checks
from voiceflow_contract.validator.runner import RunTimeoutError, run_outputs
from voiceflow_contract.validator.static_checks import GraphFacts, fmt_shape


@dataclass
class RuntimeResult:
    """Primary-output rows and every output, per probe name, for the value checks."""

    outputs: dict[str, dict[str, Array]] = field(default_factory=dict)
    num_speakers: int | None = None
    embedding_dim: int | None = None


def check_batches(
    checks: Checks, session: Any, graph: GraphFacts, contract: ModelContract, result: RuntimeResult
) -> bool:
    """runtime.batch_<n>: the model really runs at each batch size and returns [n, ...] on every output."""
    window = contract.window_samples
    batch_one_ok = False
    for batch in contract.validation.batch_sizes:
        rule = f"runtime.batch_{batch}"
        shape = probe_shape(graph.input, batch, window)
        audio = probes(shape, graph.probe_dtype, seed=batch)["random"]
        expected = [batch, *fmt_shape(graph.primary.shape[1:])]
        try:
            outs = run_outputs(session, graph.input.name, audio)
        except RunTimeoutError as exc:  # one hung run is enough: the other batch sizes would hang as long
            checks.fail(rule, f"inference at batch {batch} failed: {exc}", measured="timeout", limit=expected)
            break
        except Exception as exc:  # any ORT failure (shape mismatch, kernel error, bad alloc) is this rule failing
            checks.fail(rule, f"inference at batch {batch} failed: {exc}", measured="error", limit=expected)
            continue
        primary = outs.get(graph.primary.name)
        if primary is None:
            checks.fail(rule, f"output {graph.primary.name!r} missing at runtime", measured=list(outs), limit=expected)
            continue
        wrong = [f"{n} {list(v.shape)}" for n, v in outs.items() if v.ndim == 0 or v.shape[0] != batch]
        fixed_mismatch = [
            axis
            for axis, dim in enumerate(graph.primary.shape)
            if axis > 0 and isinstance(dim, int) and axis < primary.ndim and primary.shape[axis] != dim
        ]
        if wrong or fixed_mismatch:
            detail = f"outputs without batch {batch} first: {wrong}" if wrong else f"axes {fixed_mismatch} differ"
            checks.fail(rule, detail, measured=list(primary.shape), limit=expected)
            continue
        checks.ok(rule, f"input {shape} -> {graph.primary.name} {list(primary.shape)}", list(primary.shape), expected)
        result.outputs[f"batch_{batch}"] = outs
        if batch == 1:
            batch_one_ok = True
    return batch_one_ok or any(r.startswith("batch_") for r in result.outputs)


def check_values(
    checks: Checks,
    session: Any,
    graph: GraphFacts,
    contract: ModelContract,
    result: RuntimeResult,
    num_speakers: int | None,
) -> None:
    """output.num_speakers, output.finite and output.softmax on random, silent and loud probes (batch 1)."""
    shape = probe_shape(graph.input, 1, contract.window_samples)
    for probe, audio in probes(shape, graph.probe_dtype).items():
        try:
            result.outputs[probe] = run_outputs(session, graph.input.name, audio)
        except Exception as exc:  # a model that fails on silence or clipping fails the finiteness rule
            checks.fail("output.finite", f"inference on the {probe} probe failed: {exc}", measured="error", limit=0)
            checks.skip("output.softmax", "not run: output.finite failed")
            break

    # ---- num_speakers: the declared dim when fixed, else what the model returned
    meta = contract.metadata
    primary_shapes = [o[graph.primary.name].shape for o in result.outputs.values() if graph.primary.name in o]
    declared = graph.primary.shape[1] if len(graph.primary.shape) == 2 else None
    if len(graph.primary.shape) != 2 or not primary_shapes or len(primary_shapes[0]) != 2:
        checks.skip("output.num_speakers", "not run: the output is not [batch, num_speakers] (see output.rank)")
    else:
        measured = declared if isinstance(declared, int) else int(primary_shapes[0][1])
        result.num_speakers = measured
        wanted = num_speakers if num_speakers is not None else meta.num_speakers
        if isinstance(wanted, int):
            checks.check(
                "output.num_speakers",
                measured == wanted and measured >= meta.min_num_speakers,
                f"model scores {measured} speakers; {wanted} required",
                measured,
                wanted,
                "speakers",
            )
        else:
            checks.check(
                "output.num_speakers",
                measured >= meta.min_num_speakers,
                f"model scores {measured} speakers (contract: dynamic, at least {meta.min_num_speakers})",
                measured,
                f">= {meta.min_num_speakers}",
                "speakers",
            )
    for opt in contract.optional_outputs:
        for outs in result.outputs.values():
            value = outs.get(opt.name)
            if value is not None and value.ndim == 2:
                result.embedding_dim = int(value.shape[1])
                break

    if "output.finite" in checks.results:  # a probe failed to run
        return

    # ---- finite: every output on every probe
    bad: list[str] = []
    total_bad = 0
    for probe, outs in result.outputs.items():
        for name, value in outs.items():
            if np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.complexfloating):
                count = int(value.size - np.count_nonzero(np.isfinite(value)))
                if count:
                    total_bad += count
                    bad.append(f"{name} on {probe}: {count} NaN/Inf")
    finite = checks.check(
        "output.finite",
        not bad,
        "; ".join(bad) or f"all outputs finite on probes {list(result.outputs)}",
        total_bad,
        0,
        "values",
    )

    # ---- softmax: rows in [0, 1] summing to 1
    tol = contract.validation.softmax_tolerance
    if contract.output.activation != "softmax":
        checks.skip("output.softmax", "the contract does not require a softmax output")
        return
    if not finite:
        checks.skip("output.softmax", "not run: output.finite failed")
        return
    rows = [
        outs[graph.primary.name].astype(np.float64)
        for outs in result.outputs.values()
        if graph.primary.name in outs and outs[graph.primary.name].ndim >= 1
    ]
    if not rows or not all(np.issubdtype(r.dtype, np.floating) for r in rows):
        checks.skip("output.softmax", "not run: no floating-point primary output")
        return
    sums = np.concatenate([r.sum(axis=-1).ravel() for r in rows])
    low = float(min(r.min() for r in rows))
    high = float(max(r.max() for r in rows))
    deviation = float(np.max(np.abs(sums - 1.0)))
    in_range = low >= -tol and high <= 1.0 + tol
    checks.check(
        "output.softmax",
        in_range and deviation <= tol,
        f"values in [{low:.4g}, {high:.4g}], row sums within {deviation:.3g} of 1"
        + ("" if in_range else "; values must lie in [0, 1]"),
        round(deviation, 6),
        tol,
        "|row sum - 1|",
    )


__all__ = ["RuntimeResult", "check_batches", "check_values"]
