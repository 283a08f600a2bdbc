"""What the harness knows of one peer: the packages its venv gets (pinned), the protocol the load generator speaks to
it, the settings it runs with (stated in the table) and how to launch it. One adapter module per peer builds one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceflow_bench.peers.process import Launch
from voiceflow_bench.serving.http_client import Request

#: The server scripts the peers' own interpreters run (they import the peer's package, never ours).
SERVERS_DIR = Path(__file__).resolve().parent / "servers"

LaunchFn = Callable[[Path, Path, int, Path], Launch]  # (venv python, model.onnx, port, work dir) -> Launch
RequestFn = Callable[[np.ndarray], Request]  # float32 [B, WINDOW_SAMPLES] -> the peer's request for it


@dataclass(frozen=True)
class Peer:
    """One serving stack under test, installed into its own venv (``.cache/peer-venvs/<name>``)."""

    name: str  # venv folder and --peers name
    label: str  # the table's server column
    packages: tuple[str, ...]  # pinned pip requirements (ONNX Runtime and numpy are added for every peer)
    distribution: str  # the distribution whose version the row reports
    protocol: str  # what the load generator sends, e.g. "OIP binary"
    settings: str  # workers, batching: the best documented settings for this case
    launch: LaunchFn
    request: RequestFn
    oip_model: str | None = None  # set when the peer speaks binary OIP: c=1 then goes through tritonclient


def script(name: str) -> str:
    """Path of a server script in ``servers/``."""
    return str(SERVERS_DIR / name)


__all__ = ["SERVERS_DIR", "LaunchFn", "Peer", "RequestFn", "script"]
