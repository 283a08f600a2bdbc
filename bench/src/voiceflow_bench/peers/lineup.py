"""Every peer the harness knows, in table order, and ``--peers`` selection."""

from __future__ import annotations

from collections.abc import Sequence

from voiceflow_bench.peers import bentoml, kserve, litserve, mlserver, pytriton
from voiceflow_bench.peers.peer import Peer

PEERS: tuple[Peer, ...] = (kserve.PEER, mlserver.PEER, litserve.PEER, bentoml.PEER, pytriton.PEER)


def select(names: str | Sequence[str]) -> list[Peer]:
    """The peers named (comma-separated or a list), in table order; raises ValueError on an unknown name."""
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    known = {p.name for p in PEERS}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise ValueError(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [p for p in PEERS if p.name in wanted]


__all__ = ["PEERS", "select"]
