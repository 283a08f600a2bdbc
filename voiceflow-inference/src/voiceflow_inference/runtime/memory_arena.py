"""A capped CPU memory arena for every served ONNX Runtime session, so an input that makes a model allocate far more
than it should (a data-triggered allocation) fails that request with an error instead of exhausting the process.

ONNX Runtime's CPU provider has no per-session memory limit, but a process-wide ("environment") arena allocator with
``OrtArenaCfg.max_mem`` can be registered once and shared by sessions created with ``session.use_env_allocators=1``.
An allocation the arena cannot fit raises ``Failed to allocate memory`` / ``Available memory of ... is smaller than
requested`` from ``run``; the session stays usable. Covered: tensors ONNX Runtime allocates through its CPU arena
(activations, outputs, ConstantOfShape and friends). Not covered: memory outside the arena (a custom op's own
``malloc``, the Python side, other execution providers such as CUDA, which have their own ``gpu_mem_limit``).
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_registered_mb: int | None = None

USE_ENV_ALLOCATORS = {"session.use_env_allocators": "1"}


def capped_arena_entries(max_mb: int) -> dict[str, str]:
    """Register the shared CPU arena capped at ``max_mb`` MiB (once per process; the first cap wins) and return the
    session config entries that make a session use it. ``max_mb == 0`` leaves ONNX Runtime's default (no cap)."""
    global _registered_mb
    if max_mb <= 0:
        return {}
    with _lock:
        if _registered_mb is None:
            import onnxruntime as ort  # heavy native module: imported where the arena is first needed

            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            # arena_extend_strategy 1 (kSameAsRequested): grow by what is asked, so the cap is what bounds it.
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(max_mb * 1024 * 1024, 1, -1, -1))
            _registered_mb = max_mb
            logger.info("ONNX Runtime CPU arena capped at %d MiB for served models", max_mb)
        elif _registered_mb != max_mb:
            logger.warning("ONNX Runtime CPU arena already capped at %d MiB; %d MiB ignored", _registered_mb, max_mb)
    return dict(USE_ENV_ALLOCATORS)


__all__ = ["USE_ENV_ALLOCATORS", "capped_arena_entries"]
