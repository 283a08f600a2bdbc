"""What a registry root may make us read: files inside the root only, regular files only, a bounded number of bytes.

Issue 12 finding 3: a ``model.onnx`` symlinked to ``/dev/zero`` in a ``file://`` registry made ``pull`` write 6.9 GB
before the size check, and a ``checksum.sha256`` symlinked to a secret was read and echoed (finding 6). A local path is
resolved (every symlink followed) and must still lie under the resolved root and be a regular file; every read of an
object stops as soon as it passes the size it may have.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from voiceflow_contract.errors import ChecksumMismatchError, RegistryError

logger = logging.getLogger(__name__)

DOCUMENT_LIMIT_BYTES = 64 * 2**20
"""Largest JSON / checksum document the registry reads (manifest.json included); a model file has its own limit."""


def confine(root: str, path: str) -> None:
    """Refuse ``path`` unless, symlinks resolved, it lies under ``root`` and is a regular file (or does not exist).

    A missing path passes (the caller's read raises FileNotFoundError as before).
    """
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        logger.warning("registry path %s resolves outside the registry root %s; refused", path, real_root)
        raise RegistryError(
            f"registry object {Path(path).name!r} is a link out of the registry root; refused",
            reason="outside_registry",
        )
    try:
        mode = Path(real).stat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        logger.warning("registry path %s is not a regular file (mode %o); refused", path, mode)
        raise RegistryError(
            f"registry object {Path(path).name!r} is not a regular file; refused", reason="not_a_regular_file"
        )


def over_limit(rel: str, limit: int) -> ChecksumMismatchError:
    """The error for an object that passed ``limit`` bytes while being read (reading stopped there)."""
    return ChecksumMismatchError(
        f"registry object {rel} is larger than the {limit} bytes it may have; stopped reading", reason="size_exceeded"
    )


__all__ = ["DOCUMENT_LIMIT_BYTES", "confine", "over_limit"]
