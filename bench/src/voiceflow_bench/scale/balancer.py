"""HAProxy (Debian's package) in front of the replicas: round robin, health check on /v2/health/ready, retries.

The balancer marks each response with the replica that served it (``X-Replica``, also on the WebSocket upgrade), and
its stats page (CSV) tells whether a replica is in or out of the rotation.
"""

from __future__ import annotations

import csv
import io
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def haproxy_config(port: int, stats_port: int, replicas: dict[str, int], check_ms: int = 500) -> str:
    """The configuration: one frontend on 127.0.0.1:``port``, one backend with every replica, a stats listener."""
    servers = "\n".join(f"    server {name} 127.0.0.1:{p} check" for name, p in replicas.items())
    return f"""global
    maxconn 512

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout tunnel 120s
    timeout http-request 10s
    # A fresh server connection per request: a replica that stops never leaves a half-closed idle one to reuse.
    option http-server-close
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend voiceflow
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /v2/health/ready
    http-check expect status 200
    default-server inter {check_ms}ms fastinter {check_ms // 2}ms downinter {check_ms}ms fall 2 rise 2
    http-response set-header X-Replica %s
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


class Balancer:
    """HAProxy as a foreground subprocess (``-db``); a context manager that stops it."""

    def __init__(self, work_dir: Path, port: int, stats_port: int, replicas: dict[str, int]) -> None:
        self.port, self.stats_port = port, stats_port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws/diarize"
        self.config = work_dir / "haproxy.cfg"
        self.config.write_text(haproxy_config(port, stats_port, replicas))
        self.log_path = work_dir / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def version() -> str:
        """``HAProxy version X.Y.Z``."""
        out = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True, check=True, timeout=10).stdout
        return " ".join(out.split()[:3])

    def start(self, timeout: float = 30.0) -> Balancer:
        """Check the configuration, launch, and wait until every replica is UP."""
        subprocess.run([HAPROXY, "-c", "-q", "-f", str(self.config)], check=True, timeout=30)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            states = self.states()
            if states and all(s == "UP" for s in states.values()):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"replicas not UP behind haproxy after {timeout:.0f} s: {self.states()}")

    def states(self) -> dict[str, str]:
        """Replica name -> HAProxy status (UP, DOWN, ...); {} while the stats page does not answer."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2.0).text
        except httpx.HTTPError:
            return {}
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {
            r["svname"]: r["status"].split()[0]
            for r in rows
            if r.get("pxname") == "replicas" and r["svname"] not in {"FRONTEND", "BACKEND"}
        }

    def wait_for(self, replica: str, status: str, timeout: float = 30.0) -> float | None:
        """Seconds until ``replica`` shows ``status`` (None on timeout)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.states().get(replica) == status:
                return time.monotonic() - start
            time.sleep(0.05)
        return None

    def stop(self) -> None:
        """SIGTERM (HAProxy's hard stop), then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


__all__ = ["HAPROXY", "Balancer", "haproxy_config"]
