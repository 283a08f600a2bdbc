"""`make bench-peers`'s harness for real, cheaply: VoiceFlow (a real uvicorn server on 127.0.0.1) beside bare ONNX
Runtime, small counts, no peer venvs. Checks the JSON rows and that a peer whose venv is missing (or whose install
failed) keeps its row with the reason. No timing assertions: the machine is shared and noisy."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from voiceflow_bench.peers.venvs import FAILED

REQUIRED = ("server", "version", "c1_overhead_p50_ms", "max_throughput_rps", "ratio_to_bare")


def test_peers_harness_rows_for_voiceflow_and_for_peers_that_cannot_run(tmp_path: Path) -> None:
    venvs = tmp_path / "venvs"
    (venvs / "mlserver").mkdir(parents=True)
    (venvs / "mlserver" / FAILED).write_text("install failed (exit 1): no matching distribution\n")
    output = tmp_path / "peers.json"
    command = [sys.executable, "-m", "voiceflow_bench.peers.runner", "--peers", "voiceflow,kserve,mlserver"]
    command += ["--venvs", str(venvs), "--requests", "12", "--c1-runs", "6", "--bare-seconds", "0.05"]
    command += ["--level-seconds", "10", "--output", str(output), "--no-progress"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "VoiceFlow and its peers" in proc.stdout
    doc = json.loads(output.read_text())
    assert doc["schema"] == "voiceflow.bench-peers/1"
    rows = {row["server"]: row for row in doc["rows"]}
    assert list(rows) == ["voiceflow", "KServe", "MLServer"]
    for row in rows.values():
        assert all(key in row for key in REQUIRED), row
    ours = rows["voiceflow"]
    assert ours["status"] == "ok" and ours["version"]
    for key in ("c1_overhead_p50_ms", "c1_p99_ms", "max_throughput_rps", "ratio_to_bare", "rss_mb"):
        assert isinstance(ours[key], (int, float)) and math.isfinite(ours[key]), (key, ours[key])
    assert ours["max_throughput_rps"] > 0 and ours["ratio_to_bare"] > 0 and ours["rss_mb"] > 0
    assert [p["concurrency"] for p in ours["throughput"]] == [1, 4, 16, 64]
    assert ours["failed_requests"] == 0
    assert rows["KServe"]["status"] == "not run" and "no venv" in rows["KServe"]["reason"]
    assert rows["MLServer"]["status"] == "not run" and "no matching distribution" in rows["MLServer"]["reason"]
    assert rows["KServe"]["max_throughput_rps"] is None and rows["KServe"]["version"] == "0.21.0"
    assert doc["bare_ort"]["best_windows_per_s"] > 0
    assert output.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_peer_is_refused(capsys) -> None:
    from voiceflow_bench.peers.runner import main  # in-process: refused before anything starts

    assert main(["--peers", "torchserve", "--no-progress"]) == 2
    assert "torchserve" in capsys.readouterr().out
