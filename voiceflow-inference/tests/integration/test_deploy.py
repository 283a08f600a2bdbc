"""`voiceflow-inference deploy` (the real console script, as a subprocess) against a real uvicorn server.

Registry (file://, tmp): fast-cnn 1.0.0, 1.1.0 (latest) and 1.2.0 whose model breaks the contract (its registry files
are consistent, so only the local validation can catch it). Each test starts its own server on 1.0.0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

TOKEN = "test-admin-token-123"  # conftest.ADMIN_TOKEN: the token every `serve` server expects
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLI = Path(sys.executable).with_name("voiceflow-inference")  # the installed console script of this venv
WRAPPER = Path(__file__).resolve().parents[2] / "scripts" / "deploy.sh"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, publisher, model_builder) -> dict[str, Any]:
    from voiceflow_contract.hashing import sha256_file
    from voiceflow_contract.registry import ModelRegistry
    from voiceflow_contract.validator import validate_model_contract

    root = tmp_path_factory.mktemp("deploy-registry")
    build = tmp_path_factory.mktemp("deploy-build")
    reg = ModelRegistry(root.as_uri())
    publisher(reg, build, "fast-cnn", "1.0.0", seed=1, num_speakers=2)
    publisher(reg, build, "fast-cnn", "1.1.0", seed=2, num_speakers=3)
    # 1.2.0: published as a good model, then its files replaced by a non-softmax model with matching checksum,
    # metadata and (failed) report, as if the registry held a version the current contract rejects.
    publisher(reg, build, "fast-cnn", "1.2.0", seed=3, num_speakers=2, aliases=())
    folder = root / "fast-cnn" / "v1.2.0"
    bad = model_builder(build / "bad.onnx", num_speakers=2, seed=3, softmax=False)
    report = validate_model_contract(bad, num_speakers=2, measure_latency=False)
    assert not report.passed
    sha = sha256_file(bad)
    (folder / "model.onnx").write_bytes(bad.read_bytes())
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["file"].update(sha256=sha, size_bytes=bad.stat().st_size)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    (folder / "validation_report.json").write_text(report.to_json())
    (folder / "checksum.sha256").write_text(f"{sha}  model.onnx\n")
    assert str(reg.resolve("fast-cnn", "latest")) == "1.1.0"
    # A second registry holding a valid 1.3.0 the server's registry lacks: the server refuses the reload.
    other = tmp_path_factory.mktemp("deploy-other-registry")
    publisher(ModelRegistry(other.as_uri()), build, "fast-cnn", "1.3.0", seed=4, num_speakers=2)
    return {"url": root.as_uri(), "registry": reg, "other_url": other.as_uri()}


def _env(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEFLOW_")}
    env["COLUMNS"] = "200"
    env["VOICEFLOW_MODEL_NAME"] = "fast-cnn"  # the test registries' tiny graphs (the shipped default is ge2e)
    env["PATH"] = f"{CLI.parent}{os.pathsep}{env.get('PATH', '')}"  # the wrapper finds this venv's console script
    if token is not None:
        env["VOICEFLOW_ADMIN_TOKEN"] = token
    return env


def deploy(server_url: str, registry_url: str, *args: str, token: str | None = TOKEN, tmp: Path) -> tuple[int, str]:
    """Run the console script; returns (exit code, stdout + stderr)."""
    env = _env(token)
    cmd = [str(CLI), "deploy", "--server", server_url, "--registry", registry_url, "--env", "development", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp)
    return proc.returncode, proc.stdout + proc.stderr


def ready(client: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/ready").json()
    return body


def admin_reloads(client: httpx.Client, metric) -> float:
    return float(metric(client.get("/metrics").text, "voiceflow_model_reloads_total", trigger="admin"))


def test_deploy_help_lists_every_option() -> None:
    proc = subprocess.run([str(CLI), "deploy", "--help"], capture_output=True, text=True, timeout=60, env=_env(None))
    assert proc.returncode == 0
    wrapped = subprocess.run([str(WRAPPER), "--help"], capture_output=True, text=True, timeout=60, env=_env(None))
    assert wrapped.returncode == 0 and wrapped.stdout == proc.stdout
    for flag in ("--server", "--version", "--model", "--env", "--token", "--registry", "--pin", "--no-pin"):
        assert flag in proc.stdout
    for flag in ("--smoke-windows", "--max-latency-ms", "--report", "Exit codes"):
        assert flag in proc.stdout


def test_deploy_moves_the_server_pins_it_and_reports(registry, serve, tmp_path) -> None:
    srv = serve(registry["url"], tmp_path, model_ref="1.0.0")
    report_path = tmp_path / "out" / "deploy.json"
    with srv.client() as client:
        assert ready(client)["version"] == "1.0.0"
        code, out = deploy(
            srv.url,
            registry["url"],
            "--version",
            "1.1.0",
            "--pin",
            "--smoke-windows",
            "3",
            "--max-latency-ms",
            "3600000",  # an hour: no machine is that slow, so this test never depends on speed (the failing
            # budget is tested below with a budget no machine meets)
            "--report",
            str(report_path),
            tmp=tmp_path,
        )
        assert code == 0, out
        status = ready(client)
        assert (status["version"], status["pinned"]) == ("1.1.0", "1.1.0")
        assert status["sha256"] == registry["registry"].show("fast-cnn", "1.1.0").sha256
    report = json.loads(report_path.read_text())
    assert report["result"] == "deployed" and report["exit_code"] == 0 and report["failed_check"] is None
    assert (report["from_version"], report["to_version"], report["final_version"]) == ("1.0.0", "1.1.0", "1.1.0")
    assert "token" not in report_path.read_text().lower().replace("token accepted", "")
    names = [step["name"] for step in report["steps"]]
    for name in ("preflight.server", "preflight.admin", "registry.pull", "validate", "reload", "pin", "ready"):
        assert name in names
    assert all(step["status"] == "ok" for step in report["steps"])
    smoke = report["smoke"]
    # Structure, not speed: three single-window calls, ordered percentiles, the budget that was asked for.
    assert smoke["calls"] == 3 and smoke["budget_ms"] == 3600000
    assert 0 < smoke["p50_ms"] <= smoke["p99_ms"] <= smoke["max_ms"] <= smoke["budget_ms"]
    assert "DEPLOYED" in out and "smoke.latency" in out


def test_failed_smoke_test_rolls_back_to_the_previous_version(registry, serve, tmp_path) -> None:
    srv = serve(registry["url"], tmp_path, model_ref="1.0.0")
    report_path = tmp_path / "deploy.json"
    with srv.client() as client:
        code, out = deploy(
            srv.url,
            registry["url"],
            "--version",
            "latest",
            "--pin",
            "--smoke-windows",
            "2",
            "--max-latency-ms",
            "0.0001",
            "--report",
            str(report_path),
            tmp=tmp_path,
        )
        assert code == 6, out
        status = ready(client)
        assert (status["version"], status["pinned"]) == ("1.0.0", None)
        assert status["history"] == ["1.0.0", "1.1.0", "1.0.0"]
        # Still serving answers from 1.0.0 after the rollback.
        infer = client.post("/infer", json={"audio": [[0.0] * 48000]})
        assert infer.status_code == 200 and infer.json()["version"] == "1.0.0"
    report = json.loads(report_path.read_text())
    assert report["result"] == "rolled_back" and report["failed_check"] == "smoke.latency"
    assert (report["from_version"], report["to_version"], report["final_version"]) == ("1.0.0", "1.1.0", "1.0.0")
    rollback = next(step for step in report["steps"] if step["name"] == "rollback")
    assert rollback["status"] == "ok" and "1.0.0" in rollback["detail"]
    assert "smoke.latency" in out and "ROLLED_BACK" in out


@pytest.mark.parametrize(
    ("version", "exit_code", "check", "says"),
    [
        ("9.9.9", 3, "registry.resolve", "9.9.9"),
        ("1.2.0", 1, "validate", "output"),
    ],
    ids=["missing-version", "fails-validation"],
)
def test_bad_version_changes_nothing_on_the_server(
    registry, serve, tmp_path, metric, version, exit_code, check, says
) -> None:
    srv = serve(registry["url"], tmp_path, model_ref="1.0.0")
    report_path = tmp_path / "deploy.json"
    with srv.client() as client:
        before = admin_reloads(client, metric)
        code, out = deploy(srv.url, registry["url"], "--version", version, "--report", str(report_path), tmp=tmp_path)
        assert code == exit_code, out
        status = ready(client)
        assert (status["version"], status["history"], status["pinned"]) == ("1.0.0", ["1.0.0"], None)
        assert admin_reloads(client, metric) == before  # the admin API was never asked to change anything
    report = json.loads(report_path.read_text())
    assert report["result"] == "refused" and report["failed_check"] == check
    assert says in report["message"] and report["final_version"] == "1.0.0"
    assert not any(step["name"] in ("reload", "rollback") for step in report["steps"])


def test_reload_refused_by_the_server_changes_nothing(registry, serve, tmp_path) -> None:
    srv = serve(registry["url"], tmp_path, model_ref="1.0.0")
    report_path = tmp_path / "deploy.json"
    with srv.client() as client:
        # Validated here from another registry, but the server's registry has no 1.3.0: 409, nothing moves.
        code, out = deploy(
            srv.url, registry["other_url"], "--version", "1.3.0", "--report", str(report_path), tmp=tmp_path
        )
        assert code == 5, out
        status = ready(client)
        assert (status["version"], status["history"]) == ("1.0.0", ["1.0.0"])
        assert "1.3.0" in (status["last_error"] or "")
    report = json.loads(report_path.read_text())
    assert report["result"] == "refused" and report["failed_check"] == "reload" and "409" in report["message"]
    assert not any(step["name"] == "rollback" for step in report["steps"])


def test_wrong_token_is_a_clear_error_and_changes_nothing(registry, serve, tmp_path) -> None:
    srv = serve(registry["url"], tmp_path, model_ref="1.0.0")
    with srv.client() as client:
        # Through the seed-style wrapper: scripts/deploy.sh VERSION [MODEL] [options].
        cmd = [str(WRAPPER), "1.1.0", "fast-cnn", "--server", srv.url, "--registry", registry["url"]]
        proc = subprocess.run(
            [*cmd, "--token", "wrong-token-456"],
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(None),
            cwd=tmp_path,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 4, out
        assert "preflight.admin" in out and "403" in out and "wrong admin token" in out
        assert "wrong-token-456" not in out  # the token is never echoed
        assert ready(client)["version"] == "1.0.0"
        assert client.get("/admin/models", headers=AUTH).json()["history"] == ["1.0.0"]
