"""Whole-recording diarization with any window model: frame, gate with VAD, embed in batches, stream, finalize.

This is :class:`StreamingDiarizer` driven over a complete signal, so offline evaluation and the server's file
endpoint give exactly what streaming the same windows would.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization.errors import DiarizationError
from voiceflow_contract.diarization.framing import frame_audio
from voiceflow_contract.diarization.streaming import Segment, StreamingDiarizer
from voiceflow_contract.diarization.vad_select import VadKind, WindowVad, make_vad

#: Model call: float32 windows [B, window_samples] -> vectors [B, D] (softmax probabilities or embeddings).
EmbedFn = Callable[[npt.NDArray[np.float32]], npt.ArrayLike]


def diarize_audio(
    audio: npt.ArrayLike,
    sample_rate: int,
    embed: EmbedFn,
    *,
    window_s: float = 1.0,
    hop_s: float = 0.5,
    threshold_db: float = -40.0,
    batch_size: int = 32,
    vad: VadKind | WindowVad = "energy",
    **options: object,
) -> list[Segment]:
    """Speaker turns of ``audio`` (mono, ``sample_rate``; the model's rate, 48 kHz for the contract).

    Windows that fail the VAD (``vad``: ``energy``, the default, with ``threshold_db``; ``silero``; or a window VAD
    from ``make_vad``) are not embedded. ``options`` go to :class:`StreamingDiarizer` (threshold,
    max_speakers, min_segment_s, ...).
    """
    if batch_size < 1:
        raise DiarizationError(f"batch_size: must be >= 1, got {batch_size}")
    starts, ends, windows = frame_audio(audio, sample_rate, window_s, hop_s)
    gate = make_vad(vad, threshold_db=threshold_db) if isinstance(vad, str) else vad
    gates = [g for b in range(0, len(windows), batch_size) for g in gate(windows[b : b + batch_size], sample_rate)]
    speech_idx = [i for i, (speech, _) in enumerate(gates) if speech]
    vectors: dict[int, npt.NDArray[np.float64]] = {}
    for b in range(0, len(speech_idx), batch_size):
        idx = speech_idx[b : b + batch_size]
        out = np.asarray(embed(windows[idx]), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != len(idx):
            raise DiarizationError(f"embed: must return [batch, dim] for a batch of {len(idx)}, got {out.shape}")
        vectors.update(zip(idx, out, strict=True))
    diarizer = StreamingDiarizer(window_s, hop_s, **options)  # type: ignore[arg-type]
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        speech, mask = gates[i]
        diarizer.push(float(start), float(end), vectors.get(i), speech, activity=mask)
    return diarizer.finalize()
