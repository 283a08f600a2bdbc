#!/usr/bin/env python3
"""Stream a WAV file to VoiceFlow's `/ws/diarize` in real-time-sized frames and print the live speaker timeline.

    python examples/ws_client.py --url ws://127.0.0.1:8000/ws/diarize --wav meeting.wav
    python examples/ws_client.py --wav meeting.wav --frame-ms 20 --sample-rate 16000 --realtime --rttm out.rttm

Needs `websockets`, `numpy`, `soundfile` (and `scipy` when --sample-rate differs from the file's rate) and `tqdm`.
Exit status: 0 when the server sent its `final` result, 1 on a server error, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/diarize", help="WebSocket URL of /ws/diarize")
    parser.add_argument("--wav", type=Path, required=True, help="audio file to stream (mono or first channel)")
    parser.add_argument("--frame-ms", type=float, default=100.0, help="audio per binary frame in ms (default 100)")
    parser.add_argument(
        "--sample-rate", type=int, default=None, help="rate to send at (8000-192000; default: the file's own rate)"
    )
    parser.add_argument("--encoding", choices=["pcm_s16le", "pcm_f32le"], default="pcm_s16le")
    parser.add_argument("--hop", type=float, default=0.5, help="seconds between 1 s windows (0.25-1.0)")
    parser.add_argument("--realtime", action="store_true", help="pace frames at real time (like a live microphone)")
    parser.add_argument("--rttm", type=Path, default=None, help="write the final RTTM here")
    args = parser.parse_args(argv)
    if args.frame_ms <= 0:
        parser.error("--frame-ms must be positive")
    if not args.wav.is_file():
        parser.error(f"--wav: {args.wav} does not exist")
    return args


def load_audio(path: Path, sample_rate: int | None) -> tuple[np.ndarray, int]:
    """Read `path` as float32 mono, resampled to `sample_rate` when given."""
    import soundfile as sf

    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = audio[:, 0]
    if sample_rate is not None and sample_rate != rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(sample_rate, rate)
        mono = resample_poly(mono, sample_rate // g, rate // g).astype(np.float32)
        rate = sample_rate
    return mono, int(rate)


def encode(audio: np.ndarray, encoding: str) -> bytes:
    """PCM bytes for the chosen wire encoding."""
    if encoding == "pcm_f32le":
        return audio.astype("<f4").tobytes()
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2").tobytes()


def describe(message: dict[str, Any]) -> str:
    """One timeline line for a server message."""
    kind = message["type"]
    if kind == "window":
        who = message["speaker"] or "(silence)"
        probs = message["probabilities"]
        top = f" p={max(probs):.2f}" if probs else ""
        return f"[{message['start']:7.2f} - {message['end']:7.2f}] {who}{top}"
    if kind == "started":
        return (
            f"session {message['session_id']}: model {message['model']} {message['model_version']}, "
            f"{message['sample_rate']} Hz {message['encoding']}, hop {message['hop_s']} s"
        )
    if kind == "error":
        return f"error {message['code']} (close {message['close_code']}): {message['message']}"
    return json.dumps(message)


async def stream(args: argparse.Namespace) -> int:
    """Send the file, print messages as they arrive; returns the exit status."""
    import websockets
    from tqdm import tqdm

    audio, rate = load_audio(args.wav, args.sample_rate)
    data = encode(audio, args.encoding)
    width = 4 if args.encoding == "pcm_f32le" else 2
    step = max(width, int(rate * args.frame_ms / 1000) * width)
    final: dict[str, Any] | None = None
    failed = False

    async with websockets.connect(args.url, max_size=None) as ws:
        start = {"type": "start", "sample_rate": rate, "encoding": args.encoding, "hop_s": args.hop, "uri": "stream"}
        await ws.send(json.dumps(start))
        bar_format = "{l_bar}{bar}| {n:.1f}/{total:.1f} s"
        bar = tqdm(total=len(audio) / rate, unit="s", desc="streaming", bar_format=bar_format)

        async def reader() -> None:
            nonlocal final, failed
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "final":
                    final = message
                    continue
                failed = failed or (message["type"] == "error" and message["fatal"])
                bar.write(describe(message))

        receiving = asyncio.create_task(reader())
        try:
            for offset in range(0, len(data), step):
                await ws.send(data[offset : offset + step])
                bar.update(len(data[offset : offset + step]) / width / rate)
                if args.realtime:
                    await asyncio.sleep(args.frame_ms / 1000)
            await ws.send(json.dumps({"type": "stop"}))
        except websockets.ConnectionClosed:
            pass  # the server ended the session (its error message says why)
        await receiving
        bar.close()

    if final is None:
        print("no final result received", file=sys.stderr)
        return 1
    print(f"\nfinal: {final['duration']:.2f} s, {final['windows']} windows, model {final['model_version']}")
    for seg in final["segments"]:
        print(f"  {seg['start']:7.2f} - {seg['end']:7.2f}  {seg['speaker']}")
    if args.rttm is not None:
        args.rttm.write_text(final["rttm"], encoding="utf-8")
        print(f"RTTM written to {args.rttm}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return asyncio.run(stream(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
