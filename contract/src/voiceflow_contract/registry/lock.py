"""An optimistic lock object in the registry root, so two publishers never lose each other's manifest entries.

The lock is an object created with "create only if absent" (``os.link`` locally, ``If-None-Match: *`` on S3 and Azure,
``ifGenerationMatch=0`` on GCS). A holder that crashed leaves it behind, so a lock older than ``stale_after`` seconds
(by the timestamp written inside it) is broken. Holders only keep it for a few small reads and writes (pointer objects
and manifest.json), never during a model upload, so a short staleness bound is safe.

Limits (see docs/registry.md): the GCS emulator ignores ``ifGenerationMatch``, so there it is not a lock; breaking a
stale lock is a check-then-delete, safe as long as no live holder keeps it longer than ``stale_after``.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import random
import socket
import time
import uuid
from types import TracebackType

from voiceflow_contract.errors import RegistryError
from voiceflow_contract.registry.storage import Storage


def actor_name() -> str:
    """``user@host`` recorded in locks and pointer history."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


class StorageLock:
    """Context manager holding ``<root>/<path>`` exclusively; RegistryError after ``timeout`` seconds of waiting."""

    def __init__(self, storage: Storage, path: str, *, timeout: float = 60.0, stale_after: float = 30.0) -> None:
        """Prepare a lock on ``path``; nothing is written until ``__enter__``."""
        self.storage = storage
        self.path = path
        self.timeout = timeout
        self.stale_after = stale_after
        self.token = uuid.uuid4().hex
        self.held = False

    def _body(self) -> bytes:
        body = {"token": self.token, "created": time.time(), "actor": actor_name(), "pid": os.getpid()}
        return json.dumps(body).encode()

    def _is_stale(self) -> tuple[bool, str | None]:
        """(stale?, token) of the current holder; an unreadable or vanished lock counts as not stale (retry soon)."""
        try:
            data = json.loads(self.storage.read_bytes(self.path))
            created = float(data["created"])
            return time.time() - created > self.stale_after, str(data["token"])
        except FileNotFoundError:
            return False, None
        except (ValueError, KeyError, TypeError):
            # A torn or foreign lock object: treat as stale so the registry does not stay locked forever.
            return True, None

    def acquire(self) -> None:
        """Create the lock object, retrying with jittered exponential backoff."""
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            try:
                self.storage.create_bytes(self.path, self._body())
                self.held = True
                return
            except FileExistsError:
                pass
            stale, holder = self._is_stale()
            if stale:
                # Re-check the holder right before deleting so we do not remove a lock someone just re-took.
                again_stale, again_holder = self._is_stale()
                if again_stale and again_holder == holder:
                    self.storage.remove(self.path)
                    continue
            if time.monotonic() >= deadline:
                raise RegistryError(
                    f"registry {self.storage.url} is locked by another writer ({self.path}); "
                    f"gave up after {self.timeout:.0f} s"
                )
            attempt += 1
            time.sleep(min(0.02 * (2 ** min(attempt, 6)), 1.0) * (0.5 + random.random()))

    def release(self) -> None:
        """Delete the lock object if it is still ours."""
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(FileNotFoundError, RegistryError):
            data = json.loads(self.storage.read_bytes(self.path))
            if data.get("token") == self.token:
                self.storage.remove(self.path)

    def __enter__(self) -> StorageLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


__all__ = ["StorageLock", "actor_name"]
