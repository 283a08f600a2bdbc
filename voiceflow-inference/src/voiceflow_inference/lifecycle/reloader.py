"""The one code path for every model change: load beside the current model, let the traffic policy admit it under
the trigger's :class:`~voiceflow_inference.lifecycle.activation.TriggerPolicy`, install it, evict beyond
``keep_versions``. Also the admin switches (rollback, pin, A/B split). Writers hold one asyncio lock; readers never
wait for it (the traffic policy swaps references atomically)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from voiceflow_inference.config import Settings
from voiceflow_inference.lifecycle.activation import ON_ADMIN, TriggerPolicy
from voiceflow_inference.lifecycle.errors import ModelRejectedError, ReloadError
from voiceflow_inference.lifecycle.loader import LoadedModel
from voiceflow_inference.lifecycle.model_sources import ModelSources, in_thread
from voiceflow_inference.lifecycle.reasons import Reason
from voiceflow_inference.lifecycle.traffic_policy import Admission, TrafficPolicy
from voiceflow_inference.lifecycle.verified_cache import CacheIndex, prune
from voiceflow_inference.lifecycle.version_set import VersionSet
from voiceflow_inference.lifecycle.watch_files import discard_snapshot
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.runtime.malloc_trim import release_memory

logger = logging.getLogger(__name__)


class Reloader:
    """Changes what is loaded and served for one model; counts every change in ``voiceflow_model_reloads_total``."""

    def __init__(
        self,
        settings: Settings,
        metrics: ServiceMetrics,
        *,
        sources: ModelSources,
        versions: VersionSet[LoadedModel],
        traffic: TrafficPolicy[LoadedModel],
        cache: CacheIndex,
        on_seen: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.name = settings.model_name
        self.sources = sources
        self.versions = versions
        self.traffic = traffic
        self.cache = cache
        self._on_seen = on_seen
        self.lock = asyncio.Lock()
        self.last_error: str | None = None

    # ------------------------------------------------------------------------------------------------ the one path
    async def reload(
        self,
        policy: TriggerPolicy,
        *,
        version: str | None = None,
        path: Path | None = None,
        protect: Collection[str] = (),
    ) -> LoadedModel:
        """Load ``path`` (a watched file) or ``version`` (default: the configured ref) from the registry, validate
        and warm it beside the current model, then install it as ``policy`` says. Raises ReloadError; the old model
        keeps serving. Eviction never drops the model just loaded nor the versions in ``protect``."""
        async with self.lock:
            try:
                if path is not None:
                    model = await self.sources.from_file(
                        path, active=self.traffic.active, discard_if_unused=self.discard_if_unused
                    )
                else:
                    model = await self.sources.from_registry(version or self.settings.model_ref, self.versions.find)
            except ReloadError as exc:
                self._refused(policy, exc)
                raise
            except ModelRejectedError as exc:
                err = ReloadError(exc.reason, str(exc))
                self._refused(policy, err)
                raise err from exc
            except Exception as exc:  # fail closed on anything unexpected
                err = ReloadError(Reason.ERROR, f"{type(exc).__name__}: {exc}")
                self._refused(policy, err)
                raise err from exc
            if path is not None and model is self.traffic.active:
                logger.info("%s holds the model already active (%s): nothing to do", path, model.version)
                return model
            if policy.marks_seen and path is None:
                self._on_seen(model.version)
            admission = self.traffic.admit(model.version, policy.activation)
            if admission is Admission.HELD_BY_PIN:
                logger.warning(
                    "pinned to %s: %s %s loaded as standby, not activated",
                    self.traffic.pinned,
                    policy.trigger,
                    model.version,
                )
            elif admission is Admission.HELD_BY_SPLIT:
                logger.warning(
                    "A/B split %s in force: %s %s loaded as standby, not activated",
                    self.traffic.weights,
                    policy.trigger,
                    model.version,
                )
            await self.install(model, policy.trigger, activate=admission.activates, protect=protect)
            return model

    def _refused(self, policy: TriggerPolicy, exc: ReloadError) -> None:
        self.last_error = f"{policy.trigger}: {exc}"
        self.metrics.model_reloads.labels(model=self.name, result="failure", trigger=policy.trigger).inc()
        active = self.traffic.active
        serving = active.version if active else "nothing"
        logger.error(
            "model %s refused (%s, trigger=%s): %s; still serving %s",
            self.name,
            exc.reason,
            policy.trigger,
            exc,
            serving,
        )

    async def install(self, model: LoadedModel, trigger: str, *, activate: bool, protect: Collection[str] = ()) -> None:
        """Register a validated model and (optionally) make it active. Caller holds the lock or is the sole writer.

        Eviction never drops ``model`` itself (a standby load would be wasted, a pin/rollback target lost) nor
        ``protect``."""
        model, dropped = self.versions.add(model)
        if activate:
            self.traffic.activate(model)
        if dropped is not None and dropped.source == "watch":
            self.discard_if_unused(dropped.path)
        evicted = self._evict(protect={model.version, *protect})
        self.publish_info()
        self.metrics.model_reloads.labels(model=self.name, result="success", trigger=trigger).inc()
        if model.source != "cache":
            await in_thread(self.cache.record, model)
        in_use = {m.version for m in self.versions.loaded()}
        await in_thread(prune, self.cache, self.settings.cache_dir, self.settings.keep_versions, in_use)
        if evicted:
            # Without a trim, RSS keeps every reload's high-water mark (docs/PERFORMANCE_ANALYSIS.md, hot reload).
            await in_thread(release_memory)
        logger.info(
            "model %s %s (sha256 %s, from %s) loaded by %s%s",
            model.name,
            model.version,
            model.sha256[:12],
            model.source,
            trigger,
            "; now active" if activate else "",
        )

    def _evict(self, protect: Collection[str] = ()) -> int:
        """Drop versions beyond keep_versions (never the active, A/B, pinned or ``protect`` ones); returns how many.
        Requests still holding an evicted model finish on it; it is freed when they drop it."""
        evicted = self.versions.evict(self.traffic.protected() | set(protect))
        for model in evicted:
            if model.source == "watch":
                self.discard_if_unused(model.path)
        return len(evicted)

    def discard_if_unused(self, path: Path) -> None:
        """Delete a watch-dir snapshot unless a loaded (or the active) model was loaded from it."""
        active = self.traffic.active
        if any(m.path == path for m in self.versions.loaded()) or (active is not None and active.path == path):
            return
        discard_snapshot(path)

    def publish_info(self) -> None:
        """Refresh ``voiceflow_model_info`` (one series per loaded version, by role); forget the Triton statistics
        of versions no longer loaded."""
        loaded = self.versions.loaded()
        self.metrics.set_model_info([(m.name, m.version, m.sha256, self.traffic.role(m.version)) for m in loaded])
        self.metrics.statistics.forget(self.name, {m.version for m in loaded})

    # ------------------------------------------------------------------------------------------------ admin switches
    async def switch_to(self, version: str) -> LoadedModel:
        """Serve exactly ``version`` (loading it first when needed): no split, a pin on another version dropped."""
        version = version.removeprefix("v")
        pulled = version not in self.versions
        if pulled:
            await self.reload(ON_ADMIN.standby(), version=version)  # counts the reload once
        async with self.lock:
            model = self.versions.get(version)
            self.traffic.serve_exactly(model)
            evicted = self._evict()
            self.publish_info()
            if not pulled:
                self.metrics.model_reloads.labels(model=self.name, result="success", trigger="admin").inc()
        if evicted:
            await in_thread(release_memory)
        return model

    async def unload(self, version: str) -> LoadedModel:
        """Forget a loaded version no traffic follows (requests holding it finish on it). Raises
        VersionNotLoadedError, or ReloadError(serving) for the active version, an A/B arm or the pinned one."""
        async with self.lock:
            model = self.versions.get(version)
            if model.version in self.traffic.protected():
                raise ReloadError(
                    Reason.SERVING,
                    f"{self.name} {model.version} serves traffic (role {self.traffic.role(model.version)}"
                    f"{', pinned' if self.traffic.pinned == model.version else ''}): roll back, pin or change the "
                    "A/B split first",
                )
            self.versions.remove(model.version)
            if model.source == "watch":
                self.discard_if_unused(model.path)
            self.publish_info()
        await in_thread(release_memory)
        logger.info("model %s %s unloaded", self.name, model.version)
        return model

    async def split(self, weights: Mapping[str, float], policy: TriggerPolicy) -> dict[str, float]:
        """Split traffic by ``weights`` (loading missing arms under ``policy``); ``{}`` clears the split."""
        clean = self.traffic.check_split(weights, self.settings.keep_versions)
        for version in clean:
            if version not in self.versions:
                # Every arm is protected: loading one arm must not evict another one loaded just before.
                arm_policy = policy.with_activation(self.traffic.active is None)
                await self.reload(arm_policy, version=version, protect=clean)
        async with self.lock:
            missing = sorted(v for v in clean if v not in self.versions)
            if missing:  # a concurrent reload evicted an arm: refuse rather than route that arm to another version
                raise ReloadError(
                    Reason.AB_EVICTED, f"A/B versions {', '.join(missing)} were unloaded meanwhile; retry"
                )
            self.traffic.split(clean)
            evicted = self._evict()
            self.publish_info()
        if evicted:
            await in_thread(release_memory)
        return self.traffic.weights


__all__ = ["Reloader"]
