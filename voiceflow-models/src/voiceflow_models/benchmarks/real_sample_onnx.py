"""DER of an exported model (ONNX) on the real development recording, clustered as the server streams it.

The pyannote.audio sample (``make real-sample``: 30 s, 16 kHz, two speakers) is resampled to the contract's rate the
way a ``/ws/diarize`` session resamples a 16 kHz stream (polyphase), then diarized through the shared pipeline with
the model's calibration (metadata.json's ``diarization`` block: output, online threshold, final pass, VAD), never told
the speaker count. The one-speaker baseline is scored through the same path. This is the ``real_speech`` entry of
metadata.json's ``accuracy`` block (``release.pipeline``) and the real-sample rows of ``make benchmark``.

It is the development recording (the GE2E final pass was chosen on it): development figures, not a held-out test.
"""

from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table
from scipy.signal import resample_poly

from voiceflow_contract.diarization.errors import DiarizationError
from voiceflow_contract.diarization.pipeline import diarize_audio
from voiceflow_contract.spec import EMBEDDING_OUTPUT, SAMPLE_RATE
from voiceflow_models.benchmarks.real_sample import DEFAULT_SAMPLE_DIR, load_sample, one_speaker_vectors
from voiceflow_models.evaluation.metrics import score_diarization
from voiceflow_models.evaluation.onnx_vectors import VectorFn, onnx_vectors

RECORDING = "pyannote.audio sample"
VADS = ("energy", "silero")


def _score(audio: np.ndarray, reference: list[Any], duration: float, fn: VectorFn, cal: dict[str, Any]) -> dict:
    options = {k: cal[k] for k in ("threshold", "method", "final_threshold", "boundary") if cal.get(k) is not None}
    hypothesis = diarize_audio(
        audio, SAMPLE_RATE, fn, hop_s=float(cal.get("hop_s", 0.5)), vad=cal.get("vad", "energy"), **options
    )
    scores = score_diarization(reference, hypothesis, uem=(0.0, duration))
    return {
        "der_collar_0": round(float(scores["der_collar_0"]), 6),
        "der_collar_025": round(float(scores["der_collar_025"]), 6),
        "speakers_found": len({s.speaker for s in hypothesis}),
    }


def real_sample_accuracy(
    model_path: str | Path, diarization: dict[str, Any] | None = None, sample_dir: Path = DEFAULT_SAMPLE_DIR
) -> dict[str, Any]:
    """The model's and the one-speaker baseline's DER on the real sample with the calibration ``diarization`` (and
    the model with the other VAD, for comparison).

    Returns ``{"metadata": <RealSpeechAccuracy fields>, "systems": {"model": ..., "one-speaker": ...}}``; without
    the recording, ``metadata`` holds only ``recording`` and ``skipped`` (the reason) and ``systems`` is empty.
    """
    try:
        recording = load_sample(sample_dir)
    except FileNotFoundError as exc:
        return {"metadata": {"recording": RECORDING, "skipped": str(exc)}, "systems": {}}
    cal = dict(diarization or {})
    factor = gcd(SAMPLE_RATE, recording.sample_rate)
    audio = resample_poly(recording.audio.astype(np.float64), SAMPLE_RATE // factor, recording.sample_rate // factor)
    audio = audio.astype(np.float32)
    reference = list(recording.reference)
    model = onnx_vectors(model_path, cal.get("vector", EMBEDDING_OUTPUT))
    systems = {"model": _score(audio, reference, recording.duration, model, cal)}
    for vad in VADS:
        if vad != cal.get("vad", "energy"):
            try:  # the other VAD, for comparison (Silero needs the silero-vad wheel)
                systems[f"model, {vad} VAD"] = _score(audio, reference, recording.duration, model, {**cal, "vad": vad})
            except DiarizationError as exc:
                systems[f"model, {vad} VAD"] = {"skipped": str(exc)}
    systems["one-speaker"] = _score(audio, reference, recording.duration, one_speaker_vectors, cal)
    speakers = len({s.speaker for s in reference})
    metadata = {"recording": RECORDING, "role": "development", **systems["model"], "reference_speakers": speakers}
    return {
        "metadata": metadata,
        "systems": systems,
        "duration_s": round(recording.duration, 2),
        "clustering": {k: cal.get(k) for k in ("vector", "threshold", "method", "final_threshold", "boundary", "vad")},
    }


def real_sample_table(doc: dict[str, Any]) -> Table:
    """The real-sample rows (model, one-speaker) of ``real_sample_accuracy``; a one-line table when skipped."""
    meta = doc["metadata"]
    table = Table(title=f"DER on the real development recording ({meta['recording']}, streamed clustering)")
    for col in ("system", "DER c=0", "DER c=0.25", "speakers (ref)"):
        table.add_column(col, justify="left" if col == "system" else "right")
    if meta.get("skipped"):
        table.add_row("skipped", "-", "-", meta["skipped"])
    for name, row in doc["systems"].items():
        if "skipped" in row:
            table.add_row(name, "-", "-", f"skipped: {row['skipped']}")
            continue
        table.add_row(
            name,
            f"{row['der_collar_0']:.2%}",
            f"{row['der_collar_025']:.2%}",
            f"{row['speakers_found']} ({meta.get('reference_speakers')})",
        )
    return table
