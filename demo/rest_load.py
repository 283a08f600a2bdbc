"""REST /infer load in a background thread while the server hot-reloads and rolls back: requests, failures, the
versions that answered, and round-trip latency."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import httpx
import numpy as np

from voiceflow_contract.spec import WINDOW_SAMPLES


@dataclass
class Load:
    """REST /infer load in a background thread: counts requests, failures, versions seen and latency."""

    url: str
    requests: int = 0
    failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin sending requests."""
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        rng = np.random.default_rng(0)
        body = json.dumps({"audio": [(0.1 * rng.standard_normal(WINDOW_SAMPLES)).round(4).tolist()]})
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    response = client.post(
                        f"{self.url}/infer", content=body, headers={"Content-Type": "application/json"}
                    )
                    ok = response.status_code == 200
                    if ok:
                        version = response.json()["version"]
                        self.versions[version] = self.versions.get(version, 0) + 1
                    else:
                        self.errors.append(f"{response.status_code} {response.text[:120]}")
                except httpx.HTTPError as exc:
                    ok = False
                    self.errors.append(repr(exc))
                self.requests += 1
                self.failures += 0 if ok else 1
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                time.sleep(0.02)
