"""The locust load test runs headless and bounded against the real service (REST, OIP JSON and binary, WebSocket)
and reports requests, failures and p50/p99 per endpoint; a failing endpoint makes it exit non-zero.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RUN_LOAD = REPO / "voiceflow-inference/tests/load/run_load.py"
ENDPOINTS = {
    "/infer",
    "/v2/models/[model]/infer (json)",
    "/v2/models/[model]/infer (binary)",
    "/ws/diarize session",
    "/ws/diarize first window",
}


def run_load(host: str, csv_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(RUN_LOAD),
            "--host",
            host,
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "4s",
            "--csv-dir",
            str(csv_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stats(csv_dir: Path) -> dict[str, tuple[int, int]]:
    """{endpoint: (requests, failures)} from locust's stats CSV, via run_load's own parser."""
    sys.path.insert(0, str(RUN_LOAD.parent))
    try:
        from run_load import read_stats
    finally:
        sys.path.remove(str(RUN_LOAD.parent))
    return {row.name: (row.requests, row.failures) for row in read_stats(csv_dir / "voiceflow-load_stats.csv")}


def test_load_test_drives_every_endpoint(live_inference: Any, tmp_path: Path) -> None:
    proc = run_load(live_inference.url, tmp_path, "--model", live_inference.model)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = stats(tmp_path)
    assert set(rows) >= ENDPOINTS | {"Aggregated"}
    for endpoint in ENDPOINTS:
        requests, failures = rows[endpoint]
        assert requests > 0 and failures == 0, (endpoint, requests, failures)
    for column in ("requests", "failures", "p50 ms", "p99 ms"):
        assert column in proc.stdout


def test_load_test_fails_when_requests_fail(live_inference: Any, tmp_path: Path) -> None:
    # An unknown model name: every OIP request gets 404, which the run must report as failures and exit 1.
    proc = run_load(live_inference.url, tmp_path, "--model", "no-such-model", "--users-classes", "OipUser")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    requests, failures = stats(tmp_path)["Aggregated"]
    assert requests > 0 and failures == requests
    assert "FAILED" in proc.stdout
