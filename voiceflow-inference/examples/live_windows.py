#!/usr/bin/env python3
"""Stream an audio file to VoiceFlow's `/ws/diarize` with the Python client and print each window as it arrives.

    python examples/live_windows.py meeting.wav --server http://127.0.0.1:8000 --realtime

The installed command does the same with a live terminal timeline, stdin audio and a picture:
`voiceflow-inference stream meeting.wav --server http://127.0.0.1:8000 --rttm meeting.rttm --plot meeting.png`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from voiceflow_inference.client import StreamFailedError, VoiceFlowClient


async def main(path: str, server: str, realtime: bool) -> int:
    session = VoiceFlowClient(server).stream(path, realtime=realtime)
    try:
        async for window in session:  # one `window` message per analysed 1 s window, live
            print(f"[{window.start:7.2f} - {window.end:7.2f}] {window.speaker or '(silence)'}")
    except StreamFailedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result = session.result  # the `final` message: the whole session re-clustered
    print(f"final: {result.duration:.2f} s, speakers {', '.join(result.speakers)}, model {result.model_version}")
    print(result.rttm, end="")
    return 1 if result.failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", help="WAV/FLAC file (any sample rate; first channel)")
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="server URL")
    parser.add_argument("--realtime", action="store_true", help="pace the file at real time, like a microphone")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.audio, args.server, args.realtime)))
