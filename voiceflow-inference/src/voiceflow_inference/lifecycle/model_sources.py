"""Where a model comes from: a registry pull, a watched file, a verified-cache entry. Each becomes a validated, warm
:class:`LoadedModel` off the event loop (blocking work runs in a worker thread)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from time import monotonic
from typing import Any, TypeVar

import anyio.to_thread
from pydantic import ValidationError

from voiceflow_contract.errors import RegistryError
from voiceflow_contract.registry import ModelRegistry, PulledModel, load_from_cache
from voiceflow_contract.schemas import ModelMetadata
from voiceflow_inference.config import Settings
from voiceflow_inference.lifecycle.errors import ModelRejectedError, ReloadError, reason_for
from voiceflow_inference.lifecycle.loader import LoadedModel, load_model
from voiceflow_inference.lifecycle.reasons import TRANSIENT_REASONS, Reason
from voiceflow_inference.lifecycle.verified_cache import CacheEntry, remove_cached_version
from voiceflow_inference.lifecycle.watch_files import read_sidecar, snapshot

T = TypeVar("T")

LISTING_TTL_S = 5.0  # how long one registry listing answers the (open) repository index


async def in_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking ``func`` in anyio's worker threads."""
    return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))


class ModelSources:
    """The registry client (built on first use unless one is given) and the loads from each source."""

    def __init__(self, settings: Settings, registry: Any | None = None) -> None:
        self.settings = settings
        self.name = settings.model_name
        self._registry = registry
        self._listing: tuple[float, list[str]] | None = None

    def registry(self) -> Any:
        """The registry client; raises ReloadError when it cannot be built."""
        if self._registry is None:
            try:
                self._registry = ModelRegistry(
                    self.settings.registry_url, storage_options=self.settings.storage_options
                )
            except RegistryError as exc:
                raise ReloadError(reason_for(exc), f"registry: {exc}") from exc
            except (OSError, ValueError) as exc:
                raise ReloadError(Reason.REGISTRY_UNAVAILABLE, f"registry {self.settings.registry_url}: {exc}") from exc
        return self._registry

    async def published_versions(self) -> list[str]:
        """The registry's versions of the model, oldest first. One listing serves for ``LISTING_TTL_S``: the
        repository index is open, so its callers must not drive a registry listing each. Raises like the client."""
        cached = self._listing
        if cached is not None and monotonic() - cached[0] < LISTING_TTL_S:
            return list(cached[1])
        registry = self.registry()
        versions = [str(v) for v in await in_thread(registry.list_versions, self.name)]
        self._listing = (monotonic(), versions)
        return list(versions)

    async def resolve(self, ref: str) -> str:
        """The version ``ref`` points at now. Raises ReloadError (no client), RegistryError or OSError."""
        registry = self.registry()
        return str(await in_thread(registry.resolve, self.name, ref))

    async def from_registry(self, ref: str, already_loaded: Callable[[str], LoadedModel | None]) -> LoadedModel:
        """Resolve ``ref``; a version ``already_loaded`` returns at once, else it is pulled (sha256-checked) and
        loaded. Raises ReloadError (registry trouble) or ModelRejectedError (the model)."""
        registry = self.registry()
        try:
            version = str(await in_thread(registry.resolve, self.name, ref))
            current = already_loaded(version)
            if current is not None:
                return current  # already validated and warm: instant
            pulled = await in_thread(self._pull, registry, version)
        except RegistryError as exc:
            raise ReloadError(reason_for(exc), f"registry: {exc}") from exc
        except OSError as exc:
            raise ReloadError(Reason.REGISTRY_UNAVAILABLE, f"registry unreachable: {exc}") from exc
        return await self.from_pull(pulled, "registry")

    def _pull(self, registry: Any, version: str) -> PulledModel:
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        pulled: PulledModel = registry.pull(self.name, version, self.settings.cache_dir)
        return pulled

    async def from_pull(self, pulled: PulledModel, source: str) -> LoadedModel:
        """Load, validate and warm a verified registry pull (fresh or from the cache). A refused model's cache folder
        is removed (it must not serve, nor be found again by the offline fallback); a transient failure keeps it."""
        try:
            return await in_thread(
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
        except ModelRejectedError as exc:
            if exc.reason not in TRANSIENT_REASONS:
                await in_thread(remove_cached_version, self.settings.cache_dir, Path(pulled.path))
            raise

    async def older_versions(self, ref: str) -> list[str]:
        """Registry versions older than what ``ref`` resolves to, newest first (empty when the registry is down)."""
        try:
            registry = self.registry()
            current = await in_thread(registry.resolve, self.name, ref)
            versions = await in_thread(registry.list_versions, self.name)
        except (ReloadError, RegistryError, OSError, ValueError):
            return []
        return [str(v) for v in sorted((v for v in versions if v < current), reverse=True)]

    async def from_registry_cache(self) -> LoadedModel:
        """The registry client's offline copy: the version ``model_ref`` resolved to at the last successful pull
        (else the newest verified cached version), re-checked against its sha256 and the contract."""
        pulled = await in_thread(load_from_cache, self.settings.cache_dir, self.name, self.settings.model_ref)
        return await self.from_pull(pulled, "cache")

    async def from_cache_entry(self, entry: CacheEntry) -> LoadedModel:
        """A copy our own cache index recorded as verified, checked again. Raises ModelRejectedError or
        ValidationError (unreadable recorded metadata)."""
        metadata = ModelMetadata.model_validate(entry.metadata) if entry.metadata else None
        return await in_thread(
            load_model,
            Path(entry.path),
            self.settings,
            name=self.name,
            version=entry.version,
            source="cache",
            expected_sha256=entry.sha256,
            metadata=metadata,
        )

    async def from_file(
        self, path: Path, *, active: LoadedModel | None, discard_if_unused: Callable[[Path], None]
    ) -> LoadedModel:
        """A watched file: snapshot it into the cache, check its sidecar, load the snapshot. The same bytes as
        ``active`` return ``active`` (e.g. a touch). A refused file leaves no snapshot behind."""
        sidecar = await in_thread(read_sidecar, path)
        snap, digest = await in_thread(snapshot, path, self.settings.cache_dir)
        if active is not None and active.sha256 == digest:
            discard_if_unused(snap)  # kept only if the active model is this very snapshot
            return active
        try:
            if sidecar is not None and sidecar.sha256 != digest:
                raise ModelRejectedError(
                    Reason.CHECKSUM_MISMATCH,
                    f"{path.name} has sha256 {digest} but its sidecar says {sidecar.sha256} "
                    "(file replaced without its sidecar?)",
                )
            if sidecar is not None and sidecar.model_name != self.name:
                raise ModelRejectedError(
                    Reason.WRONG_MODEL, f"sidecar names model {sidecar.model_name!r}, serving {self.name!r}"
                )
            metadata = None
            if sidecar is not None and sidecar.metadata:
                try:
                    metadata = ModelMetadata.model_validate(sidecar.metadata)
                except ValidationError as exc:
                    raise ModelRejectedError(Reason.SIDECAR, f"sidecar metadata invalid: {exc}") from exc
            return await in_thread(
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
            discard_if_unused(snap)
            raise


__all__ = ["ModelSources", "in_thread"]
