"""The CLIs and shell wrappers: pull, hot-reload, serve (with SIGTERM shutdown), --help and error exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEFLOW_")}
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env["VOICEFLOW_MODEL_NAME"] = "fast-cnn"  # the test registries' tiny graphs (the shipped default is ge2e)
    env.update(extra)
    return env


def test_help_for_every_command() -> None:
    for args in (["--help"], ["serve", "--help"], ["pull", "--help"], ["hot-reload", "--help"]):
        proc = subprocess.run([str(BIN / "voiceflow-inference"), *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "usage" in proc.stdout, args
    for script in ("download_model.sh", "hot_reload.sh"):
        proc = subprocess.run([str(SCRIPTS / script), "--help"], capture_output=True, text=True, env=_env(), timeout=60)
        assert proc.returncode == 0 and "usage" in proc.stdout, script


def test_download_and_hot_reload_scripts(registry_two_versions, tmp_path: Path) -> None:
    url = registry_two_versions["url"]
    pulled = subprocess.run(
        [
            str(SCRIPTS / "download_model.sh"),
            "--model",
            "fast-cnn",
            "--version",
            "1.0.0",
            "--registry",
            url,
            "--output",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert pulled.returncode == 0, pulled.stderr
    info = json.loads(pulled.stdout.strip().splitlines()[-1])
    assert info["version"] == "1.0.0" and info["validated"] and Path(info["path"]).is_file()
    watch = tmp_path / "watch"
    swapped = subprocess.run(
        [
            str(SCRIPTS / "hot_reload.sh"),
            "1.1.0",
            "fast-cnn",
            "--env",
            "staging",
            "--registry",
            url,
            "--watch-dir",
            str(watch),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert swapped.returncode == 0, swapped.stderr
    sidecar = json.loads((watch / "model.onnx.json").read_text())
    assert sidecar["version"] == "1.1.0" and sidecar["sha256"] == json.loads(swapped.stdout.splitlines()[-1])["sha256"]
    missing = subprocess.run(
        [
            str(SCRIPTS / "hot_reload.sh"),
            "9.9.9",
            "fast-cnn",
            "--registry",
            url,
            "--watch-dir",
            str(watch),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert missing.returncode == 3 and "9.9.9" in missing.stderr
    assert json.loads((watch / "model.onnx.json").read_text())["version"] == "1.1.0"  # nothing swapped


def test_serve_answers_then_exits_cleanly_on_sigterm(registry_two_versions, tmp_path: Path, port_finder) -> None:
    port = port_finder()
    env = _env(
        VOICEFLOW_REGISTRY_URL=registry_two_versions["url"],
        VOICEFLOW_CACHE_DIR=str(tmp_path / "cache"),
        VOICEFLOW_WATCH_DIR=str(tmp_path / "watch"),
        VOICEFLOW_POLL_INTERVAL_S="0",
        VOICEFLOW_SHUTDOWN_GRACE_S="2",
    )
    proc = subprocess.Popen(
        [str(BIN / "voiceflow-inference"), "serve", "--env", "development", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert ready is not None and ready.status_code == 200 and ready.json()["version"] == "1.1.0"
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.wait(timeout=30)
        # uvicorn re-raises the captured SIGTERM after a clean shutdown, so the exit status reports the signal.
        assert proc.returncode in (0, -signal.SIGTERM)
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read() if proc.stdout else ""
    assert "voiceflow-inference stopped" in output, output[-2000:]
    assert "Traceback" not in output, output[-2000:]


def test_hot_reload_without_watch_dir_names_the_key(tmp_path: Path) -> None:
    unset = subprocess.run(
        [str(BIN / "voiceflow-inference"), "hot-reload", "1.0.0", "--env", "development", "--registry", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(VOICEFLOW_WATCH_DIR=""),  # empty = no watch dir
        timeout=60,
    )
    assert unset.returncode == 2 and "watch_dir" in unset.stderr, unset.stderr
