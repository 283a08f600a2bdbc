"""The one ONNX Runtime session factory: every session in the project (validator, serving, export parity,
benchmarks) is built here, so thread counts, optimisation level and provider fallback are set in one place.

onnxruntime is an optional dependency of the contract (the ``cpu`` / ``gpu`` extras install one of its two builds,
which share a module folder), so it is imported when a session is made, not when this module is.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
Optimization = Literal["disable", "basic", "extended", "all"]


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers."""
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    return list(ort.get_available_providers())


def select_providers(requested: Sequence[str]) -> list[str]:
    """``requested`` without the providers this build lacks, CPU last resort; logs what was dropped."""
    available = set(available_providers())
    chosen = [p for p in requested if p in available] or [CPU_PROVIDER]
    if len(chosen) < len(requested):
        logger.warning("providers %s not available here; using %s", list(requested), chosen)
    return chosen


def session_options(
    *,
    intra_op_threads: int = 1,
    inter_op_threads: int = 1,
    optimization: Optimization = "all",
    optimized_model_path: str | Path | None = None,
    quiet: bool = False,
) -> Any:
    """``SessionOptions`` as the project uses them: sequential execution, pinned thread counts."""
    import onnxruntime as ort

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = levels[optimization]
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(optimized_model_path)
    if quiet:
        options.log_severity_level = 3  # errors only: unused-initializer warnings are noise
    return options


def create_session(
    model: str | Path | bytes,
    *,
    intra_op_threads: int = 1,
    inter_op_threads: int = 1,
    providers: Sequence[str | tuple[str, dict[str, Any]]] = (CPU_PROVIDER,),
    optimization: Optimization = "all",
    optimized_model_path: str | Path | None = None,
    quiet: bool = False,
    strict_providers: bool = False,
    config_entries: Mapping[str, str] | None = None,
) -> Any:
    """An ``onnxruntime.InferenceSession`` for a path or the model's bytes.

    ``providers`` may name providers this build lacks; they are dropped (CPU is the last resort). With
    ``strict_providers`` a failing run raises instead of silently retrying on another provider (the validator wants
    a failed rule, not a fallback), and ORT's fallback banner is kept off stdout. ``config_entries`` are added with
    ``SessionOptions.add_session_config_entry`` (e.g. ``{"session.use_env_allocators": "1"}``).
    """
    import onnxruntime as ort

    names = [p if isinstance(p, str) else p[0] for p in providers]
    keep = set(select_providers(names))
    chosen: list[Any] = [p for p in providers if (p if isinstance(p, str) else p[0]) in keep] or [CPU_PROVIDER]
    options = session_options(
        intra_op_threads=intra_op_threads,
        inter_op_threads=inter_op_threads,
        optimization=optimization,
        optimized_model_path=optimized_model_path,
        quiet=quiet,
    )
    for key, value in (config_entries or {}).items():
        options.add_session_config_entry(key, value)
    source = model if isinstance(model, bytes) else str(model)
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        session = ort.InferenceSession(source, sess_options=options, providers=chosen)
    if strict_providers:
        session.disable_fallback()
    return session


__all__ = [
    "CPU_PROVIDER",
    "CUDA_PROVIDER",
    "Optimization",
    "available_providers",
    "create_session",
    "select_providers",
    "session_options",
]
