"""Pointer objects (``latest`` and aliases): which version they name now, and their append-only history.

Object stores have no symlinks, so a pointer is a small JSON object. It carries its own history, so the pointer objects
plus the committed version folders are the whole truth and manifest.json can always be rebuilt from them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field

from voiceflow_contract.errors import VersionNotFoundError
from voiceflow_contract.schemas.base import StrictModel
from voiceflow_contract.schemas.manifest import PointerMove


class PointerState(StrictModel):
    """The content of ``<model>/latest`` or ``<model>/aliases/<name>``."""

    schema_version: str = "1.0"
    pointer: str
    version: str
    updated_at: datetime
    history: list[PointerMove] = Field(default_factory=list)


def move_pointer(
    state: PointerState | None, pointer: str, to_version: str, action: str, actor: str | None
) -> tuple[PointerState, PointerMove]:
    """Return the pointer moved to ``to_version`` with one more history entry (history is only ever appended)."""
    now = datetime.now(UTC)
    move = PointerMove(
        pointer=pointer,
        from_version=state.version if state else None,
        to_version=to_version,
        at=now,
        action=action,
        actor=actor,
    )
    history = [*(state.history if state else []), move]
    return PointerState(pointer=pointer, version=to_version, updated_at=now, history=history), move


def effective_stack(history: list[PointerMove]) -> list[str]:
    """The versions a pointer has stood on, newest last, with rolled-back entries popped.

    publish/promote push their target; a rollback pops the top. So publish 1.0, publish 1.1, publish 1.2, rollback,
    rollback gives 1.2 -> 1.1 -> 1.0, not a toggle between the last two.
    """
    stack: list[str] = []
    for move in history:
        if move.action == "rollback":
            if stack:
                stack.pop()
            # Pop back to the version the rollback landed on (it is normally the new top already).
            if move.to_version in stack:
                while stack[-1] != move.to_version:
                    stack.pop()
            else:
                stack.append(move.to_version)
        elif not stack or stack[-1] != move.to_version:  # a move onto the current version changes nothing
            stack.append(move.to_version)
    return stack


def rollback_target(model: str, state: PointerState | None, pointer: str) -> str:
    """The version a rollback of ``pointer`` goes back to; VersionNotFoundError when there is none."""
    if state is None:
        raise VersionNotFoundError(f"model {model!r} has no pointer {pointer!r} to roll back")
    stack = effective_stack(state.history)
    if len(stack) < 2:
        raise VersionNotFoundError(
            f"model {model!r}: pointer {pointer!r} has no previous version to roll back to (it is at {state.version})"
        )
    return stack[-2]


__all__ = ["PointerState", "effective_stack", "move_pointer", "rollback_target"]
