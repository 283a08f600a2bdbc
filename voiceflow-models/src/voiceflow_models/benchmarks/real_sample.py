"""DER on the real development recording (the pyannote.audio sample): GE2E embeddings, baselines, VAD variants.

``make real-sample`` unpacks the recording (30 s, 16 kHz, two speakers, MIT; from the pyannote.audio wheel) into
``data/real-sample/``. Every row runs the shared pipeline the server streams with
(``voiceflow_contract.diarization.pipeline.diarize_audio``: 1 s windows every 0.5 s, the VAD gate and activity mask,
``StreamingDiarizer``'s online pass and ``finalize``), never told the speaker count; systems differ only in the window
vector and the VAD:

* ``ge2e``: Resemblyzer's pretrained GE2E encoder (``resemblyzer/pretrained.pt`` from the installed wheel, run with
  torch here; 40-band mel power, 25 ms / 10 ms frames, 3 x LSTM(256), Linear, ReLU, L2) on each 1 s window;
* ``one-speaker``: the same vector for every window;
* ``oracle``: one-hot of the reference speaker talking most in each window (the segmentation floor).

This recording is the development recording: the final-pass threshold is tuned on it (``--sweep`` prints the grid),
so its figures are development figures, not an independent evaluation.

    make real-sample real-sample-der     # or: python -m voiceflow_models.benchmarks.real_sample [--sweep] [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import wave
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from voiceflow_contract.diarization import Segment, frame_audio, make_vad, parse_rttm
from voiceflow_contract.diarization.pipeline import diarize_audio
from voiceflow_models.evaluation.metrics import score_diarization

DEFAULT_SAMPLE_DIR = Path("data/real-sample")
#: The wheel `make real-sample` downloads (pip download --no-deps) and the files it takes from it.
SAMPLE_WHEEL = "pyannote.audio==4.0.7"
SAMPLE_MEMBERS = ("pyannote/audio/sample/sample.wav", "pyannote/audio/sample/sample.rttm")
SAMPLE_RATE_16K = 16_000
#: The final-pass settings this script (and a GE2E model's calibration) uses: chosen with --sweep on this recording.
GE2E_METHOD = "spectral"
GE2E_FINAL_THRESHOLD = -0.1  # the ahc method's best on the sweep; spectral needs none
#: Where speaker changes fall between windows (StreamingDiarizer ``boundary``): what calibration picks for GE2E.
GE2E_BOUNDARY = "margin"
SWEEP = (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4)
VectorFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Recording:
    audio: np.ndarray
    sample_rate: int
    reference: list[Segment]

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def load_sample(sample_dir: Path) -> Recording:
    """The sample's audio (float32 mono) and reference turns; a clear error when ``make real-sample`` was not run."""
    wav_path, rttm_path = sample_dir / "sample.wav", sample_dir / "sample.rttm"
    if not (wav_path.is_file() and rttm_path.is_file()):
        raise FileNotFoundError(f"{sample_dir}: no sample.wav/sample.rttm; run `make real-sample` first")
    with wave.open(str(wav_path), "rb") as handle:
        if handle.getsampwidth() != 2:
            raise ValueError(f"{wav_path}: expected 16-bit PCM")
        rate, channels = handle.getframerate(), handle.getnchannels()
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    audio = pcm.reshape(-1, channels).mean(axis=1).astype(np.float32) / 32768.0
    turns = [seg for segs in parse_rttm(rttm_path.read_text()).values() for seg in segs]
    return Recording(audio, rate, sorted(turns))


def unpack_sample(wheel_dir: Path, sample_dir: Path) -> list[Path]:
    """Take sample.wav and sample.rttm out of the pyannote.audio wheel in ``wheel_dir`` into ``sample_dir``."""
    wheels = sorted(wheel_dir.glob("pyannote_audio-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"{wheel_dir}: no pyannote_audio-*.whl (pip download --no-deps {SAMPLE_WHEEL})")
    sample_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for member in SAMPLE_MEMBERS:
            target = sample_dir / Path(member).name
            target.write_bytes(wheel.read(member))
            written.append(target)
    return written


def _slaney_mel(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) (slaney scale and area normalisation), in numpy."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, lin)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        lin = m * (200.0 / 3)
        log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
        return np.where(m >= 15.0, log, lin)

    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sr / 2)), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


class Ge2eVectors:
    """GE2E embeddings of 16 kHz windows with Resemblyzer's pretrained weights (torch; measurement only)."""

    def __init__(self) -> None:
        import importlib.util

        import torch  # heavy: only this measurement needs it

        spec = importlib.util.find_spec("resemblyzer")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("resemblyzer is not installed (pip install --no-deps resemblyzer)")
        weights = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
        state = torch.load(weights, map_location="cpu", weights_only=False)["model_state"]
        self.torch = torch
        self.lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.mel = _slaney_mel(SAMPLE_RATE_16K, 400, 40)
        self.window = np.hanning(401)[:-1]  # periodic Hann, as librosa
        self._cache: dict[str, np.ndarray] = {}

    def mels(self, windows: np.ndarray) -> np.ndarray:
        """[B, frames, 40] mel power (librosa.feature.melspectrogram: centred frames, zero padding)."""
        padded = np.pad(windows.astype(np.float64), ((0, 0), (200, 200)))
        n_frames = 1 + (padded.shape[1] - 400) // 160
        idx = np.arange(n_frames)[:, None] * 160 + np.arange(400)[None, :]
        spectrum = np.abs(np.fft.rfft(padded[:, idx] * self.window, axis=-1)) ** 2
        return np.asarray(spectrum @ self.mel.T, dtype=np.float32)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        key = hashlib.sha1(np.ascontiguousarray(windows, dtype=np.float32).tobytes()).hexdigest()
        if key not in self._cache:
            with self.torch.inference_mode():
                _, (hidden, _) = self.lstm(self.torch.from_numpy(self.mels(windows)))
                emb = self.torch.relu(self.linear(hidden[-1]))
                emb = emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)
            self._cache[key] = emb.numpy()
        return self._cache[key]


