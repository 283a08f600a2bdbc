"""`make bench-quick` end to end: the real suite (export, bare ORT, real server on 127.0.0.1, every section) prints
its table and writes JSON with every row and finite numbers. No timing thresholds: the machine is shared and noisy."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

# ~30-40 s on the 2-core box: the short form of `make bench` runs in `make test` so the suite cannot rot.

EXPECTED_SECTIONS = {
    "model",
    "serving",
    "throughput",
    "streaming",
    "hot reload",
    "batching",
    "gpu",
    "real-speech model (ge2e)",
}
#: Sections whose rows --quick leaves pending (measured only where a GPU is lent / in the full run).
PENDING_SECTIONS = {"gpu", "real-speech model (ge2e)"}
EXPECTED_NAMES = (
    "ORT batch 1, 1 thread p50",
    "ORT batch 1, 2 threads p99",
    "PyTorch eager batch 1, 1 thread p50",
    "training throughput",
    "bare ORT p50",
    "GET /health round trip",
    "REST /infer (JSON) overhead p50",
    "OIP infer JSON overhead p50",
    "OIP infer binary overhead p50",
    "WebSocket window overhead p50",
    "VAD per window",
    "OIP binary, concurrency 1",
    "OIP binary, concurrency 4",
    "OIP binary, concurrency 16",
    "OIP binary, concurrency 64",
    "best server throughput",
    "server / bare ORT best",
    "real-time factor",
    "max concurrent real-time sessions",
    "failed requests",
    "p99 during reloads / steady p99",
    "swap latency",
    "RSS growth",
    "best server throughput, batching on",
    "fast-cnn CUDA",
)


def test_quick_suite_prints_the_table_and_writes_complete_json(tmp_path: Path) -> None:
    output = tmp_path / "bench-quick.json"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "voiceflow_bench.suite", "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "VoiceFlow benchmark (quick)" in proc.stdout and "verdict" in proc.stdout
    doc = json.loads(output.read_text())
    assert doc["schema"] == "voiceflow.bench-suite/1" and doc["mode"] == "quick"
    rows = doc["rows"]
    assert {r["section"] for r in rows} == EXPECTED_SECTIONS
    names = [r["name"] for r in rows]
    for expected in EXPECTED_NAMES:
        assert any(name.startswith(expected) for name in names), f"missing row {expected!r}"
    for row in rows:
        assert row["verdict"] in {"pass", "miss", "info", "pending"}, row
        if row["verdict"] == "pending":
            assert row["measured"] is None and row["section"] in PENDING_SECTIONS
            continue
        assert isinstance(row["measured"], (int, float)) and math.isfinite(row["measured"]), row
        if row["target"] not in ("info", "reference"):
            assert row["verdict"] in {"pass", "miss"}, row
    raw = doc["raw"]
    assert raw["hot_reload"]["failed_reloads"] == 0 and len(raw["hot_reload"]["rss_mb"]) >= 2
    assert all(level["n"] > 0 for level in raw["streaming"]["capacity"])
    assert len(raw["roundtrip"]["OIP infer binary"]["samples_ms"]) == raw["roundtrip"]["OIP infer binary"]["n"]
    for picture in ("quick-latency.png", "quick-throughput.png", "quick-rss.png"):  # voiceflow_bench.plots
        assert (tmp_path / picture).read_bytes()[:4] == b"\x89PNG", picture
    # How long it took is printed, not asserted: no test may depend on the machine's speed (the subprocess timeout
    # above only guards against a hang).
    print(f"bench --quick: {doc['wall_s']:.0f} s in the suite, {wall:.0f} s with start-up")
