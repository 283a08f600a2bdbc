"""Baselines and reference points every model is scored beside.

* "one-speaker": the same vector for every window, i.e. everything is one speaker (and its DER in theory);
* "mfcc-stats": mean and standard deviation of 19 MFCCs (c0, the energy, dropped) over the window;
* the oracle: every window given its true majority speaker, the floor set by segmentation alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchaudio

from voiceflow_contract.diarization import StreamingDiarizer, frame_audio, window_speech
from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.evaluation.held_out import ConversationLike
from voiceflow_models.evaluation.metrics import aggregate_scores
from voiceflow_models.evaluation.scoring import DiarizationSettings, score_conversation


def one_speaker_vectors(windows: np.ndarray) -> np.ndarray:
    """Baseline: the same vector for every window (the clusterer can only find one speaker)."""
    return np.ones((len(windows), 2), dtype=np.float32)


class MfccStats:
    """Baseline: mean + std over time of MFCC 1-19 (25 ms frames every 10 ms, 40 mel bands up to 8 kHz).

    The 38 statistics are standardised with a mean/std fitted once on validation-voice conversations (never test), as
    any speaker feature is before cosine scoring; the per-window computation stays streaming.
    """

    def __init__(self) -> None:
        self._mfcc = torchaudio.transforms.MFCC(
            sample_rate=SAMPLE_RATE,
            n_mfcc=20,
            melkwargs={"n_fft": 1200, "hop_length": 480, "n_mels": 40, "f_min": 60.0, "f_max": 8000.0},
        )
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def raw(self, windows: np.ndarray) -> np.ndarray:
        """Unnormalised statistics [N, 38]."""
        with torch.inference_mode():
            feats = self._mfcc(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)))[:, 1:, :]
            return torch.cat([feats.mean(dim=-1), feats.std(dim=-1)], dim=-1).numpy()

    def fit(self, conversations: Sequence[ConversationLike], hop_s: float = 0.5) -> MfccStats:
        """Fit the standardisation on the speech windows of `conversations`."""
        stats = []
        for conv in conversations:
            _, _, windows = frame_audio(conv.audio, conv.sample_rate, 1.0, hop_s)
            speech = [w for w in windows if window_speech(w, conv.sample_rate)[0]]
            if speech:
                stats.append(self.raw(np.stack(speech)))
        if not stats:
            raise ValueError("mfcc baseline: no speech windows to fit the standardisation on")
        allstats = np.concatenate(stats)
        self.mean, self.std = allstats.mean(axis=0), allstats.std(axis=0) + 1e-6
        return self

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Standardised statistics [N, 38]."""
        if self.mean is None or self.std is None:
            raise ValueError("mfcc baseline: call fit() first")
        return (self.raw(windows) - self.mean) / self.std


def oracle_vectors(conversation: ConversationLike, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Diagnostic: one-hot of the reference speaker talking most within each window (a perfect speaker embedding)."""
    speakers = sorted({seg.speaker for seg in conversation.segments})
    vectors = np.zeros((len(starts), max(2, len(speakers))), dtype=np.float32)
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        talk = [
            sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in conversation.segments if s.speaker == spk)
            for spk in speakers
        ]
        vectors[i, int(np.argmax(talk)) if talk else 0] = 1.0
    return vectors


def evaluate_oracle(conversations: Sequence[ConversationLike], settings: DiarizationSettings) -> dict[str, float]:
    """The segmentation floor: DER when every window's vector names its true majority speaker. What remains is the
    cost of the VAD, 1 s windows at the hop, smoothing and turn building, which no better model can remove.
    (The same steps as diarize_audio, with the windows' times known to pick the oracle vector.)"""
    per_file = []
    for conv in conversations:
        starts, ends, windows = frame_audio(conv.audio, conv.sample_rate, 1.0, settings.hop_s)
        vectors = oracle_vectors(conv, starts, ends)
        diarizer = StreamingDiarizer(1.0, settings.hop_s, **settings.diarizer_options())
        for start, end, window, vector in zip(starts, ends, windows, vectors, strict=True):
            speech, mask = window_speech(window, conv.sample_rate, settings.vad_threshold_db)
            diarizer.push(float(start), float(end), vector if speech else None, speech, activity=mask)
        per_file.append(score_conversation(conv, diarizer.finalize()))
    return aggregate_scores(per_file)


def one_speaker_theory_der(conversations: Sequence[ConversationLike]) -> float:
    """DER (collar 0) of a perfect-VAD single-speaker hypothesis: 1 - dominant speaker's time / total speech.

    With one hypothesis speaker only one reference speaker can be mapped, so every second of the others (overlap
    counted per speaker, as DER does) is an error: sum(total - dominant) / sum(total) over the corpus.
    """
    total = dominant = 0.0
    for conv in conversations:
        per_speaker: dict[str, float] = {}
        for seg in conv.segments:
            per_speaker[seg.speaker] = per_speaker.get(seg.speaker, 0.0) + (seg.end - seg.start)
        total += sum(per_speaker.values())
        dominant += max(per_speaker.values(), default=0.0)
    return (total - dominant) / total if total > 0 else 0.0
