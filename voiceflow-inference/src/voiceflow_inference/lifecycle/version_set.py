"""The loaded versions of one model and their eviction beyond ``keep_versions``. Pure: no I/O.

Eviction drops the oldest loads first and never a protected version (the active one, the A/B arms, the pin, the
model just loaded, or what the caller names). An evicted model is only forgotten here: requests still holding it
finish on it, and it is freed when they drop it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Generic, Protocol, TypeVar

from voiceflow_inference.lifecycle.errors import VersionNotLoadedError

logger = logging.getLogger(__name__)


class Versioned(Protocol):
    """Anything with a version and a content digest (a LoadedModel; a stub in tests)."""

    @property
    def version(self) -> str: ...

    @property
    def sha256(self) -> str: ...


M = TypeVar("M", bound=Versioned)


class VersionSet(Generic[M]):
    """Loaded versions of model ``name``, oldest load first."""

    def __init__(self, name: str, keep_versions: int) -> None:
        self.name = name
        self.keep_versions = keep_versions
        self._models: dict[str, M] = {}

    def __contains__(self, version: object) -> bool:
        return version in self._models

    def __len__(self) -> int:
        return len(self._models)

    def loaded(self) -> list[M]:
        """Every loaded version, oldest load first."""
        return list(self._models.values())

    def find(self, version: str) -> M | None:
        """The model loaded as exactly ``version``, else None."""
        return self._models.get(version)

    def get(self, version: str) -> M:
        """A loaded version ('1.2.0' or 'v1.2.0'); raises VersionNotLoadedError naming what is loaded."""
        model = self._models.get(version.removeprefix("v")) or self._models.get(version)
        if model is None:
            loaded = ", ".join(self._models) or "none"
            raise VersionNotLoadedError(f"version {version!r} of {self.name} is not loaded (loaded: {loaded})")
        return model

    def add(self, model: M) -> tuple[M, M | None]:
        """Register ``model``; returns ``(registered, dropped)``.

        A version loaded again with the same bytes keeps the instance already loaded (``registered``) and hands back
        the new duplicate as ``dropped``; different bytes replace the old instance, which is ``dropped``."""
        existing = self._models.get(model.version)
        if existing is None or existing.sha256 != model.sha256:
            if existing is not None:
                logger.warning(
                    "replacing loaded %s %s (sha256 %s) by sha256 %s",
                    self.name,
                    model.version,
                    existing.sha256[:12],
                    model.sha256[:12],
                )
            self._models[model.version] = model
            return model, existing
        return existing, (model if model is not existing else None)

    def remove(self, version: str) -> M:
        """Forget one loaded version ('1.2.0' or 'v1.2.0'); raises VersionNotLoadedError."""
        return self._models.pop(self.get(version).version)

    def evict(self, protect: Collection[str]) -> list[M]:
        """Drop the oldest unprotected versions until at most ``keep_versions`` remain; returns the dropped ones."""
        keep = set(protect)
        extra = len(self._models) - self.keep_versions
        evicted: list[M] = []
        for version in list(self._models):
            if extra <= 0:
                break
            if version not in keep:
                evicted.append(self._models.pop(version))
                extra -= 1
        return evicted


__all__ = ["VersionSet", "Versioned"]
