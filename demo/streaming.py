"""Stream audio over /ws/diarize (16 kHz s16le, odd frames), print the live speaker changes, and score the result:
a held-out synthetic two-speaker conversation, and the real development recording (the pyannote.audio sample)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from websockets.sync.client import connect

from demo.server import Server
from demo.settings import REAL_SAMPLE_DIR, STREAM_SAMPLE_RATE
from demo.terminal import console, show_timeline
from voiceflow_contract.diarization import Segment
from voiceflow_models.benchmarks.real_sample import load_sample
from voiceflow_models.evaluation.held_out import make_test_conversations
from voiceflow_models.evaluation.metrics import score_diarization


def stream_conversation(server: Server, seed: int, duration_s: float) -> dict[str, Any]:
    """Stream a held-out two-speaker conversation at 16 kHz (the server resamples) and score the result."""
    conversation = make_test_conversations(1, seed=seed, duration_s=duration_s, sample_rate=STREAM_SAMPLE_RATE)[0]
    return {"uri": conversation.uri, **stream_audio(server, conversation.audio, list(conversation.segments))}


def stream_real_sample(server: Server, sample_dir: Path = REAL_SAMPLE_DIR) -> dict[str, Any] | None:
    """Stream the real development recording (16 kHz, two speakers) and score it; None when it is absent."""
    try:
        recording = load_sample(sample_dir)
    except FileNotFoundError as exc:
        console.print(f"[yellow]real sample skipped: {exc}[/yellow]")
        return None
    if recording.sample_rate != STREAM_SAMPLE_RATE:
        raise SystemExit(f"demo: {sample_dir} is {recording.sample_rate} Hz, expected {STREAM_SAMPLE_RATE}")
    streamed = stream_audio(server, recording.audio, list(recording.reference))
    streamed["reference_speakers"] = len({s.speaker for s in recording.reference})
    return {"uri": "pyannote.audio sample (development recording)", **streamed}


def stream_audio(server: Server, audio: np.ndarray, reference: list[Segment]) -> dict[str, Any]:
    """Stream 16 kHz float audio as s16le in odd-sized frames, without the speaker count; score the final turns."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    frame_bytes = 2 * 1531  # odd-sized frames (~96 ms): the server buffers across them
    windows: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    last_speaker: str | None = None
    ws_url = server.url.replace("http://", "ws://") + "/ws/diarize"
    started = time.perf_counter()
    with connect(ws_url, max_size=2**22) as ws:
        start = {"type": "start", "sample_rate": STREAM_SAMPLE_RATE, "encoding": "pcm_s16le", "hop_s": 0.5}
        ws.send(json.dumps(start))
        session = json.loads(ws.recv())
        console.print(f"session {session['session_id']} pinned to {session['model']} v{session['model_version']}")

        def receive() -> None:
            nonlocal final, last_speaker
            for raw in ws:
                message = json.loads(raw)
                if message["type"] == "window":
                    windows.append(message)
                    speaker = message["speaker"]
                    if speaker is not None and speaker != last_speaker:
                        console.print(f"  {message['start']:6.1f} s  [bold]{speaker}[/bold] speaking (live)")
                        last_speaker = speaker
                elif message["type"] == "final":
                    final = message
                elif message["type"] == "error":
                    console.print(f"[red]server error: {message}[/red]")

        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        for offset in range(0, len(pcm), frame_bytes):
            ws.send(pcm[offset : offset + frame_bytes])
        ws.send(json.dumps({"type": "stop"}))
        reader.join(timeout=120)
    elapsed = time.perf_counter() - started
    hypothesis = [Segment(s["start"], s["end"], s["speaker"]) for s in final.get("segments", [])]
    audio_s = audio.size / STREAM_SAMPLE_RATE
    scores = score_diarization(reference, hypothesis, uem=(0.0, audio_s))
    show_timeline(reference, hypothesis, audio_s)
    return {
        "duration_s": round(audio_s, 1),
        "windows": len(windows),
        "segments": len(hypothesis),
        "speakers_found": len({s.speaker for s in hypothesis}),
        "stream_s": round(elapsed, 2),
        "rtf": round(elapsed / audio_s, 4),
        "model_version": final.get("model_version"),
        "scores": scores,
        "rttm": final.get("rttm", ""),
        "reference": list(reference),
        "hypothesis": hypothesis,
    }
