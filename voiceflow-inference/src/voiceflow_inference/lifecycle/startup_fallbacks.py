"""The start-up chain when the registry cannot serve the configured model (unreachable, or its model refused for any
reason): the registry client's offline cache, then our verified-cache index (newest first), then the newest valid
registry version older than the refused one, then the watch-dir file; whatever serves is reported as degraded.
Every copy is re-checked (sha256, contract) before it serves."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError

from voiceflow_contract.errors import RegistryError
from voiceflow_inference.config import Settings
from voiceflow_inference.lifecycle.errors import ModelRejectedError, ReloadError
from voiceflow_inference.lifecycle.loader import LoadedModel
from voiceflow_inference.lifecycle.model_sources import ModelSources
from voiceflow_inference.lifecycle.verified_cache import CacheIndex
from voiceflow_inference.lifecycle.watch_files import watch_target

logger = logging.getLogger(__name__)

MAX_OLDER_TRIES = 3  # older registry versions tried at start when latest is refused and the cache is empty


class StartupFallbacks:
    """Finds something verified to serve after the registry load failed at start."""

    def __init__(self, settings: Settings, sources: ModelSources, cache: CacheIndex) -> None:
        self.settings = settings
        self.name = settings.model_name
        self.sources = sources
        self.cache = cache

    async def run(
        self,
        *,
        startup_error: str,
        install: Callable[[LoadedModel], Awaitable[None]],
        load_watched: Callable[[Path], Awaitable[LoadedModel]],
    ) -> str:
        """Try each fallback in order; ``install`` activates a cached copy, ``load_watched`` reloads the watch-dir
        file (raising ReloadError when refused). Returns the degraded reason to report (what serves, or not ready).
        """
        model = await self._from_registry_cache()
        if model is None:
            model = await self._from_cache_index()
        if model is not None:
            await install(model)
            reason = self._reason(startup_error, f"verified cached copy {model.version}", model)
            logger.warning("%s", reason)
            return reason
        model = await self._from_older_registry_versions()
        if model is not None:
            await install(model)
            reason = self._reason(startup_error, f"the newest valid older registry version {model.version}", model)
            logger.warning("%s", reason)
            return reason
        target = watch_target(self.settings)
        if target is not None and target.is_file():
            try:
                watched = await load_watched(target)
                return self._reason(startup_error, "the watch-dir model", watched)
            except ReloadError as exc:
                logger.error("watch-dir model unusable at start: %s", exc)
        reason = f"could not load from the registry at start ({startup_error}) and no verified cached copy: not ready"
        logger.error("%s", reason)
        return reason

    async def _from_registry_cache(self) -> LoadedModel | None:
        try:
            return await self.sources.from_registry_cache()
        except (RegistryError, ModelRejectedError, OSError, ValueError) as exc:
            logger.warning("no usable registry-cache copy of %s: %s", self.name, exc)
            return None

    async def _from_cache_index(self) -> LoadedModel | None:
        for entry in self.cache.entries():
            try:
                return await self.sources.from_cache_entry(entry)
            except (ModelRejectedError, ValidationError) as exc:
                logger.warning("cached %s %s unusable: %s", self.name, entry.version, exc)
        return None

    async def _from_older_registry_versions(self) -> LoadedModel | None:
        """A fresh cache: the newest registry version older than the refused ``model_ref`` that passes every check
        (at most MAX_OLDER_TRIES are tried; each refused one is removed from the cache by the load)."""
        for version in (await self.sources.older_versions(self.settings.model_ref))[:MAX_OLDER_TRIES]:
            try:
                return await self.sources.from_registry(version, lambda _: None)
            except (ReloadError, ModelRejectedError) as exc:
                logger.warning("older registry version %s %s unusable: %s", self.name, version, exc)
        return None

    @staticmethod
    def _reason(startup_error: str, what: str, model: LoadedModel) -> str:
        return (
            f"registry unavailable or refused at start ({startup_error}); serving {what} "
            f"(version {model.version}, sha256 {model.sha256[:12]})"
        )


__all__ = ["StartupFallbacks"]