def normalise_volume(audio: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
    """Resemblyzer's preprocessing level: the whole recording scaled to ``target_dbfs`` RMS."""
    rms = float(np.sqrt(np.mean(np.square(audio.astype(np.float64)))))
    return audio if rms == 0 else (audio * (10 ** (target_dbfs / 20) / rms)).astype(np.float32)


def one_speaker_vectors(windows: np.ndarray) -> np.ndarray:
    return np.ones((len(windows), 2), dtype=np.float32)


def oracle_vectors(recording: Recording, hop_s: float = 0.5) -> VectorFn:
    """One-hot of the reference speaker talking most within each window (windows found by their content)."""
    starts, ends, windows = frame_audio(recording.audio, recording.sample_rate, 1.0, hop_s)
    speakers = sorted({s.speaker for s in recording.reference})
    table: dict[bytes, np.ndarray] = {}
    for start, end, window in zip(starts, ends, windows, strict=True):
        talk = [
            sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in recording.reference if s.speaker == spk)
            for spk in speakers
        ]
        vec = np.zeros(max(2, len(speakers)), dtype=np.float32)
        vec[int(np.argmax(talk))] = 1.0
        table[window.tobytes()] = vec
    return lambda batch: np.stack([table[np.asarray(w, dtype=np.float32).tobytes()] for w in batch])


def score(recording: Recording, vectors: VectorFn, vad: Any, **options: Any) -> dict[str, float]:
    """DER of one configuration and the number of speakers found."""
    hypothesis = diarize_audio(recording.audio, recording.sample_rate, vectors, vad=vad, **options)
    scores = score_diarization(recording.reference, hypothesis, uem=(0.0, recording.duration))
    scores["speakers"] = float(len({s.speaker for s in hypothesis}))
    return scores


def measure(sample_dir: Path, sweep: bool = False) -> dict[str, Any]:
    """Every row of the table (and the threshold sweep) as a JSON-ready document."""
    recording = load_sample(sample_dir)
    recording = Recording(normalise_volume(recording.audio), recording.sample_rate, recording.reference)
    ge2e = Ge2eVectors()
    oracle = oracle_vectors(recording)
    vads = {"energy": make_vad("energy"), "silero": make_vad("silero")}
    final = {"method": GE2E_METHOD, "final_threshold": GE2E_FINAL_THRESHOLD, "boundary": GE2E_BOUNDARY}
    rows: list[dict[str, Any]] = []

    def add(system: str, vad: str, fn: VectorFn, **options: Any) -> None:
        rows.append({"system": system, "vad": vad, **score(recording, fn, vads[vad], **options)})

    for vad in vads:
        add("ge2e + spectral (final re-clustering)", vad, ge2e, **final)
        add("ge2e + spectral, midpoint boundary", vad, ge2e, **{**final, "boundary": "midpoint"})
        add("ge2e + ahc at -0.1", vad, ge2e, method="ahc", final_threshold=GE2E_FINAL_THRESHOLD)
        add("ge2e + cohesion (previous finalize)", vad, ge2e, method="cohesion")
        add("one-speaker", vad, one_speaker_vectors, **final)
        add("oracle (true speaker per window)", vad, oracle, **final)
    doc: dict[str, Any] = {
        "recording": "pyannote.audio sample (development recording; thresholds tuned on it)",
        "duration_s": recording.duration,
        "reference_speakers": len({s.speaker for s in recording.reference}),
        "settings": {"window_s": 1.0, "hop_s": 0.5, **final},
        "rows": rows,
    }
    if sweep:
        doc["sweep"] = [
            {"vad": vad, "final_threshold": t, **score(recording, ge2e, vads[vad], method="ahc", final_threshold=t)}
            for vad in vads
            for t in SWEEP
        ]
    return doc


def table(doc: dict[str, Any]) -> Table:
    out = Table(title=f"DER on the real sample ({doc['duration_s']:.0f} s, {doc['reference_speakers']} speakers)")
    for col in ("system", "VAD", "DER collar 0", "DER +-0.25 s", "speakers found"):
        out.add_column(col)
    for row in doc["rows"]:
        out.add_row(
            row["system"],
            row["vad"],
            f"{100 * row['der_collar_0']:.1f} %",
            f"{100 * row['der_collar_025']:.1f} %",
            f"{row['speakers']:.0f}",
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="real_sample")
    parser.add_argument("--sample-dir", type=Path, default=DEFAULT_SAMPLE_DIR, help="where `make real-sample` put it")
    parser.add_argument("--sweep", action="store_true", help="also print DER over the final-pass threshold grid")
    parser.add_argument("--json", type=Path, default=None, help="write the table as JSON here")
    parser.add_argument(
        "--unpack", type=Path, default=None, metavar="WHEEL_DIR", help="only unpack the sample from the wheel there"
    )
    args = parser.parse_args(argv)
    if args.unpack is not None:
        for path in unpack_sample(args.unpack, args.sample_dir):
            print(path)
        return 0
    try:
        doc = measure(args.sample_dir, sweep=args.sweep)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    console = Console(width=160)
    console.print(table(doc))
    for row in doc.get("sweep", []):
        console.print(
            f"sweep vad={row['vad']:<7} final_threshold={row['final_threshold']:+.2f}  "
            f"DER {100 * row['der_collar_0']:.1f} / {100 * row['der_collar_025']:.1f} %  speakers {row['speakers']:.0f}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
