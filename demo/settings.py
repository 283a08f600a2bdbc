"""Where the demo runs from and what it serves."""

from __future__ import annotations

import sys
from pathlib import Path

#: The repository root: commands run from here, and the default registry and artifacts live under it.
ROOT = Path(__file__).resolve().parents[1]
#: The venv's bin folder (voiceflow-train, voiceflow-pipeline, voiceflow-inference).
BIN = Path(sys.executable).parent
MODEL = "fast-cnn"
#: The held-out conversation is streamed at 16 kHz on purpose: the server resamples to the contract's rate.
STREAM_SAMPLE_RATE = 16_000
