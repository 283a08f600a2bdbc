"""Leftovers of interrupted writes in the model cache: a ``.snapshot.*`` from a SIGTERM during a watch-dir snapshot,
a ``.tmp-*`` folder or file from a killed registry pull, a ``.<name>.<random>.tmp`` from an interrupted atomic write.
The failure paths remove their own temp files; a killed process cannot, so the server sweeps them at start."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

logger = logging.getLogger(__name__)

# Younger temp files may belong to a writer still at work (another process sharing the cache): left alone.
STALE_AFTER_S = 600.0


def is_temp_name(name: str) -> bool:
    """True for the temp names the registry client and this service write (always dot-files)."""
    return name.startswith(".") and (name.startswith(".snapshot.") or ".tmp-" in name or name.endswith(".tmp"))


def sweep_stale_temp_files(cache_dir: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove temp files and folders under ``cache_dir`` not modified for ``older_than_s``; returns what went.
    Symlinks are never followed; failures are logged, never raised."""
    if not cache_dir.is_dir():
        return []
    cutoff = time.time() - older_than_s
    removed: list[Path] = []
    candidates = [p for p in cache_dir.rglob(".*") if is_temp_name(p.name)]
    for path in sorted(candidates, key=lambda p: len(p.parts)):  # a folder before what is inside it
        try:
            if not path.exists() and not path.is_symlink():
                continue  # went with its folder
            if path.lstat().st_mtime > cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError as exc:
            logger.warning("could not remove leftover %s: %s", path, exc)
    if removed:
        logger.warning("removed %d leftover temp file(s) from %s: %s", len(removed), cache_dir, removed[:5])
    return removed


__all__ = ["STALE_AFTER_S", "is_temp_name", "sweep_stale_temp_files"]
