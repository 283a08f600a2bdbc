"""The time-bounded ONNX Runtime runner: a validator session whose every run is terminated past a time bound.

A graph that never finishes (e.g. a ``Loop`` with an astronomic trip count) is terminated with
``RunOptions.terminate`` and fails its rule instead of hanging the caller.

onnxruntime is an optional extra of the contract (``cpu`` / ``gpu``), so it is imported where a run needs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from voiceflow_contract.runtime import CPU_PROVIDER, CUDA_PROVIDER, available_providers, create_session
from voiceflow_contract.spec import Profile
from voiceflow_contract.validator.probes import Array

RUN_TIMEOUT_S = 60.0  # longest single inference run; a 1 s window takes milliseconds on any contract-sized model


class RunTimeoutError(RuntimeError):
    """An inference run exceeded the validator's time bound and was terminated."""


def choose_providers(profile: Profile, providers: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(providers to use, providers available). Default: CUDA first for a GPU profile when present, else CPU."""
    available = available_providers()
    if providers:
        return [p for p in providers if p in available] or [CPU_PROVIDER], available
    if profile.device == "gpu" and CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER], available
    return [CPU_PROVIDER], available


def open_session(data: bytes, threads: int, providers: list[str]) -> Any:
    """A quiet session (errors-only log, stdout kept clean for --json) that never falls back to another provider:
    a failing run is a failed rule, not a reason to retry elsewhere."""
    return create_session(data, intra_op_threads=threads, providers=providers, quiet=True, strict_providers=True)


class BoundedSession:
    """An ONNX Runtime session whose every ``run`` is terminated after ``timeout_s`` (RunOptions.terminate).

    One watchdog thread per session (not a timer per run) so that latency measurements carry no timer overhead; each
    run gets its own RunOptions, so a late terminate can never hit the next run.
    """

    def __init__(self, session: Any, timeout_s: float) -> None:
        self._session = session
        self.timeout_s = timeout_s
        self._current: tuple[float, Any] | None = None
        self._closed = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="validator-run-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        poll = min(0.05, self.timeout_s / 4)
        while not self._closed.wait(poll):
            current = self._current
            if current is not None and time.monotonic() > current[0]:
                current[1].terminate = True

    def run(self, output_names: Any, feed: dict[str, Array]) -> Any:
        import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

        options = ort.RunOptions()
        options.log_severity_level = 4  # the terminate is reported as a failed check; ORT's own log line is noise
        self._current = (time.monotonic() + self.timeout_s, options)
        try:
            return self._session.run(output_names, feed, options)
        except Exception as exc:
            if options.terminate:
                raise RunTimeoutError(
                    f"inference did not finish within {self.timeout_s:g} s and was terminated "
                    "(a graph that loops or computes far too much)"
                ) from exc
            raise
        finally:
            self._current = None

    def get_outputs(self) -> Any:
        return self._session.get_outputs()

    def get_providers(self) -> Any:
        return self._session.get_providers()

    def close(self) -> None:
        self._closed.set()


def run_outputs(session: Any, input_name: str, audio: Array) -> dict[str, Array]:
    """One run, every output by name."""
    names = [o.name for o in session.get_outputs()]
    values = session.run(None, {input_name: audio})
    return {name: np.asarray(value) for name, value in zip(names, values, strict=False)}


__all__ = ["RUN_TIMEOUT_S", "BoundedSession", "RunTimeoutError", "choose_providers", "open_session", "run_outputs"]
