"""ModelManager: the facade the app and routers use to ask which model serves a request and to change it.

It wires the collaborators of :mod:`voiceflow_inference.lifecycle` together (traffic policy, version set, model
sources, reloader, start-up fallbacks, watch and poll triggers) and holds no logic of its own beyond that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

from voiceflow_inference.config import Settings
from voiceflow_inference.lifecycle.activation import ON_POLL, ON_STARTUP, ON_WATCH, TRIGGER_POLICIES, Trigger
from voiceflow_inference.lifecycle.cache_hygiene import sweep_stale_temp_files
from voiceflow_inference.lifecycle.errors import ModelNotReadyError, ReloadError
from voiceflow_inference.lifecycle.loader import LoadedModel
from voiceflow_inference.lifecycle.model_sources import ModelSources, in_thread
from voiceflow_inference.lifecycle.reloader import Reloader
from voiceflow_inference.lifecycle.startup_fallbacks import StartupFallbacks
from voiceflow_inference.lifecycle.traffic_policy import TrafficPolicy
from voiceflow_inference.lifecycle.triggers import RegistryPoller, WatchDirTrigger
from voiceflow_inference.lifecycle.verified_cache import CacheIndex
from voiceflow_inference.lifecycle.version_set import VersionSet
from voiceflow_inference.lifecycle.watch_files import watch_target
from voiceflow_inference.metrics import ServiceMetrics

logger = logging.getLogger(__name__)


class ModelManager:
    """Loads, validates, warms, swaps, pins, rolls back and A/B-splits model versions for one registry model.

    The API other modules use (stable):

    - ``acquire(key: str | None = None) -> LoadedModel``: the model to serve one request or session. With an A/B split
      active, ``key`` (the ``X-Request-ID`` header or the WebSocket session id) picks the arm deterministically
      (sha256 of the key; the same key always gets the same version); ``None`` picks at random by weight. Without a
      split it returns the active version. Raises :class:`ModelNotReadyError` before the first model is loaded.
      Hold on to the returned object for the whole request/session: a hot reload swaps the manager's reference, never
      the object you hold, so a session keeps one version from start to stop.
    - ``get(version: str) -> LoadedModel``: a specific loaded version (raises ``VersionNotLoadedError``).
    - ``active`` / ``ready`` / ``loaded()`` / ``status()``: what is served, for health and admin endpoints.
    - ``await reload(trigger, *, version=None, path=None, activate=True, protect=()) -> LoadedModel``: THE one code
      path for every model change (startup, watch-dir file, registry poll, admin): load + validate + warm beside the
      current model, then swap with a single reference assignment under an asyncio lock. What the new version does
      to traffic is the trigger's :class:`~voiceflow_inference.lifecycle.activation.TriggerPolicy`
      (``activate=False``: standby). A refused model raises ``ReloadError``, is logged and counted
      (``voiceflow_model_reloads_total{result="failure"}``), and the old model keeps serving. Eviction never drops
      the model just loaded nor the versions in ``protect``.
    - ``await rollback(version=None)``, ``await pin(version | None)``, ``await set_ab(weights)``,
      ``await unload(version)``: admin operations (unload refuses a version traffic follows).
      Rollback, pin and an activating admin reload clear an A/B split and the pin (they mean "serve exactly this").
      While pinned or split, watch and poll reloads are still validated and loaded (role ``standby``) but not
      activated, so ``status()["version"]`` never names a version traffic does not follow.

    ``LoadedModel`` fields: ``name``, ``version``, ``sha256``, ``engine`` (``engine.run(float32[B, WINDOW_SAMPLES])
    -> {output name: array}``, ``engine.probabilities_name``, ``engine.embedding_name``), ``num_speakers``,
    ``embedding_dim``, ``metadata``, ``report``, ``source``, ``path``.
    """

    def __init__(self, settings: Settings, metrics: ServiceMetrics, registry: Any | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.name = settings.model_name
        self.draining = False
        self._degraded: dict[str, str] = {}
        self._traffic: TrafficPolicy[LoadedModel] = TrafficPolicy()
        self._versions: VersionSet[LoadedModel] = VersionSet(self.name, settings.keep_versions)
        sources = ModelSources(settings, registry)
        cache = CacheIndex(settings.cache_dir, settings.model_name)
        self._poller = RegistryPoller(
            sources=sources,
            ref=settings.model_ref,
            interval_s=settings.poll_interval_s,
            reload_version=lambda version: self._reloader.reload(ON_POLL, version=version),
            active=lambda: self._traffic.active,
            degraded=self._degraded,
            metrics=metrics,
        )
        self._reloader = Reloader(
            settings,
            metrics,
            sources=sources,
            versions=self._versions,
            traffic=self._traffic,
            cache=cache,
            on_seen=self._poller.mark_seen,
        )
        self._fallbacks = StartupFallbacks(settings, sources, cache)
        target = watch_target(settings)
        self._watcher = (
            WatchDirTrigger(target, lambda path: self._reloader.reload(ON_WATCH, path=path)) if target else None
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------------------------------------ read side
    @property
    def active(self) -> LoadedModel | None:
        """The default version (None before the first successful load)."""
        return self._traffic.active

    @property
    def ready(self) -> bool:
        """True once a model is loaded and the service is not draining."""
        return self._traffic.active is not None and not self.draining

    @property
    def source(self) -> str | None:
        """Where the active model came from (``registry``, ``cache``, ``watch``), None before the first load."""
        active = self._traffic.active
        return active.source if active is not None else None

    @property
    def pinned(self) -> str | None:
        """The pinned version, if any."""
        return self._traffic.pinned

    @property
    def ab_weights(self) -> dict[str, float]:
        """The current A/B weights (normalised), empty when no split is active."""
        return self._traffic.weights

    @property
    def degraded_reasons(self) -> list[str]:
        """Human-readable reasons the service is degraded (empty when healthy)."""
        return list(self._degraded.values())

    def loaded(self) -> list[LoadedModel]:
        """Every loaded version, oldest load first."""
        return self._versions.loaded()

    def acquire(self, key: str | None = None) -> LoadedModel:
        """The model to serve one request/session (see the class docstring)."""
        arm = self._traffic.route(key)
        if arm is not None:
            chosen = self._versions.find(arm)
            if chosen is not None:
                self.metrics.ab_assignments.labels(model=chosen.name, version=chosen.version).inc()
                return chosen
        active = self._traffic.active
        if active is None:
            raise ModelNotReadyError("no model is loaded yet")
        return active

    def get(self, version: str) -> LoadedModel:
        """A specific loaded version ('1.2.0' or 'v1.2.0')."""
        return self._versions.get(version)

    def role(self, version: str) -> str:
        """``active``, ``ab`` (in the split), or ``standby`` (loaded, kept for rollback)."""
        return self._traffic.role(version)

    def status(self) -> dict[str, Any]:
        """Readiness and model details for /ready and /admin/models."""
        active = self._traffic.active
        return {
            "ready": self.ready,
            "model": self.name,
            "version": active.version if active else None,
            "sha256": active.sha256 if active else None,
            "source": active.source if active else None,
            "degraded": bool(self._degraded) or active is None,
            "reasons": self.degraded_reasons + ([] if active else ["no model loaded"]),
            "pinned": self._traffic.pinned,
            "ab_weights": self.ab_weights,
            "last_error": self._reloader.last_error,
            "loaded": [dict(m.summary(), role=self.role(m.version)) for m in self._versions.loaded()],
            "history": self._traffic.history,
        }

    # ------------------------------------------------------------------------------------------------ lifecycle
    async def start(self, *, background: bool = True) -> None:
        """Initial load (registry, else the verified caches, else the watch-dir file), the configured A/B split, then
        the watcher and poller. Never raises for a missing model: the service stays unready and keeps trying.
        Leftover temp files of an interrupted snapshot or pull are swept from the cache first."""
        await in_thread(sweep_stale_temp_files, self.settings.cache_dir)
        try:
            await self._reloader.reload(ON_STARTUP)
        except ReloadError as exc:
            logger.error("startup load from the registry failed: %s", exc)
            self._degraded["startup"] = f"could not load from the registry at start ({exc})"
            self._degraded["startup"] = await self._fallbacks.run(
                startup_error=str(exc),
                install=lambda model: self._reloader.install(model, "startup", activate=True),
                load_watched=lambda path: self._reloader.reload(ON_STARTUP, path=path),
            )
        if self.settings.ab_weights:
            try:
                await self.set_ab(self.settings.ab_weights, trigger="startup")
            except ReloadError as exc:
                self._degraded["ab"] = f"configured A/B split not applied: {exc}"
                logger.error("configured A/B split not applied: %s", exc)
        if background:
            if self._watcher is not None:
                self._tasks.append(asyncio.create_task(self._watcher.run(self._stop), name="voiceflow-watch"))
            if self.settings.poll_interval_s > 0:
                self._tasks.append(asyncio.create_task(self._poller.run(self._stop), name="voiceflow-poll"))

    async def stop(self) -> None:
        """Stop the watcher and poller."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    # ------------------------------------------------------------------------------------------------ changes
    async def reload(
        self,
        trigger: Trigger,
        *,
        version: str | None = None,
        path: Path | None = None,
        activate: bool = True,
        protect: Collection[str] = (),
    ) -> LoadedModel:
        """Load ``path`` (a watched file) or ``version`` (default: the configured ref) from the registry, validate and
        warm it beside the current model, then apply ``trigger``'s policy (``activate=False``: standby). Raises
        ReloadError; the old model keeps serving."""
        policy = TRIGGER_POLICIES[trigger].with_activation(activate)
        return await self._reloader.reload(policy, version=version, path=path, protect=protect)

    async def poll_once(self) -> None:
        """Check whether the configured ref moved in the registry and reload when it did."""
        await self._poller.poll_once()

    async def rollback(self, version: str | None = None) -> LoadedModel:
        """Serve the previously active version (or ``version``): instant when still loaded, else pulled. Clears A/B."""
        if version is None:
            version = self._traffic.rollback_target(self._versions)
        model = await self._reloader.switch_to(version)
        logger.warning("rolled back %s to %s", self.name, model.version)
        return model

    async def pin(self, version: str | None) -> LoadedModel | None:
        """Pin ``version`` (serve only it; watch/poll no longer switch) or unpin with None. Clears A/B when pinning."""
        if version is None:
            self._traffic.unpin()
            self._reloader.publish_info()
            return None
        model = await self._reloader.switch_to(version)
        self._traffic.pin(model.version)
        self._reloader.publish_info()
        return model

    async def unload(self, version: str) -> LoadedModel:
        """Unload a standby version; the active one, A/B arms and the pin are refused (ReloadError ``serving``)."""
        return await self._reloader.unload(version)

    async def registry_versions(self) -> list[str] | None:
        """The versions the registry holds for this model, oldest first (a listing re-used for a few seconds); None
        when it cannot be read now."""
        try:
            return await self._reloader.sources.published_versions()
        except Exception as exc:  # the index still lists what is loaded
            logger.warning("registry versions of %s unavailable: %s", self.name, exc)
            return None

    async def set_ab(self, weights: dict[str, float], *, trigger: Trigger = "admin") -> dict[str, float]:
        """Split traffic across versions by weight (loading missing ones); ``{}`` clears the split."""
        applied = await self._reloader.split(weights, TRIGGER_POLICIES[trigger])
        self._degraded.pop("ab", None)
        return applied


__all__ = ["ModelManager"]
