"""Where the demo runs from and what it trains, publishes and serves."""

from __future__ import annotations

import sys
from pathlib import Path

#: The repository root: commands run from here, and the default registry and artifacts live under it.
ROOT = Path(__file__).resolve().parents[1]
#: The venv's bin folder (voiceflow-train, voiceflow-pipeline, voiceflow-inference).
BIN = Path(sys.executable).parent
#: The default model (the one that scores best on real speech within cpu-realtime) and its training experiment;
#: `make demo MODEL=fast-cnn EXPERIMENT=fast_cnn_synthetic` (python -m demo --model ... --experiment ...) for the other.
MODEL = "ge2e"
EXPERIMENT = "ge2e_synthetic"
#: The second version (step 5) resumes the first run's checkpoint for this many epochs in all (ge2e_synthetic trains
#: 2, fast_cnn_synthetic more): one or a few more epochs, enough for new weights and a new version.
RESUME_EPOCHS = {"ge2e_synthetic": 3, "fast_cnn_synthetic": 5}
#: The held-out conversation is streamed at 16 kHz on purpose: the server resamples to the contract's rate.
STREAM_SAMPLE_RATE = 16_000
#: The real development recording (`make real-sample`): streamed too, and scored against its RTTM.
REAL_SAMPLE_DIR = ROOT / "data" / "real-sample"
