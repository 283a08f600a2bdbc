"""The verified-cache index: the model copies that passed every load-time check once, so a cold start without the
registry can serve the newest one (after re-checking its sha256 and the contract)."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voiceflow_inference.lifecycle.atomic_files import atomic_write_text
from voiceflow_inference.lifecycle.loader import LoadedModel

logger = logging.getLogger(__name__)


class CacheEntry(BaseModel):
    """A model copy that passed every load-time check once."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    version: str
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    verified_at: datetime
    metadata: dict[str, Any] | None = None


class CacheIndex:
    """``<cache_dir>/.voiceflow-inference/<model>.json``: the verified copies of one model."""

    def __init__(self, cache_dir: Path, model_name: str) -> None:
        self.path = cache_dir / ".voiceflow-inference" / f"{model_name}.json"
        self.model_name = model_name

    def entries(self) -> list[CacheEntry]:
        """Recorded entries, newest version first; a corrupt index reads as empty (and is logged)."""
        if not self.path.is_file():
            return []
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            items = [CacheEntry.model_validate(e) for e in raw.get("entries", [])]
        except (OSError, ValueError, ValidationError) as exc:
            logger.warning("ignoring unreadable cache index %s: %s", self.path, exc)
            return []
        return sorted(items, key=lambda e: _version_key(e.version), reverse=True)

    def record(self, model: LoadedModel) -> None:
        """Add or replace the entry for ``model`` (atomic write; failures are logged, never raised)."""
        entry = CacheEntry(
            model_name=model.name,
            version=model.version,
            path=str(model.path.resolve()),
            sha256=model.sha256,
            verified_at=datetime.now(UTC),
            metadata=json.loads(model.metadata.model_dump_json()) if model.metadata else None,
        )
        self.write([e for e in self.entries() if e.version != model.version] + [entry])

    def write(self, entries: list[CacheEntry]) -> None:
        """Replace the index with ``entries`` (atomic write; failures are logged, never raised)."""
        payload = {"entries": [json.loads(e.model_dump_json()) for e in entries]}
        try:
            atomic_write_text(self.path, json.dumps(payload, indent=2) + "\n")
        except OSError as exc:  # e.g. disk full: serving goes on, the fallback just knows less
            logger.warning("could not update cache index %s: %s", self.path, exc)


def prune(index: CacheIndex, cache_dir: Path, keep: int, in_use: set[str]) -> list[str]:
    """Bound the cache on disk: keep the newest ``keep`` verified versions and every version in ``in_use``; delete
    the others' registry folders (watch-dir snapshots are the reloader's) and index entries. Returns the dropped."""
    entries = index.entries()
    kept = [e for i, e in enumerate(entries) if i < keep or e.version in in_use]
    dropped = [e for e in entries if e not in kept]
    if not dropped:
        return []
    watch_dir = (cache_dir / ".voiceflow-inference" / "watch").resolve()
    for entry in dropped:
        path = Path(entry.path)
        if path.resolve().parent != watch_dir:
            remove_cached_version(cache_dir, path)
    index.write(kept)
    return [e.version for e in dropped]


def remove_cached_version(cache_dir: Path, model_path: Path) -> None:
    """Delete the cache folder holding a refused ``model_path`` (only inside ``cache_dir``; failures are logged)."""
    folder = model_path.resolve().parent
    root = cache_dir.resolve()
    if folder == root or not folder.is_relative_to(root) or folder.name == "watch":
        return
    try:
        shutil.rmtree(folder)
        logger.warning("removed refused model copy %s from the cache", folder)
    except OSError as exc:
        logger.warning("could not remove refused model copy %s: %s", folder, exc)


def _version_key(version: str) -> tuple[int, ...]:
    parts = version.removeprefix("v").split(".")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        return (-1,)


__all__ = ["CacheEntry", "CacheIndex", "prune", "remove_cached_version"]
