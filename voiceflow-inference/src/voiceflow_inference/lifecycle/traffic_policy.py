"""Who serves a request: the active version, an A/B split (sticky by key), a pin. Pure: no I/O, no clock, no locks.

Readers (``route``, ``active``) see one consistent state without a lock: every change replaces an immutable tuple or
one reference in a single assignment. Writers are serialised by the reloader's lock.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Container, Mapping
from enum import Enum
from typing import Generic, Protocol, TypeVar

from voiceflow_inference.lifecycle.activation import Activation
from voiceflow_inference.lifecycle.errors import ReloadError
from voiceflow_inference.lifecycle.reasons import Reason

HISTORY_LIMIT = 50  # activations remembered for rollback


class HasVersion(Protocol):
    """Anything with a version string (a LoadedModel; a stub in tests)."""

    @property
    def version(self) -> str: ...


M = TypeVar("M", bound=HasVersion)


def sticky_unit(key: str) -> float:
    """Map a key (request or session id) to a stable number in [0, 1): the same key always gets the same A/B arm."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Admission(Enum):
    """What :meth:`TrafficPolicy.admit` decided for a freshly loaded version."""

    ACTIVATE = "activate"
    STANDBY = "standby"
    HELD_BY_PIN = "held_by_pin"  # would have followed, but a pin on another version holds traffic
    HELD_BY_SPLIT = "held_by_split"  # would have followed, but an A/B split holds traffic

    @property
    def activates(self) -> bool:
        """True when the version becomes active."""
        return self is Admission.ACTIVATE


class TrafficPolicy(Generic[M]):
    """The active model, the A/B table, the pin and the activation history of one served model."""

    def __init__(self) -> None:
        self._active: M | None = None
        self._history: list[str] = []  # activation order, newest last (for rollback)
        self._table: tuple[tuple[str, float], ...] = ()  # (version, cumulative weight), ending at exactly 1.0
        self._weights: dict[str, float] = {}
        self._pinned: str | None = None

    # ------------------------------------------------------------------------------------------------ read side
    @property
    def active(self) -> M | None:
        """The default version (None before the first activation)."""
        return self._active

    @property
    def pinned(self) -> str | None:
        """The pinned version, if any."""
        return self._pinned

    @property
    def weights(self) -> dict[str, float]:
        """The A/B weights (normalised to sum to 1), empty when no split is active."""
        return dict(self._weights)

    @property
    def history(self) -> list[str]:
        """Activated versions, oldest first (consecutive repeats collapsed)."""
        return list(self._history)

    def route(self, key: str | None, draw: Callable[[], float] = random.random) -> str | None:
        """The A/B arm for one request or session, None without a split (serve the active version).

        ``key`` picks the arm deterministically (:func:`sticky_unit`); ``None`` draws at random by weight."""
        table = self._table  # one read of an immutable tuple: consistent even if a swap happens right after
        if not table:
            return None
        point = sticky_unit(key) if key else draw()
        for version, edge in table:
            if point < edge:
                return version
        return None

    def role(self, version: str) -> str:
        """``active``, ``ab`` (in the split), or ``standby`` (loaded, kept for rollback)."""
        if self._active is not None and self._active.version == version:
            return "active"
        if version in self._weights:
            return "ab"
        return "standby"

    def protected(self) -> set[str]:
        """Versions eviction must keep: the active one, the split's arms and the pinned one."""
        keep = set(self._weights)
        if self._active is not None:
            keep.add(self._active.version)
        if self._pinned is not None:
            keep.add(self._pinned)
        return keep

    def rollback_target(self, loaded: Container[str]) -> str:
        """The most recently active version other than the current one that is still loaded."""
        current = self._active.version if self._active is not None else None
        for version in reversed(self._history):
            if version != current and version in loaded:
                return version
        raise ReloadError(Reason.NO_PREVIOUS, "no previous version is loaded to roll back to")

    # ------------------------------------------------------------------------------------------------ decisions
    def admit(self, version: str, activation: Activation) -> Admission:
        """Whether a freshly loaded ``version`` becomes active under ``activation``.

        ``SERVE`` also clears the split and the pin ("serve exactly this": a split or pin left in force would keep
        routing traffic elsewhere while /ready reports this version)."""
        if activation is Activation.STANDBY:
            return Admission.STANDBY
        if activation is Activation.FOLLOW:
            if self._pinned is not None and version != self._pinned:
                return Admission.HELD_BY_PIN
            if self._weights:
                return Admission.HELD_BY_SPLIT
            return Admission.ACTIVATE
        self.clear_split()
        self._pinned = None
        return Admission.ACTIVATE

    def check_split(self, weights: Mapping[str, float], keep_versions: int) -> dict[str, float]:
        """``weights`` with versions' ``v`` prefix dropped; raises ReloadError(ab_invalid) for a split that cannot
        be served (fewer than two arms, bad weights, more versions than ``keep_versions`` with the active one)."""
        clean = {v.removeprefix("v"): float(w) for v, w in weights.items()}
        if not clean:
            return clean
        if len(clean) < 2:
            raise ReloadError(Reason.AB_INVALID, "an A/B split needs two or more versions")
        if any(w < 0 or w != w for w in clean.values()) or sum(clean.values()) <= 0:
            raise ReloadError(Reason.AB_INVALID, "A/B weights must be >= 0 and not all zero")
        needed = set(clean) | ({self._active.version} if self._active is not None else set())
        if len(needed) > keep_versions:
            raise ReloadError(
                Reason.AB_INVALID,
                f"the split needs {len(needed)} loaded versions ({', '.join(sorted(needed))}, the active one "
                f"included) but keep_versions is {keep_versions}",
            )
        return clean

    # ------------------------------------------------------------------------------------------------ changes
    def activate(self, model: M) -> None:
        """Make ``model`` the default: one reference assignment; holders of the old object are unaffected."""
        self._active = model
        if not self._history or self._history[-1] != model.version:
            self._history.append(model.version)
            del self._history[:-HISTORY_LIMIT]

    def serve_exactly(self, model: M) -> None:
        """Rollback and pin: no split, ``model`` active, a pin on another version dropped."""
        self.clear_split()
        self.activate(model)
        if self._pinned != model.version:
            self._pinned = None

    def split(self, weights: Mapping[str, float]) -> None:
        """Route by ``weights`` (already checked; normalised here); a non-empty split drops the pin."""
        if not weights:
            self.clear_split()
            return
        total = sum(weights.values())
        ordered = sorted(weights.items(), key=lambda kv: _version_sort_key(kv[0]))
        cumulative, table = 0.0, []
        for version, weight in ordered:
            cumulative += weight / total
            table.append((version, cumulative))
        table[-1] = (table[-1][0], 1.0)  # no gap from rounding
        self._weights = {v: w / total for v, w in ordered}
        self._table = tuple(table)  # single assignment: readers see the old or the new table, never a mix
        self._pinned = None

    def clear_split(self) -> None:
        """Serve the active version to everyone."""
        self._table, self._weights = (), {}

    def pin(self, version: str) -> None:
        """Record ``version`` as pinned (the caller has just made it active)."""
        self._pinned = version

    def unpin(self) -> None:
        """Drop the pin."""
        self._pinned = None


def _version_sort_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (1 << 30,)


__all__ = ["HISTORY_LIMIT", "Admission", "HasVersion", "TrafficPolicy", "sticky_unit"]
