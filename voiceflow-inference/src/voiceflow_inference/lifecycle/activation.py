"""What a reload does to traffic, stated by the trigger that asks for it (never inferred from the trigger's name).

Each trigger passes a :class:`TriggerPolicy`: its metric label, its :class:`Activation`, and whether a registry load
marks the version as seen by the poller. ``ModelManager.reload(trigger, ...)`` (the admin API) looks its policy up in
:data:`TRIGGER_POLICIES`; the watch and poll loops and start-up pass theirs directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal

Trigger = Literal["startup", "watch", "poll", "admin"]  # the ``trigger`` label of voiceflow_model_reloads_total


class Activation(Enum):
    """What a freshly loaded version does to traffic."""

    SERVE = "serve"
    """Serve exactly this version: activate it and clear an A/B split and a pin (an admin reload)."""
    FOLLOW = "follow"
    """Activate it unless a pin on another version or an A/B split holds traffic; then load it as standby."""
    STANDBY = "standby"
    """Load and keep it warm (rollback, A/B, pin targets); never activate it."""


@dataclass(frozen=True)
class TriggerPolicy:
    """How one trigger's reloads behave.

    Attributes:
        trigger: the metric label.
        activation: what the loaded version does to traffic.
        marks_seen: a registry load records the version the ref resolved to, so the poller does not load it again
            until the ref moves.
    """

    trigger: Trigger
    activation: Activation
    marks_seen: bool = False

    def standby(self) -> TriggerPolicy:
        """The same trigger, loading without activating."""
        return replace(self, activation=Activation.STANDBY)

    def with_activation(self, activate: bool) -> TriggerPolicy:
        """This policy when ``activate``, else its standby form."""
        return self if activate else self.standby()


ON_STARTUP = TriggerPolicy("startup", Activation.FOLLOW, marks_seen=True)
ON_WATCH = TriggerPolicy("watch", Activation.FOLLOW)
ON_POLL = TriggerPolicy("poll", Activation.FOLLOW, marks_seen=True)
ON_ADMIN = TriggerPolicy("admin", Activation.SERVE)

TRIGGER_POLICIES: dict[Trigger, TriggerPolicy] = {
    "startup": ON_STARTUP,
    "watch": ON_WATCH,
    "poll": ON_POLL,
    "admin": ON_ADMIN,
}

__all__ = [
    "ON_ADMIN",
    "ON_POLL",
    "ON_STARTUP",
    "ON_WATCH",
    "TRIGGER_POLICIES",
    "Activation",
    "Trigger",
    "TriggerPolicy",
]
