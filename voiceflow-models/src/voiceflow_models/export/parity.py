"""Numerical parity between two implementations of the same network (PyTorch vs ONNX, original vs optimised).

The bound is absolute for outputs within [-1, 1] (the softmax probabilities) and relative to the output's largest
magnitude beyond that (an unnormalised embedding of magnitude 20 carries float32 rounding 20x larger).

Kept free of torch so the optimiser and the serving-side checks can use it with ONNX Runtime alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voiceflow_contract.errors import VoiceFlowError
from voiceflow_contract.runtime import CPU_PROVIDER, Optimization, create_session
from voiceflow_contract.spec import WINDOW_SAMPLES

DEFAULT_TOLERANCE = 1e-4

Runner = Callable[[np.ndarray], dict[str, np.ndarray]]


class ParityError(VoiceFlowError):
    """Two implementations of one network disagree by more than the tolerance (the message names input and output)."""


@dataclass(frozen=True)
class ParityCase:
    """One comparison: an input kind at one batch size, one output."""

    input: str
    batch_size: int
    output: str
    max_abs_diff: float
    scale: float = 1.0  # max(1, max |reference|): the bound is tolerance x scale

    def within(self, tolerance: float) -> bool:
        """True when the difference is within tolerance (absolute for values up to 1, relative beyond; NaN fails)."""
        return self.max_abs_diff <= tolerance * self.scale


@dataclass
class ParityReport:
    """Every case compared and the bound they were held to."""

    tolerance: float
    cases: list[ParityCase] = field(default_factory=list)

    @property
    def max_abs_diff(self) -> float:
        """The worst difference over every case (0.0 when nothing was compared)."""
        return max((c.max_abs_diff for c in self.cases), default=0.0)

    @property
    def passed(self) -> bool:
        """True when every case is within the tolerance (NaN never passes)."""
        return bool(self.cases) and all(c.within(self.tolerance) for c in self.cases)

    def failures(self) -> list[ParityCase]:
        """The cases over the tolerance."""
        return [c for c in self.cases if not c.within(self.tolerance)]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "tolerance": self.tolerance,
            "max_abs_diff": self.max_abs_diff,
            "passed": self.passed,
            "cases": [asdict(c) for c in self.cases],
        }

    def raise_if_failed(self, what: str) -> None:
        """Fail loudly, naming every case over the bound."""
        bad = self.failures()
        if not self.cases:
            raise ParityError(f"{what}: no outputs were compared")
        if bad:
            detail = "; ".join(
                f"{c.output} on {c.input} (batch {c.batch_size}): {c.max_abs_diff:.3g} (values up to {c.scale:.3g})"
                for c in bad
            )
            raise ParityError(f"{what}: max abs diff over tolerance {self.tolerance:g}: {detail}")


def parity_inputs(batch_sizes: Sequence[int] = (1, 8), seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Inputs covering the two regimes a diarizer sees: speech-like noise in [-1, 1] and digital silence."""
    rng = np.random.default_rng(seed)
    inputs: list[tuple[str, np.ndarray]] = []
    for b in batch_sizes:
        noise = np.clip(rng.normal(0.0, 0.3, size=(b, WINDOW_SAMPLES)), -1.0, 1.0).astype(np.float32)
        inputs.append(("random", noise))
        inputs.append(("silence", np.zeros((b, WINDOW_SAMPLES), dtype=np.float32)))
    return inputs


def ort_runner(path: str | Path, *, threads: int = 1, level: Optimization = "all") -> Runner:
    """A callable running an ONNX file through a CPU ONNX Runtime session, outputs by name."""
    session = create_session(path, intra_op_threads=threads, providers=(CPU_PROVIDER,), optimization=level)
    input_name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]

    def run(audio: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(None, {input_name: audio}), strict=True))

    return run


def compare(
    reference: Runner,
    candidate: Runner,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    batch_sizes: Sequence[int] = (1, 8),
    outputs: Sequence[str] | None = None,
) -> ParityReport:
    """Run both on the parity inputs and record the max abs difference of every shared output."""
    report = ParityReport(tolerance=tolerance)
    for kind, audio in parity_inputs(batch_sizes):
        ref = reference(audio)
        got = candidate(audio)
        names = outputs if outputs is not None else [n for n in ref if n in got]
        for name in names:
            if name not in ref or name not in got:
                raise ParityError(f"output '{name}' missing from {'reference' if name not in ref else 'candidate'}")
            if ref[name].shape != got[name].shape:
                raise ParityError(
                    f"output '{name}' shape differs on {kind} batch {audio.shape[0]}: "
                    f"{ref[name].shape} vs {got[name].shape}"
                )
            expected = ref[name].astype(np.float64)
            diff = float(np.max(np.abs(expected - got[name].astype(np.float64))))
            scale = max(1.0, float(np.max(np.abs(expected))))
            report.cases.append(ParityCase(kind, int(audio.shape[0]), name, diff, scale))
    return report
