"""`voiceflow-inference deploy` (the seed's production deployment workflow against a running service): what it does,
its options, defaults and exit codes. The text from step 1 on is the command's ``--help`` description.

    voiceflow-inference deploy --server URL --version X.Y.Z|latest [--model NAME] [--env ENV] [--token T]
        [--registry URL] [--pin/--no-pin] [--smoke-windows N] [--max-latency-ms MS] [--report PATH]

1. **preflight** (nothing changes on the server): ``/health``, ``/ready`` (records the version served now, the pin and
   any A/B split), the admin token (``GET /admin/models``); resolve the version in the registry, pull it (sha256
   verified) and validate it here with the contract validator.
2. **move**: ``POST /admin/reload {"version": V}`` (the server pulls, validates, warms and swaps), then
   ``POST /admin/pin {"version": V}`` when pinning (default for production, or when the server was pinned); wait
   until ``/ready`` reports V with the registry's sha256 (bounded by ``--timeout``).
3. **smoke**: ``/health`` 200, ``/ready`` on V, ``/infer`` on N synthetic 1 s windows (one batch + N single calls):
   200, the answer names V, probabilities finite and rows sum to 1, round-trip p99 of the single calls <= the budget
   (default: the model profile's p99 budget from the contract, 10 ms for cpu-realtime, plus 240 ms of HTTP/JSON slack).
4. **rollback** on any failure after the server was touched: ``POST /admin/rollback {"version": previous}`` (and the
   previous pin restored), verified on ``/ready``.
5. **report**: a table on stdout, progress on stderr, JSON with ``--report`` (rendering and arguments:
   :mod:`voiceflow_inference.client.deploy_cli`).

Exit codes: 0 deployed; 1 the model failed validation here; 2 bad usage/configuration; 3 registry error;
4 preflight against the server failed (unreachable, not answering, wrong token, other model); 5 the server refused
the reload (it keeps serving the previous version); 6 a check after the move failed and the server was rolled back;
7 a check failed and the rollback failed too (or there was nothing to roll back to): act now.
In cases 1-5 nothing changed on the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voiceflow_inference.config import Limits

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_REGISTRY = 0, 1, 2, 3
EXIT_PREFLIGHT, EXIT_REFUSED, EXIT_ROLLED_BACK, EXIT_ROLLBACK_FAILED = 4, 5, 6, 7

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_SMOKE_WINDOWS = 5
MAX_SMOKE_WINDOWS = Limits().max_batch  # the service's default limits.max_batch: the batch smoke call must fit
HTTP_SLACK_MS = 240.0  # JSON encode/decode of ~0.4 MB per window + HTTP, on top of the model's p99 budget
READY_POLL_S = 0.2


@dataclass
class DeployOptions:
    """Parsed ``deploy`` arguments (None: take the default described in ``--help``)."""

    server: str
    version: str
    env: str
    model: str | None = None
    token: str | None = None
    registry: str | None = None
    pin: bool | None = None
    smoke_windows: int = DEFAULT_SMOKE_WINDOWS
    max_latency_ms: float | None = None
    timeout: float = 120.0
    cache_dir: Path | None = None
    validate_latency: bool | None = None


__all__ = [
    "DEFAULT_SERVER",
    "DEFAULT_SMOKE_WINDOWS",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_PREFLIGHT",
    "EXIT_REFUSED",
    "EXIT_REGISTRY",
    "EXIT_ROLLBACK_FAILED",
    "EXIT_ROLLED_BACK",
    "EXIT_USAGE",
    "HTTP_SLACK_MS",
    "MAX_SMOKE_WINDOWS",
    "READY_POLL_S",
    "DeployOptions",
]
