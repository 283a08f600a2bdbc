"""The worker probe for real: two VoiceFlow server processes (uvicorn on 127.0.0.1) on one SO_REUSEPORT port and
the minimal uvicorn app beside them, a real exported model, a small bounded load. Checks that both processes served,
that the floor answers the same requests, and that the CPU accounts are filled in; no timing assertions (the machine
is shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceflow_bench.model_under_test import export_fast_cnn, publish_for_serving
from voiceflow_bench.peers.worker_probe import main, probe, probe_floor


def test_two_processes_on_one_port_both_serve(tmp_path: Path) -> None:
    model, _ = export_fast_cnn(tmp_path / "fast-cnn.onnx")
    registry_url = publish_for_serving(model, tmp_path / "registry")
    # 16 connections: the kernel hashes each to a process, so the odds that all land on one are 2 in 65,536.
    row = probe(2, registry_url, tmp_path / "run", concurrency=16, seconds=20.0, requests=240)
    assert row.workers == 2 and row.failures == 0 and row.requests == 240
    assert len(row.per_worker_cpu_s) == 2 and min(row.per_worker_cpu_s) > 0.05, row
    assert row.server_cpu_ms_per_request > 0 and row.client_cpu_ms_per_request > 0 and row.cores_busy > 0
    # The floor answers the same binary-OIP requests (tritonclient-compatible framing) with no failures.
    floor = probe_floor(model, concurrency=4, seconds=20.0, requests=80)
    assert floor.server == "uvicorn floor" and floor.failures == 0 and floor.requests == 80, floor


def test_worker_counts_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        main(["--workers", "0"])
