"""`make scale-demo`, short form: 3 replicas behind HAProxy on one moto S3 registry; publish, A/B, roll back and a
lost replica under mixed load, with 0 failed requests, and every process stopped afterwards. No timing thresholds
beyond the demo's own bounds (its waits time out; its convergence check allows two poll intervals)."""

from __future__ import annotations

import ast
import contextlib
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed (apt-get install haproxy)")
def test_scale_demo_short_form(tmp_path: Path) -> None:
    work = tmp_path / "scale"
    command = [sys.executable, "-m", "voiceflow_bench.scale.demo", "--work-dir", str(work)]
    command += ["--replicas", "3", "--poll-interval", "2", "--steady", "1", "--sticky-ids", "3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=540)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    facts = json.loads(out.strip().splitlines()[-1])
    assert facts["replicas"] == 3
    assert facts["failed_requests"] == 0
    assert facts["sticky_consistent"] is True
    assert facts["requests"] > 0 and set(facts["requests_by_door"]) == {"rest", "oip", "ws"}
    assert facts["killed_sessions_close_codes"] == [1001]
    assert facts["surviving_sessions_ok"] is True
    assert set(facts["rollback_versions"].values()) == {"1.0.0"}
    for phase in ("publish 1.1.0", "A/B 50/50", "roll back", "kill r", "total"):
        assert phase in out
    # Every process is gone: the replicas' ports are closed and no HAProxy runs on this demo's config.
    ports = ast.literal_eval(out.split(" replicas ", 1)[1].split(" behind ", 1)[0])
    assert not any(_listening(p) for p in ports.values())
    config = str(work / "haproxy.cfg")
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            assert config not in cmdline.read_bytes().decode(errors="replace")
