"""CLI: write one held-out synthetic conversation (wav) and its reference RTTM.

python -m voiceflow_models.data.make_conversation --out conv.wav --rttm conv.rttm --seed 3 --duration 30
"""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.data.split_conversations import make_split_conversation


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the CLI."""
    parser = argparse.ArgumentParser(
        prog="python -m voiceflow_models.data.make_conversation",
        description="Synthesize a held-out conversation of unseen test-split voices, with its reference RTTM.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output audio file (.wav or .flac)")
    parser.add_argument("--rttm", type=Path, default=None, help="output RTTM file (default: next to --out)")
    parser.add_argument("--seed", type=int, default=0, help="conversation seed (default 0)")
    parser.add_argument("--duration", type=float, default=30.0, help="length in seconds (default 30)")
    parser.add_argument("--speakers", type=int, default=2, help="number of speakers (default 2)")
    parser.add_argument(
        "--sample-rate", type=int, default=SAMPLE_RATE, help=f"output sample rate in Hz (default {SAMPLE_RATE})"
    )
    parser.add_argument("--noise-snr-db", type=float, default=None, help="add background noise at this SNR")
    parser.add_argument("--count", type=int, default=1, help="write this many conversations (suffix _NNN)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.duration <= 0:
        raise SystemExit("--duration: must be positive")
    if args.count < 1:
        raise SystemExit("--count: must be >= 1")
    num_voices = max(args.speakers, args.speakers * args.count)
    for i in tqdm(range(args.count), desc="synthesizing", unit="conv"):
        out = args.out if args.count == 1 else args.out.with_name(f"{args.out.stem}_{i:03d}{args.out.suffix}")
        rttm = args.rttm if args.rttm is not None and args.count == 1 else out.with_suffix(".rttm")
        conv = make_split_conversation(
            "test",
            i,
            seed=args.seed,
            duration_s=args.duration,
            num_voices=num_voices,
            speakers=args.speakers,
            sample_rate=args.sample_rate,
            noise_snr_db=args.noise_snr_db,
            uri=out.stem,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        rttm.parent.mkdir(parents=True, exist_ok=True)
        sf.write(out, conv.audio, conv.sample_rate, subtype="PCM_16" if out.suffix.lower() == ".wav" else None)
        rttm.write_text(conv.rttm)
        tqdm.write(f"wrote {out} ({conv.duration_s:.1f} s, {conv.sample_rate} Hz) and {rttm}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
