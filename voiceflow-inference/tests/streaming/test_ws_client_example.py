"""The documented client example (examples/ws_client.py) runs against a live server and prints the timeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from ws_helpers import conversation, serve_in_thread, ws_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ws_client.py"

pytestmark = pytest.mark.timeout(120)


def test_example_client_streams_a_wav(tmp_path: Path, band_model_path: Path) -> None:
    conv = conversation(16000, seed=9)
    wav = tmp_path / "talk.wav"
    sf.write(str(wav), conv.audio, 16000, subtype="PCM_16")
    rttm = tmp_path / "talk.rttm"
    with serve_in_thread(ws_app(tmp_path / "server", band_model_path)) as base:
        url = base.replace("http", "ws") + "/ws/diarize"
        args = ["--url", url, "--wav", str(wav), "--frame-ms", "20", "--sample-rate", "22050", "--rttm", str(rttm)]
        done = subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "model fast-cnn" in done.stdout and "spk0" in done.stdout and "(silence)" in done.stdout
    assert "final:" in done.stdout
    assert rttm.read_text().count("SPEAKER stream 1") == 4


def test_example_client_help() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "--frame-ms" in done.stdout and "--sample-rate" in done.stdout


def test_docs_python_snippet_runs(tmp_path: Path, band_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The inline client in docs/serving-api.md (WebSocket section) works as printed."""
    import re

    doc = Path(__file__).resolve().parents[3] / "docs" / "serving-api.md"
    if not doc.is_file():
        pytest.skip("docs/serving-api.md is not part of this checkout")
    section = doc.read_text(encoding="utf-8").split("## WebSocket /ws/diarize", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    wav = tmp_path / "doc.wav"
    sf.write(str(wav), conversation(16000, seed=4).audio, 16000, subtype="PCM_16")
    with serve_in_thread(ws_app(tmp_path / "server", band_model_path)) as base:
        url = base.replace("http", "ws") + "/ws/diarize"
        code = code.replace('diarize("meeting.wav")', f"diarize({str(wav)!r}, {url!r})")
        namespace: dict[str, object] = {"__name__": "docs_snippet"}
        exec(compile(code, str(doc), "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.count("SPEAKER stream 1") == 4 and " spk1" in printed  # the timeline, then the RTTM
