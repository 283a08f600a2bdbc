"""`voiceflow-inference stream (FILE | -) --server URL [--rttm OUT] [--plot PNG]`: live diarization in the terminal.

    voiceflow-inference stream meeting.wav --server http://127.0.0.1:8000 --rttm meeting.rttm --plot meeting.png
    arecord -f S16_LE -r 16000 -c 1 | voiceflow-inference stream - --sample-rate 16000

The live timeline goes to stderr, the final RTTM to stdout (so `... > meeting.rttm` works too).
Exit codes: 0 ok, 1 the server reported a fatal error or sent no result, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from voiceflow_contract.diarization import parse_rttm
from voiceflow_inference.client.live_timeline import LiveTimeline, describe_result
from voiceflow_inference.client.pcm_source import PcmSource, StreamSource, read_file
from voiceflow_inference.client.stream_messages import Result
from voiceflow_inference.client.streaming_client import StreamFailedError, VoiceFlowClient
from voiceflow_inference.client.timeline_plot import plot_timeline

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_stream_parser(sub: Any) -> None:
    """Register the `stream` subcommand on the CLI's subparsers."""
    p = sub.add_parser(
        "stream",
        help="stream a file or stdin PCM to /ws/diarize: live timeline, final RTTM, timeline picture",
        description="Stream audio to a running server's /ws/diarize. FILE is a WAV/FLAC at any sample rate (first "
        "channel); '-' reads raw mono s16le PCM from stdin at --sample-rate (arecord -f S16_LE -r 16000 -c 1 | ...). "
        "The live timeline goes to stderr, the final RTTM to stdout.",
    )
    p.add_argument("audio", metavar="FILE|-", help="audio file, or - for raw s16le PCM on stdin")
    p.add_argument("--server", default="http://127.0.0.1:8000", help="server URL (http://host:port or ws://…)")
    p.add_argument("--sample-rate", type=int, help="stdin PCM rate in Hz (required with -; 8000-192000)")
    p.add_argument("--rttm", type=Path, help="also write the final RTTM here")
    p.add_argument("--plot", type=Path, help="save a timeline picture (PNG; needs voiceflow-inference[plot])")
    p.add_argument("--reference", type=Path, help="reference RTTM drawn above the hypothesis in --plot")
    p.add_argument("--uri", default="stream", help="recording id in the RTTM (default: stream)")
    p.add_argument("--hop", type=float, default=0.5, help="seconds between 1 s windows (0.25-1.0)")
    p.add_argument("--frame-ms", type=float, default=100.0, help="audio per binary frame in ms (default 100)")
    p.add_argument("--realtime", action="store_true", help="pace a file at real time, like a microphone")


def _source(args: argparse.Namespace) -> PcmSource:
    if args.audio == "-":
        if args.sample_rate is None:
            raise ValueError("reading PCM from stdin (-) needs --sample-rate")
        return StreamSource(sys.stdin.buffer, args.sample_rate)
    if args.sample_rate is not None:
        raise ValueError("--sample-rate is for stdin PCM; a file is sent at its own rate")
    if not Path(args.audio).is_file():
        raise ValueError(f"{args.audio}: no such file")
    return read_file(args.audio)


async def _stream(client: VoiceFlowClient, source: PcmSource, args: argparse.Namespace, console: Console) -> Result:
    timeline = LiveTimeline(console)
    session = client.stream(source, uri=args.uri, realtime=args.realtime)
    with Live(timeline, console=console, refresh_per_second=8, transient=False):
        async for window in session:
            timeline.add(window)
    if not console.is_terminal:
        console.line()  # a piped stderr gets the last frame without its line end
    return session.result


def run_stream_command(args: argparse.Namespace) -> int:
    """Run `voiceflow-inference stream`; returns the exit code."""
    console = Console(stderr=True)
    try:
        source = _source(args)
        reference = None
        if args.reference is not None:
            reference = [
                seg for segs in parse_rttm(args.reference.read_text(encoding="utf-8")).values() for seg in segs
            ]
        client = VoiceFlowClient(args.server, hop_s=args.hop, frame_ms=args.frame_ms)
    except (ValueError, OSError) as exc:
        console.print(f"error: {exc}")
        return EXIT_USAGE
    try:
        result = asyncio.run(_stream(client, source, args, console))
    except StreamFailedError as exc:
        console.print(f"[red]error: {exc}[/red]")
        return EXIT_FAILED
    except KeyboardInterrupt:
        console.print("interrupted")
        return EXIT_FAILED
    console.print(describe_result(result))
    for error in result.errors:
        console.print(f"[red]server error {error.code}: {error.message}[/red]")
    sys.stdout.write(result.rttm)
    sys.stdout.flush()
    if args.rttm is not None:
        args.rttm.write_text(result.rttm, encoding="utf-8")
        console.print(f"RTTM written to {args.rttm}")
    if args.plot is not None:
        title = f"{args.uri}: {result.model} {result.model_version}, {result.duration:.1f} s"
        try:
            plot_timeline(result.turns, args.plot, reference=reference, duration=result.duration, title=title)
        except ImportError:
            console.print("[red]--plot needs matplotlib: pip install 'voiceflow-inference[plot]'[/red]")
            return EXIT_USAGE
        console.print(f"timeline picture written to {args.plot}")
    return EXIT_FAILED if result.failed else EXIT_OK
