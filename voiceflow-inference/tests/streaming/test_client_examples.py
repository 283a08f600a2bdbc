"""The documented client examples run against a live server: examples/live_windows.py and the Python snippet of
docs/serving-api.md (WebSocket section, "Streaming client")."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from ws_helpers import conversation, serve_in_thread, ws_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "live_windows.py"
DOC = Path(__file__).resolve().parents[3] / "docs" / "serving-api.md"

pytestmark = pytest.mark.timeout(120)


def test_example_prints_live_windows_and_the_rttm(tmp_path: Path, band_model_path: Path) -> None:
    wav = tmp_path / "talk.wav"
    sf.write(str(wav), conversation(22050, seed=9).audio, 22050, subtype="PCM_16")
    with serve_in_thread(ws_app(tmp_path / "server", band_model_path)) as base:
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), str(wav), "--server", base], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    assert "] spk0" in done.stdout and "(silence)" in done.stdout and "final:" in done.stdout
    assert done.stdout.count("SPEAKER stream 1") == 4


def test_docs_python_snippet_runs(tmp_path: Path, band_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not DOC.is_file():
        pytest.skip("docs/serving-api.md is not part of this checkout")
    section = DOC.read_text(encoding="utf-8").split("### Streaming client", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    wav = tmp_path / "meeting.wav"
    sf.write(str(wav), conversation(16000, seed=4).audio, 16000, subtype="PCM_16")
    with serve_in_thread(ws_app(tmp_path / "server", band_model_path)) as base:
        code = code.replace('"meeting.wav"', repr(str(wav))).replace('"http://127.0.0.1:8000"', repr(base))
        exec(compile(code, str(DOC), "exec"), {"__name__": "docs_snippet"})
    printed = capsys.readouterr().out
    assert printed.count("SPEAKER meeting 1") == 8 and " spk1" in printed  # diarize(), then the live loop
