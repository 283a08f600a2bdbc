"""The streaming client against the real server (uvicorn on 127.0.0.1): `VoiceFlowClient`, its live iterator, and
`voiceflow-inference stream` for a file at another rate and for s16le PCM on stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from ws_helpers import conversation, der, serve_in_thread, ws_app

from voiceflow_contract.diarization import parse_rttm
from voiceflow_inference.client import VoiceFlowClient, Window
from voiceflow_inference.client.streaming_client import StreamFailedError, websocket_url

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, band_model_path: Path) -> object:
    with serve_in_thread(ws_app(tmp_path_factory.mktemp("server"), band_model_path)) as base:
        yield base


def test_websocket_url_forms() -> None:
    assert websocket_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/ws/diarize"
    assert websocket_url("https://voice.example/") == "wss://voice.example/ws/diarize"
    assert websocket_url("ws://h:1/ws/diarize") == "ws://h:1/ws/diarize"
    assert websocket_url("127.0.0.1:8000") == "ws://127.0.0.1:8000/ws/diarize"
    with pytest.raises(ValueError, match="expected http"):
        websocket_url("ftp://x")


def test_diarize_a_file_finds_both_speakers(server: str, tmp_path: Path) -> None:
    conv = conversation(22050, seed=3)
    wav = tmp_path / "talk.wav"
    sf.write(str(wav), conv.audio, 22050, subtype="PCM_16")
    result = VoiceFlowClient(server).diarize(wav, uri="talk")
    assert result.model == "fast-cnn" and not result.failed
    assert len(result.speakers) == 2
    assert result.rttm.count("SPEAKER talk 1") == len(result.turns) == 4
    assert result.windows and all(isinstance(w, Window) for w in result.windows)
    hyp = [(t.start, t.end, t.speaker) for t in result.turns]
    assert der(conv.turns, hyp, conv.duration) < 0.15


async def test_async_iterator_yields_live_windows(server: str) -> None:
    conv = conversation(16000, seed=5)
    session = VoiceFlowClient(server, frame_ms=20).stream(conv.audio, sample_rate=16000)
    seen = [window async for window in session]
    assert len(seen) == len(session.result.windows) > 30
    assert [w.start for w in seen] == sorted(w.start for w in seen)
    assert {w.speaker for w in seen} >= {"spk0", "spk1", None}
    assert session.started is not None and session.started["sample_rate"] == 16000


async def test_refused_session_raises(server: str) -> None:
    session = VoiceFlowClient(server, hop_s=5.0).stream(np.zeros(16000, dtype=np.float32), sample_rate=16000)
    with pytest.raises(StreamFailedError, match="invalid_message") as failure:
        async for _ in session:
            pass
    assert failure.value.errors[0].code == "invalid_message"


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "voiceflow_inference.cli", "stream", *args]
    return subprocess.run(command, input=stdin, capture_output=True, timeout=120)


def test_stream_command_file_rttm_and_plot(server: str, tmp_path: Path) -> None:
    conv = conversation(44100, seed=7)
    flac = tmp_path / "talk.flac"
    sf.write(str(flac), conv.audio, 44100)
    reference = tmp_path / "ref.rttm"
    reference.write_text(
        "".join(f"SPEAKER talk 1 {s:.3f} {e - s:.3f} <NA> <NA> {k} <NA> <NA>\n" for s, e, k in conv.turns)
    )
    rttm, png = tmp_path / "out.rttm", tmp_path / "timeline.png"
    args = [str(flac), "--server", server, "--uri", "talk", "--rttm", str(rttm), "--plot", str(png)]
    done = _cli(*args, "--reference", str(reference))
    assert done.returncode == 0, done.stderr.decode()
    out, err = done.stdout.decode(), done.stderr.decode()
    assert out.count("SPEAKER talk 1") == 4 and out == rttm.read_text()
    assert "spk0" in err and "spk1" in err and "final:" in err  # the live timeline and the final table
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(parse_rttm(out)["talk"]) == 4


def test_stream_command_reads_s16le_from_stdin(server: str) -> None:
    conv = conversation(16000, seed=11)
    pcm = np.clip(np.round(conv.audio * 32768), -32768, 32767).astype("<i2").tobytes()
    done = _cli("-", "--sample-rate", "16000", "--server", server, stdin=pcm)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().count("SPEAKER stream 1") == 4


def test_stream_command_usage_errors(tmp_path: Path) -> None:
    assert _cli("-").returncode == 2  # stdin needs --sample-rate
    assert _cli(str(tmp_path / "missing.wav")).returncode == 2
    refused = _cli(str(tmp_path / "missing.wav"), "--sample-rate", "16000")
    assert refused.returncode == 2 and b"sample-rate" in refused.stderr
