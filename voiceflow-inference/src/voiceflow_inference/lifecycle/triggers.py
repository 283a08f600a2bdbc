"""What starts a reload on its own: a new file in the watch directory, or the registry ref moving (polled).

The manager starts both loops in ``start()`` and stops them in ``stop()``, which the app lifespan calls. Each loop
survives errors: a failed reload keeps the old model serving, and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, awatch

from voiceflow_contract.errors import RegistryError
from voiceflow_inference.lifecycle.errors import ReloadError, reason_for
from voiceflow_inference.lifecycle.loader import LoadedModel
from voiceflow_inference.lifecycle.model_sources import ModelSources
from voiceflow_inference.lifecycle.reasons import TRANSIENT_REASONS, Reason
from voiceflow_inference.metrics import ServiceMetrics

logger = logging.getLogger(__name__)


class WatchDirTrigger:
    """Reloads ``target`` whenever it is (re)placed; the directory is created when missing."""

    def __init__(self, target: Path, reload_file: Callable[[Path], Awaitable[LoadedModel]]) -> None:
        self.target = target
        self._reload_file = reload_file

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set."""
        target = self.target
        target.parent.mkdir(parents=True, exist_ok=True)
        logger.info("watching %s for new models", target)
        while not stop.is_set():
            try:
                async for changes in awatch(target.parent, debounce=50, step=10, stop_event=stop, recursive=False):
                    if (
                        any(Path(p).resolve() == target and c != Change.deleted for c, p in changes)
                        and target.is_file()
                    ):
                        with contextlib.suppress(ReloadError):
                            await self._reload_file(target)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. the directory vanished: log, wait, watch again
                logger.error("watcher error on %s: %s", target.parent, exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(OSError):
                    target.parent.mkdir(parents=True, exist_ok=True)


class RegistryPoller:
    """Resolves the configured ref every ``interval_s`` and reloads when it moved.

    ``last_seen`` is the version the ref last resolved to that needs no reload (loaded, or refused for good): the
    poller does not load it again until the ref moves. Registry outages are counted in
    ``voiceflow_registry_poll_failures_total`` and reported as degraded, never as refused models.
    """

    def __init__(
        self,
        *,
        sources: ModelSources,
        ref: str,
        interval_s: float,
        reload_version: Callable[[str], Awaitable[LoadedModel]],
        active: Callable[[], LoadedModel | None],
        degraded: dict[str, str],
        metrics: ServiceMetrics,
    ) -> None:
        self.sources = sources
        self.name = sources.name
        self.ref = ref
        self.interval_s = interval_s
        self._reload_version = reload_version
        self._active = active
        self._degraded = degraded
        self.metrics = metrics
        self.last_seen: str | None = None

    def mark_seen(self, version: str) -> None:
        """``version`` is loaded: no poll reloads it until the ref moves."""
        self.last_seen = version

    async def poll_once(self) -> None:
        """Check whether the configured ref moved in the registry and reload when it did."""
        try:
            remote = await self.sources.resolve(self.ref)
        except (ReloadError, RegistryError, OSError) as exc:
            self._degraded["registry"] = f"registry poll failed (still serving the loaded model): {exc}"
            self.metrics.registry_poll_failures.labels(model=self.name, reason=reason_for(exc)).inc()
            logger.warning("%s", self._degraded["registry"])
            return
        self._degraded.pop("registry", None)
        active = self._active()
        if active is not None:
            self._degraded.pop("startup", None)  # the registry answers again
        if active is not None and remote == self.last_seen:
            return
        if active is not None and remote == active.version:
            self.last_seen = remote
            return
        logger.info("registry %s@%s moved to %s", self.name, self.ref, remote)
        try:
            await self._reload_version(remote)  # a success marks it seen
        except ReloadError as exc:
            if exc.reason not in TRANSIENT_REASONS:
                self.last_seen = remote  # refused for good: not retried until the pointer moves again

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; an unexpected error is logged and counted, and polling goes on."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
            if stop.is_set():
                return
            try:
                await self.poll_once()
            except Exception:  # a bug must not end hot reload silently: log it, count it, poll again
                logger.exception("registry poll of %s failed unexpectedly; polling goes on", self.name)
                self.metrics.registry_poll_failures.labels(model=self.name, reason=Reason.ERROR).inc()


__all__ = ["RegistryPoller", "WatchDirTrigger"]
