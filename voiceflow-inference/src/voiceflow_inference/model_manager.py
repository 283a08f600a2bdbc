"""ModelManager: which model versions are loaded, which one serves a request, and how they change without downtime."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread
from pydantic import ValidationError

from voiceflow_contract.errors import RegistryError
from voiceflow_contract.schemas import ModelMetadata
from voiceflow_inference.config import Settings
from voiceflow_inference.memory import release_memory
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.model_loader import (
    CacheIndex,
    LoadedModel,
    ModelRejectedError,
    load_model,
    read_sidecar,
    snapshot,
)

if TYPE_CHECKING:
    from voiceflow_contract.registry import PulledModel

logger = logging.getLogger(__name__)

Trigger = Literal["startup", "watch", "poll", "admin"]

# Refusals worth retrying on the next poll (the registry or the local disk, not the model). Any other refusal (contract,
# checksum, ...) is lasting: the poller skips that version until the pointer moves again.
_TRANSIENT_REASONS = frozenset(
    {"registry_unavailable", "registry", "error", "model_not_found", "version_not_found", "missing"}
)


class ModelNotReadyError(RuntimeError):
    """No model is loaded yet (the service answers 503)."""


class VersionNotLoadedError(LookupError):
    """The requested version is not loaded in this process (the service answers 404)."""


class ReloadError(RuntimeError):
    """A reload was refused; the previous model keeps serving. ``reason`` is a short label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def sticky_unit(key: str) -> float:
    """Map a key (request or session id) to a stable number in [0, 1): the same key always gets the same A/B arm."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class ModelManager:
    """Loads, validates, warms, swaps, pins, rolls back and A/B-splits model versions for one registry model.

    The API other modules use (stable):

    - ``acquire(key: str | None = None) -> LoadedModel``: the model to serve one request or session. With an A/B split
      active, ``key`` (the ``X-Request-ID`` header or the WebSocket session id) picks the arm deterministically
      (sha256 of the key; the same key always gets the same version); ``None`` picks at random by weight. Without a
      split it returns the active version. Raises :class:`ModelNotReadyError` before the first model is loaded.
      Hold on to the returned object for the whole request/session: a hot reload swaps the manager's reference, never
      the object you hold, so a session keeps one version from start to stop.
    - ``get(version: str) -> LoadedModel``: a specific loaded version (raises :class:`VersionNotLoadedError`).
    - ``active`` / ``ready`` / ``loaded()`` / ``status()``: what is served, for health and admin endpoints.
    - ``await reload(trigger, *, version=None, path=None, activate=True, protect=()) -> LoadedModel``: THE one code
      path for every model change (startup, watch-dir file, registry poll, admin): load + validate + warm beside the
      current model, then swap with a single reference assignment under an asyncio lock. A refused model raises
      :class:`ReloadError`, is logged and counted (``voiceflow_model_reloads_total{result="failure"}``), and the old
      model keeps serving. Eviction never drops the model just loaded nor the versions in ``protect``.
    - ``await rollback(version=None)``, ``await pin(version | None)``, ``await set_ab(weights)``: admin operations.
      Rollback, pin and an activating admin reload clear an A/B split and the pin (they mean "serve exactly this").
      While pinned or split, watch and poll reloads are still validated and loaded (role ``standby``) but not
      activated, so ``status()["version"]`` never names a version traffic does not follow.

    ``LoadedModel`` fields: ``name``, ``version``, ``sha256``, ``engine`` (``engine.run(float32[B, 48000]) ->
    {output name: array}``, ``engine.probabilities_name``, ``engine.embedding_name``), ``num_speakers``,
    ``embedding_dim``, ``metadata``, ``report``, ``source``, ``path``.
    """

    def __init__(self, settings: Settings, metrics: ServiceMetrics, registry: Any | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.name = settings.model_name
        self._registry = registry
        self._models: dict[str, LoadedModel] = {}
        self._active: LoadedModel | None = None
        self._history: list[str] = []  # activation order, newest last (for rollback)
        self._ab: tuple[tuple[str, float], ...] = ()  # (version, cumulative weight), normalised to end at 1.0
        self._ab_weights: dict[str, float] = {}
        self._pinned: str | None = None
        self._lock = asyncio.Lock()
        self._degraded: dict[str, str] = {}
        self._last_remote: str | None = None
        self._last_error: str | None = None
        self._startup_error = ""
        self.source: str | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._cache = CacheIndex(settings.cache_dir, settings.model_name)
        self.draining = False

    # ------------------------------------------------------------------------------------------------ read side
    @property
    def active(self) -> LoadedModel | None:
        """The default version (None before the first successful load)."""
        return self._active

    @property
    def ready(self) -> bool:
        """True once a model is loaded and the service is not draining."""
        return self._active is not None and not self.draining

    @property
    def pinned(self) -> str | None:
        """The pinned version, if any."""
        return self._pinned

    @property
    def ab_weights(self) -> dict[str, float]:
        """The current A/B weights (normalised), empty when no split is active."""
        return dict(self._ab_weights)

    @property
    def degraded_reasons(self) -> list[str]:
        """Human-readable reasons the service is degraded (empty when healthy)."""
        return list(self._degraded.values())

    def loaded(self) -> list[LoadedModel]:
        """Every loaded version, oldest load first."""
        return list(self._models.values())

    def acquire(self, key: str | None = None) -> LoadedModel:
        """The model to serve one request/session (see the class docstring)."""
        table = self._ab  # one read of an immutable tuple: consistent even if a swap happens right after
        if table:
            point = sticky_unit(key) if key else random.random()
            for version, edge in table:
                if point < edge:
                    chosen = self._models.get(version)
                    if chosen is not None:
                        self.metrics.ab_assignments.labels(model=chosen.name, version=chosen.version).inc()
                        return chosen
                    break
        active = self._active
        if active is None:
            raise ModelNotReadyError("no model is loaded yet")
        return active

    def get(self, version: str) -> LoadedModel:
        """A specific loaded version ('1.2.0' or 'v1.2.0')."""
        model = self._models.get(version.removeprefix("v")) or self._models.get(version)
        if model is None:
            loaded = ", ".join(self._models) or "none"
            raise VersionNotLoadedError(f"version {version!r} of {self.name} is not loaded (loaded: {loaded})")
        return model

    def role(self, version: str) -> str:
        """``active``, ``ab`` (in the split), or ``standby`` (loaded, kept for rollback)."""
        if self._active is not None and self._active.version == version:
            return "active"
        if version in self._ab_weights:
            return "ab"
        return "standby"

    def status(self) -> dict[str, Any]:
        """Readiness and model details for /ready and /admin/models."""
        active = self._active
        return {
            "ready": self.ready,
            "model": self.name,
            "version": active.version if active else None,
            "sha256": active.sha256 if active else None,
            "source": active.source if active else None,
            "degraded": bool(self._degraded) or active is None,
            "reasons": self.degraded_reasons + ([] if active else ["no model loaded"]),
            "pinned": self._pinned,
            "ab_weights": self.ab_weights,
            "last_error": self._last_error,
            "loaded": [dict(m.summary(), role=self.role(m.version)) for m in self._models.values()],
            "history": list(self._history),
        }

    # ------------------------------------------------------------------------------------------------ lifecycle
    async def start(self, *, background: bool = True) -> None:
        """Initial load (registry, else the verified cache, else the watch-dir file), the configured A/B split, then
        the watcher and poller. Never raises for a missing model: the service stays unready and keeps trying."""
        try:
            await self.reload("startup")
        except ReloadError as exc:
            logger.error("startup load from the registry failed: %s", exc)
            self._startup_error = str(exc)
            self._degraded["startup"] = f"could not load from the registry at start ({exc})"
            await self._start_from_fallbacks()
        if self.settings.ab_weights:
            try:
                await self.set_ab(self.settings.ab_weights, trigger="startup")
            except ReloadError as exc:
                self._degraded["ab"] = f"configured A/B split not applied: {exc}"
                logger.error("configured A/B split not applied: %s", exc)
        if background:
            if self.settings.watch_dir is not None:
                self._tasks.append(asyncio.create_task(self._watch_loop(), name="voiceflow-watch"))
            if self.settings.poll_interval_s > 0:
                self._tasks.append(asyncio.create_task(self._poll_loop(), name="voiceflow-poll"))

    async def stop(self) -> None:
        """Stop the watcher and poller."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _start_from_fallbacks(self) -> None:
        if await self._start_from_registry_cache():
            return
        for entry in self._cache.entries():
            try:
                metadata = ModelMetadata.model_validate(entry.metadata) if entry.metadata else None
                model = await self._in_thread(
                    load_model,
                    Path(entry.path),
                    self.settings,
                    name=self.name,
                    version=entry.version,
                    source="cache",
                    expected_sha256=entry.sha256,
                    metadata=metadata,
                )
            except (ModelRejectedError, ValidationError) as exc:
                logger.warning("cached %s %s unusable: %s", self.name, entry.version, exc)
                continue
            await self._install(model, "startup", activate=True)
            self._degraded["startup"] = self._fallback_reason(f"verified cached copy {model.version}", model)
            logger.warning("%s", self._degraded["startup"])
            return
        target = self._watch_target()
        if target is not None and target.is_file():
            try:
                model = await self.reload("startup", path=target)
                self._degraded["startup"] = self._fallback_reason("the watch-dir model", model)
                return
            except ReloadError as exc:
                logger.error("watch-dir model unusable at start: %s", exc)
        self._degraded["startup"] = (
            f"could not load from the registry at start ({self._startup_error}) and no verified cached copy: not ready"
        )
        logger.error("%s", self._degraded["startup"])

    def _fallback_reason(self, what: str, model: LoadedModel) -> str:
        return (
            f"registry unavailable or refused at start ({self._startup_error}); serving {what} "
            f"(version {model.version}, sha256 {model.sha256[:12]})"
        )

    async def _start_from_registry_cache(self) -> bool:
        """The registry client's offline fallback: the version ``model_ref`` resolved to at the last successful pull
        (else the newest verified cached version), re-checked against its sha256 and the contract."""
        try:
            from voiceflow_contract.registry import load_from_cache

            pulled = await self._in_thread(load_from_cache, self.settings.cache_dir, self.name, self.settings.model_ref)
            model = await self._load_pulled(pulled, "cache")
        except (RegistryError, ModelRejectedError, OSError, ValueError) as exc:
            logger.warning("no usable registry-cache copy of %s: %s", self.name, exc)
            return False
        await self._install(model, "startup", activate=True)
        self._degraded["startup"] = self._fallback_reason(f"verified cached copy {model.version}", model)
        logger.warning("%s", self._degraded["startup"])
        return True

    # ------------------------------------------------------------------------------------------------ the one path
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
        warm it beside the current model, then swap. Raises ReloadError; the old model keeps serving.

        Eviction never drops the model just loaded nor the versions in ``protect`` (e.g. the other arms of an A/B
        split being prepared)."""
        async with self._lock:
            try:
                if path is not None:
                    model = await self._load_from_file(path)
                else:
                    model = await self._load_from_registry(version or self.settings.model_ref)
            except ReloadError as exc:
                self._refused(trigger, exc)
                raise
            except ModelRejectedError as exc:
                err = ReloadError(exc.reason, str(exc))
                self._refused(trigger, err)
                raise err from exc
            except Exception as exc:  # fail closed on anything unexpected
                err = ReloadError("error", f"{type(exc).__name__}: {exc}")
                self._refused(trigger, err)
                raise err from exc
            if path is not None and model is self._active:
                logger.info("%s holds the model already active (%s): nothing to do", path, model.version)
                return model
            if trigger in ("startup", "poll") and path is None:
                self._last_remote = model.version
            do_activate = activate
            if self._pinned is not None and trigger in ("watch", "poll") and model.version != self._pinned:
                logger.warning(
                    "pinned to %s: %s %s loaded as standby, not activated", self._pinned, trigger, model.version
                )
                do_activate = False
            elif self._ab_weights and trigger in ("watch", "poll") and do_activate:
                logger.warning(
                    "A/B split %s in force: %s %s loaded as standby, not activated",
                    self._ab_weights,
                    trigger,
                    model.version,
                )
                do_activate = False
            if trigger == "admin" and do_activate:
                # "Serve exactly this": a split or pin left in force would keep routing traffic elsewhere while
                # /ready reports this version.
                self._set_ab({})
                self._pinned = None
            await self._install(model, trigger, activate=do_activate, protect=protect)
            return model

    def _refused(self, trigger: str, exc: ReloadError) -> None:
        self._last_error = f"{trigger}: {exc}"
        self.metrics.model_reloads.labels(model=self.name, result="failure", trigger=trigger).inc()
        serving = self._active.version if self._active else "nothing"
        logger.error(
            "model %s refused (%s, trigger=%s): %s; still serving %s", self.name, exc.reason, trigger, exc, serving
        )

    async def _install(
        self, model: LoadedModel, trigger: str, *, activate: bool, protect: Collection[str] = ()
    ) -> None:
        """Register a validated model and (optionally) make it active. Caller holds the lock or is the sole writer.

        Eviction never drops ``model`` itself (a standby load would be wasted, a pin/rollback target lost) nor
        ``protect``."""
        existing = self._models.get(model.version)
        if existing is not None and existing.sha256 != model.sha256 and existing is not model:
            logger.warning(
                "replacing loaded %s %s (sha256 %s) by sha256 %s",
                model.name,
                model.version,
                existing.sha256[:12],
                model.sha256[:12],
            )
        dropped: LoadedModel | None = None
        if existing is None or existing.sha256 != model.sha256:
            self._models[model.version] = model
            dropped = existing
        else:
            dropped = model if model is not existing else None
            model = existing
        if activate:
            self._activate(model)
        if dropped is not None and dropped.source == "watch":
            self._discard_snapshot(dropped.path)
        evicted = self._evict(protect={model.version, *protect})
        self._publish_info()
        self.metrics.model_reloads.labels(model=self.name, result="success", trigger=trigger).inc()
        if model.source != "cache":
            await self._in_thread(self._cache.record, model)
        if evicted:
            # Without a trim, RSS keeps every reload's high-water mark (docs/PERFORMANCE_ANALYSIS.md, hot reload).
            await self._in_thread(release_memory)
        logger.info(
            "model %s %s (sha256 %s, from %s) loaded by %s%s",
            model.name,
            model.version,
            model.sha256[:12],
            model.source,
            trigger,
            "; now active" if activate else "",
        )

    def _activate(self, model: LoadedModel) -> None:
        self._active = model  # the atomic swap: one reference assignment; holders of the old object are unaffected
        self.source = model.source
        if not self._history or self._history[-1] != model.version:
            self._history.append(model.version)
            del self._history[:-50]

    def _evict(self, protect: Collection[str] = ()) -> int:
        """Drop loaded versions beyond keep_versions (never the active, A/B, pinned or ``protect`` ones); returns how
        many."""
        keep = set(protect)
        if self._active:
            keep.add(self._active.version)
        keep |= set(self._ab_weights)
        if self._pinned:
            keep.add(self._pinned)
        extra = len(self._models) - self.settings.keep_versions
        dropped = 0
        for version in list(self._models):
            if extra <= 0:
                break
            if version not in keep:
                # Requests still holding this LoadedModel finish on it; it is freed when they drop it.
                evicted = self._models.pop(version)
                extra -= 1
                dropped += 1
                if evicted.source == "watch":
                    self._discard_snapshot(evicted.path)
        return dropped

    def _discard_snapshot(self, path: Path) -> None:
        """Delete a watch-dir snapshot no loaded model uses (ONNX Runtime holds the bytes, not the file)."""
        if any(m.path == path for m in self._models.values()) or (self._active and self._active.path == path):
            return
        with contextlib.suppress(OSError):
            path.unlink()

    def _publish_info(self) -> None:
        self.metrics.set_model_info(
            [(m.name, m.version, m.sha256, self.role(m.version)) for m in self._models.values()]
        )

    async def _load_from_registry(self, ref: str) -> LoadedModel:
        registry = self._get_registry()
        try:
            resolved = await self._in_thread(registry.resolve, self.name, ref)
            version = str(resolved)
            current = self._models.get(version)
            if current is not None:
                return current  # already validated and warm: instant
            pulled = await self._in_thread(self._pull, registry, version)
        except RegistryError as exc:
            raise ReloadError(_reason_of(exc), f"registry: {exc}") from exc
        except OSError as exc:
            raise ReloadError("registry_unavailable", f"registry unreachable: {exc}") from exc
        return await self._load_pulled(pulled, "registry")

    def _pull(self, registry: Any, version: str) -> Any:
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        return registry.pull(self.name, version, self.settings.cache_dir)

    async def _load_from_file(self, path: Path) -> LoadedModel:
        sidecar = await self._in_thread(read_sidecar, path)
        snap, digest = await self._in_thread(snapshot, path, self.settings.cache_dir)
        if self._active is not None and self._active.sha256 == digest:
            self._discard_snapshot(snap)  # kept only if the active model is this very snapshot
            return self._active  # the same bytes again (e.g. a touch): nothing to do
        try:
            if sidecar is not None and sidecar.sha256 != digest:
                raise ModelRejectedError(
                    "checksum_mismatch",
                    f"{path.name} has sha256 {digest} but its sidecar says {sidecar.sha256} "
                    "(file replaced without its sidecar?)",
                )
            if sidecar is not None and sidecar.model_name != self.name:
                raise ModelRejectedError(
                    "wrong_model", f"sidecar names model {sidecar.model_name!r}, serving {self.name!r}"
                )
            metadata = None
            if sidecar is not None and sidecar.metadata:
                try:
                    metadata = ModelMetadata.model_validate(sidecar.metadata)
                except ValidationError as exc:
                    raise ModelRejectedError("sidecar", f"sidecar metadata invalid: {exc}") from exc
            loaded: LoadedModel = await self._in_thread(
                load_model,
                snap,
                self.settings,
                name=self.name,
                version=sidecar.version.removeprefix("v") if sidecar else f"local-{digest[:12]}",
                source="watch",
                expected_sha256=digest,
                metadata=metadata,
            )
        except ModelRejectedError:
            self._discard_snapshot(snap)  # a refused file leaves nothing behind in the cache
            raise
        return loaded

    def _get_registry(self) -> Any:
        if self._registry is None:
            from voiceflow_contract.registry import ModelRegistry

            try:
                self._registry = ModelRegistry(
                    self.settings.registry_url, storage_options=self.settings.storage_options
                )
            except RegistryError as exc:
                raise ReloadError(_reason_of(exc), f"registry: {exc}") from exc
            except (OSError, ValueError) as exc:
                raise ReloadError("registry_unavailable", f"registry {self.settings.registry_url}: {exc}") from exc
        return self._registry

    async def _load_pulled(self, pulled: PulledModel, source: str) -> LoadedModel:
        """Load, validate and warm a verified registry pull (fresh or from the cache) off the event loop."""
        loaded: LoadedModel = await self._in_thread(
            load_model,
            Path(pulled.path),
            self.settings,
            name=self.name,
            version=str(pulled.version),
            source=source,
            expected_sha256=pulled.sha256,
            metadata=pulled.metadata,
            registry_report=pulled.report,
        )
        return loaded

    @staticmethod
    async def _in_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs))

    # ------------------------------------------------------------------------------------------------ admin ops
    async def rollback(self, version: str | None = None) -> LoadedModel:
        """Serve the previously active version (or ``version``): instant when still loaded, else pulled. Clears A/B."""
        if version is None:
            current = self._active.version if self._active else None
            candidates = [v for v in reversed(self._history) if v != current and v in self._models]
            if not candidates:
                raise ReloadError("no_previous", "no previous version is loaded to roll back to")
            version = candidates[0]
        model = await self._switch_to(version)
        logger.warning("rolled back %s to %s", self.name, model.version)
        return model

    async def pin(self, version: str | None) -> LoadedModel | None:
        """Pin ``version`` (serve only it; watch/poll no longer switch) or unpin with None. Clears A/B when pinning."""
        if version is None:
            self._pinned = None
            self._publish_info()
            return None
        model = await self._switch_to(version)
        self._pinned = model.version
        self._publish_info()
        return model

    async def _switch_to(self, version: str) -> LoadedModel:
        version = version.removeprefix("v")
        pulled = version not in self._models
        if pulled:
            await self.reload("admin", version=version, activate=False)  # counts the reload once
        async with self._lock:
            model = self.get(version)
            self._set_ab({})
            self._activate(model)
            self._pinned = None if self._pinned != model.version else self._pinned
            evicted = self._evict()
            self._publish_info()
            if not pulled:
                self.metrics.model_reloads.labels(model=self.name, result="success", trigger="admin").inc()
        if evicted:
            await self._in_thread(release_memory)
        return model

    async def set_ab(self, weights: dict[str, float], *, trigger: Trigger = "admin") -> dict[str, float]:
        """Split traffic across versions by weight (loading missing ones); ``{}`` clears the split."""
        clean = {v.removeprefix("v"): float(w) for v, w in weights.items()}
        if clean:
            if len(clean) < 2:
                raise ReloadError("ab_invalid", "an A/B split needs two or more versions")
            if any(w < 0 or w != w for w in clean.values()) or sum(clean.values()) <= 0:
                raise ReloadError("ab_invalid", "A/B weights must be >= 0 and not all zero")
            needed = set(clean) | ({self._active.version} if self._active else set())
            if len(needed) > self.settings.keep_versions:
                raise ReloadError(
                    "ab_invalid",
                    f"the split needs {len(needed)} loaded versions ({', '.join(sorted(needed))}, the active one "
                    f"included) but keep_versions is {self.settings.keep_versions}",
                )
        for version in clean:
            if version not in self._models:
                # Every arm is protected: loading one arm must not evict another one loaded just before.
                await self.reload(trigger, version=version, activate=self._active is None, protect=clean)
        async with self._lock:
            missing = sorted(v for v in clean if v not in self._models)
            if missing:  # a concurrent reload evicted an arm: refuse rather than route that arm to another version
                raise ReloadError("ab_evicted", f"A/B versions {', '.join(missing)} were unloaded meanwhile; retry")
            self._set_ab(clean)
            self._pinned = None if clean else self._pinned
            evicted = self._evict()
            self._publish_info()
        if evicted:
            await self._in_thread(release_memory)
        self._degraded.pop("ab", None)
        return self.ab_weights

    def _set_ab(self, weights: dict[str, float]) -> None:
        if not weights:
            self._ab, self._ab_weights = (), {}
            return
        total = sum(weights.values())
        ordered = sorted(weights.items(), key=lambda kv: _version_sort_key(kv[0]))
        cumulative, table = 0.0, []
        for version, weight in ordered:
            cumulative += weight / total
            table.append((version, cumulative))
        table[-1] = (table[-1][0], 1.0)  # no gap from rounding
        self._ab_weights = {v: w / total for v, w in ordered}
        self._ab = tuple(table)  # single assignment: readers see the old or the new table, never a mix

    # ------------------------------------------------------------------------------------------------ triggers
    def _watch_target(self) -> Path | None:
        if self.settings.watch_dir is None:
            return None
        return (self.settings.watch_dir / self.settings.watch_filename).resolve()

    async def _watch_loop(self) -> None:
        from watchfiles import Change, awatch

        target = self._watch_target()
        if target is None:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        logger.info("watching %s for new models", target)
        while not self._stop.is_set():
            try:
                async for changes in awatch(
                    target.parent, debounce=50, step=10, stop_event=self._stop, recursive=False
                ):
                    if (
                        any(Path(p).resolve() == target and c != Change.deleted for c, p in changes)
                        and target.is_file()
                    ):
                        with contextlib.suppress(ReloadError):
                            await self.reload("watch", path=target)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. the directory vanished: log, wait, watch again
                logger.error("watcher error on %s: %s", target.parent, exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(OSError):
                    target.parent.mkdir(parents=True, exist_ok=True)

    async def _poll_loop(self) -> None:
        interval = self.settings.poll_interval_s
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)
            if self._stop.is_set():
                return
            try:
                await self.poll_once()
            except Exception:  # a bug must not end hot reload silently: log it, count it, poll again
                logger.exception("registry poll of %s failed unexpectedly; polling goes on", self.name)
                self.metrics.registry_poll_failures.labels(model=self.name, reason="error").inc()

    async def poll_once(self) -> None:
        """Check whether the configured ref moved in the registry and reload when it did."""
        try:
            registry = self._get_registry()
            remote = str(await self._in_thread(registry.resolve, self.name, self.settings.model_ref))
        except (ReloadError, RegistryError, OSError) as exc:
            self._degraded["registry"] = f"registry poll failed (still serving the loaded model): {exc}"
            self.metrics.registry_poll_failures.labels(model=self.name, reason=_reason_of(exc)).inc()
            logger.warning("%s", self._degraded["registry"])
            return
        self._degraded.pop("registry", None)
        if self._active is not None:
            self._degraded.pop("startup", None)  # the registry answers again
        if self._active is not None and remote == self._last_remote:
            return
        if self._active is not None and remote == self._active.version:
            self._last_remote = remote
            return
        logger.info("registry %s@%s moved to %s", self.name, self.settings.model_ref, remote)
        try:
            await self.reload("poll", version=remote)  # success records _last_remote
        except ReloadError as exc:
            if exc.reason not in _TRANSIENT_REASONS:
                self._last_remote = remote  # refused for good: not retried until the pointer moves again


def _version_sort_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (1 << 30,)


def _reason_of(exc: BaseException) -> str:
    name = type(exc).__name__.removesuffix("Error")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_") or "registry"


__all__ = [
    "ModelManager",
    "ModelNotReadyError",
    "ReloadError",
    "Trigger",
    "VersionNotLoadedError",
    "sticky_unit",
]
