"""A peer server as a subprocess in its own process group on 127.0.0.1: start, wait until ready, RSS of its whole
process tree, and a stop that leaves nothing behind (LitServe's and Triton's worker processes included: every
descendant seen while it ran is killed by PID after the group is signalled)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx


class PeerStartError(RuntimeError):
    """The peer did not become ready (the message carries the tail of its log)."""


@dataclass
class Launch:
    """How to start one server: the command, extra environment, the URL path that answers 200 once it serves."""

    argv: list[str]
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_timeout_s: float = 120.0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _cpu_ticks(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    return 0


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its live descendants."""
    return sum(_cpu_ticks(p) for p in descendants(pid)) / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, MiB (shared pages are counted once per process)."""
    return round(sum(_rss_kib(p) for p in descendants(pid)) / 1024.0, 1)


class PeerProcess:
    """A context manager around one server subprocess; ``log_path`` keeps its output."""

    def __init__(self, launch: Launch, log_path: Path, port: int) -> None:
        self.launch, self.log_path, self.port = launch, log_path, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._seen: set[int] = set()

    @property
    def pid(self) -> int:
        """The launched process's id."""
        if self.process is None:
            raise PeerStartError("not started")
        return self.process.pid

    def start(self) -> PeerProcess:
        """Launch, then poll ``ready_path`` until 200; raises PeerStartError (after stopping it) otherwise."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.launch.env}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.launch.argv,
                env=env,
                cwd=self.launch.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() signals every worker at once
            )
        deadline = time.monotonic() + self.launch.ready_timeout_s
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                self.remember_tree()
                if self.process.poll() is not None:
                    raise PeerStartError(f"exited with {self.process.returncode}: {self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.launch.ready_path).status_code == 200:
                        self.remember_tree()
                        return self
                time.sleep(0.25)
        self.stop()
        raise PeerStartError(f"not ready after {self.launch.ready_timeout_s:.0f} s: {self.log_tail()}")

    def remember_tree(self) -> None:
        """Note every current descendant, so that stop() can kill them even if they leave the process group."""
        if self.process is not None:
            self._seen.update(descendants(self.process.pid))

    def rss_mb(self) -> float:
        """RSS of the server's process tree, MiB."""
        self.remember_tree()
        return tree_rss_mb(self.pid)

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server's process tree."""
        return tree_cpu_s(self.pid)

    def log_tail(self, lines: int = 6) -> str:
        """The last lines of the server's output, on one line."""
        try:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return ""
        return " | ".join(line.strip()[:300] for line in tail)

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after 10 s, then SIGKILL any remembered descendant still in our session."""
        if self.process is None:
            return
        self.remember_tree()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # workers that outlived the leader
        for pid in self._seen - {self.process.pid}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getsid(pid) == self.process.pid:  # still ours (the session we started), not a reused PID
                    os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> PeerProcess:
        return self.start() if self.process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


__all__ = ["Launch", "PeerProcess", "PeerStartError", "descendants", "tree_cpu_s", "tree_rss_mb"]
