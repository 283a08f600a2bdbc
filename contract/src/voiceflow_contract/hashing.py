"""SHA-256 helpers: files are hashed in chunks so a 362 MB model never sits in memory twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_SIZE = 1 << 20  # 1 MiB: large enough to be fast, small enough to stream


def sha256_bytes(data: bytes) -> str:
    """Return the lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk_size: int = CHUNK_SIZE) -> str:
    """Return the lowercase hex SHA-256 of the file at ``path``, read in ``chunk_size`` chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["CHUNK_SIZE", "sha256_bytes", "sha256_file"]
