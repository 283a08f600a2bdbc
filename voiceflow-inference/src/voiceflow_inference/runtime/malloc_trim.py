"""Give freed heap memory back to the OS after a model is dropped (glibc ``malloc_trim``; a no-op elsewhere).

A reload frees a whole ONNX Runtime session (weights, pre-packed kernels, arena): tens of MB in many chunks. glibc keeps
freed chunks in its arenas, so without a trim the process's RSS keeps the high-water mark of every reload.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache
from typing import Any

logger = logging.getLogger(__name__)


@cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - raises AttributeError on non-glibc C libraries
    except (OSError, AttributeError):
        return None
    return libc


def release_memory() -> bool:
    """Ask glibc to return free heap pages to the OS (no gc.collect: that would pause every request). True when
    the trim ran."""
    libc = _libc()
    if libc is None:
        return False
    try:
        libc.malloc_trim(0)
    except OSError as exc:  # pragma: no cover - defensive: never let housekeeping break a reload
        logger.debug("malloc_trim failed: %s", exc)
        return False
    return True


__all__ = ["release_memory"]
