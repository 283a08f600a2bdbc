"""Diarization accuracy (DER at collar 0 and 0.25 s, precision, recall) on held-out two-speaker conversations.

Every system is scored through the same path the server streams with: the audio is cut into 1 s windows at a hop,
windows the VAD (voiceflow_contract.diarization.is_speech) rejects get no vector, the rest get the system's vector,
and voiceflow_contract.diarization.diarize_windows clusters them online into turns, which
voiceflow_models.training.metrics scores. Systems differ only in the vector:

* the ONNX model ("model"): its `speaker_embeddings` (the softmax, the v1 contract's output, as training's DER) or
  `embedding`; when the model has both, the other one is scored too as "model:<output>";
* baseline "one-speaker": the same vector for every window, i.e. everything is one speaker;
* baseline "mfcc-stats": mean and standard deviation of 19 MFCCs (c0, the energy, dropped) over the window.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from voiceflow_contract.diarization import Segment, diarize_windows, frame_audio, is_speech, speech_frames
from voiceflow_models.benchmarks.audio_source import (
    SAMPLE_RATE,
    ConversationLike,
    held_out_conversations,
    validation_conversations,
)
from voiceflow_models.training.metrics import aggregate_scores, score_diarization

SCHEMA = "voiceflow.accuracy/1"
VectorFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class DiarizationSettings:
    """How windows are cut, gated and clustered (identical for every system)."""

    hop_s: float = 0.5
    vad_threshold_db: float = -40.0
    threshold: float = 0.5
    max_speakers: int | None = None
    baseline_fit_seed: int = 7  # validation-voice conversations the MFCC standardisation is fitted on
    options: dict[str, Any] = field(default_factory=dict)


def onnx_vectors(
    model_path: str | Path, output: str = "speaker_embeddings", threads: int = 1, batch: int = 16
) -> VectorFn:
    """Window vectors from an ONNX model's `output` (falls back to speaker_embeddings if `output` is absent)."""
    from voiceflow_models.benchmarks.latency import make_session

    session = make_session(model_path, threads=threads)
    names = [o.name for o in session.get_outputs()]
    name = output if output in names else "speaker_embeddings"
    input_name = session.get_inputs()[0].name

    def vectors(windows: np.ndarray) -> np.ndarray:
        outs = [
            session.run([name], {input_name: windows[i : i + batch].astype(np.float32)})[0]
            for i in range(0, len(windows), batch)
        ]
        return np.concatenate(outs) if outs else np.zeros((0, 1), dtype=np.float32)

    return vectors


def _output_names(model_path: str | Path) -> list[str]:
    import onnx

    return [o.name for o in onnx.load(str(model_path), load_external_data=False).graph.output]


def one_speaker_vectors(windows: np.ndarray) -> np.ndarray:
    """Baseline: the same vector for every window (the clusterer can only find one speaker)."""
    return np.ones((len(windows), 2), dtype=np.float32)


class MfccStats:
    """Baseline: mean + std over time of MFCC 1-19 (25 ms frames every 10 ms, 40 mel bands up to 8 kHz).

    The 38 statistics are standardised with a mean/std fitted once on validation-voice conversations (never test), as
    any speaker feature is before cosine scoring; the per-window computation stays streaming.
    """

    def __init__(self) -> None:
        import torchaudio

        self._mfcc = torchaudio.transforms.MFCC(
            sample_rate=SAMPLE_RATE,
            n_mfcc=20,
            melkwargs={"n_fft": 1200, "hop_length": 480, "n_mels": 40, "f_min": 60.0, "f_max": 8000.0},
        )
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def raw(self, windows: np.ndarray) -> np.ndarray:
        """Unnormalised statistics [N, 38]."""
        import torch

        with torch.inference_mode():
            feats = self._mfcc(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)))[:, 1:, :]
            return torch.cat([feats.mean(dim=-1), feats.std(dim=-1)], dim=-1).numpy()

    def fit(self, conversations: Sequence[ConversationLike], hop_s: float = 0.5) -> MfccStats:
        """Fit the standardisation on the speech windows of `conversations`."""
        stats = []
        for conv in conversations:
            _, _, windows = frame_audio(conv.audio, conv.sample_rate, 1.0, hop_s)
            speech = [w for w in windows if is_speech(w, conv.sample_rate)]
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


def diarize(conversation: ConversationLike, vector_fn: VectorFn, settings: DiarizationSettings) -> list[Segment]:
    """Turns for one conversation: windows -> VAD -> vectors -> online clustering (the serving path)."""
    starts, ends, windows = frame_audio(conversation.audio, conversation.sample_rate, 1.0, settings.hop_s)
    speech = np.array([is_speech(w, conversation.sample_rate, settings.vad_threshold_db) for w in windows], dtype=bool)
    vectors: list[np.ndarray | None] = [None] * len(windows)
    if speech.any():
        computed = vector_fn(windows[speech])
        for index, vector in zip(np.flatnonzero(speech), computed, strict=True):
            vectors[int(index)] = vector
    return diarize_windows(
        starts,
        vectors,
        speech,
        1.0,
        settings.hop_s,
        ends=ends,
        threshold=settings.threshold,
        max_speakers=settings.max_speakers,
        **settings.options,
    )


def trim_to_speech(
    segments: Sequence[Segment], audio: np.ndarray, sample_rate: int, *, close_gap_s: float = 0.3, frame_s: float = 0.02
) -> list[Segment]:
    """PROPOSAL, not what the server runs: cut turns to the 20 ms frame-level VAD (gaps < close_gap_s closed, as the
    reference annotation merges pauses < 0.3 s). A window-level turn owns its whole hop region even when only 10% of
    the window is speech; this removes that false alarm."""
    mask = speech_frames(audio, sample_rate, frame_s=frame_s)
    regions: list[list[float]] = []
    start = None
    for i, on in enumerate(np.append(mask, False)):
        if on and start is None:
            start = i * frame_s
        elif not on and start is not None:
            if regions and start - regions[-1][1] < close_gap_s:
                regions[-1][1] = i * frame_s
            else:
                regions.append([start, i * frame_s])
            start = None
    out = []
    for seg in segments:
        for lo, hi in regions:
            a, b = max(seg.start, lo), min(seg.end, hi)
            if b - a > 0.05:
                out.append(Segment(a, b, seg.speaker))
    return out


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


def evaluate_oracle(
    conversations: Sequence[ConversationLike], settings: DiarizationSettings, *, trim: bool = False
) -> dict[str, float]:
    """The segmentation floor: DER when every window's vector names its true majority speaker. What remains is the
    cost of the VAD, 1 s windows at the hop, smoothing and turn building, which no better model can remove.
    `trim` applies the trim_to_speech proposal to the turns."""
    per_file = []
    for conv in conversations:
        starts, ends, windows = frame_audio(conv.audio, conv.sample_rate, 1.0, settings.hop_s)
        speech = np.array([is_speech(w, conv.sample_rate, settings.vad_threshold_db) for w in windows], dtype=bool)
        vectors = oracle_vectors(conv, starts, ends)
        hypothesis = diarize_windows(
            starts,
            [v if s else None for v, s in zip(vectors, speech, strict=True)],
            speech,
            1.0,
            settings.hop_s,
            ends=ends,
            threshold=settings.threshold,
            max_speakers=settings.max_speakers,
            **settings.options,
        )
        if trim:
            hypothesis = trim_to_speech(hypothesis, conv.audio, conv.sample_rate)
        per_file.append(
            score_diarization(list(conv.segments), hypothesis, uem=(0.0, len(conv.audio) / conv.sample_rate))
        )
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


def evaluate_system(
    vector_fn: VectorFn,
    conversations: Sequence[ConversationLike],
    settings: DiarizationSettings,
    tick: Callable[[], None] | None = None,
    *,
    trim: bool = False,
) -> dict[str, float]:
    """Corpus scores of one system (DER both collars, precision, recall, speaker accuracy, mean speakers found).

    `trim` applies the trim_to_speech proposal (a diagnostic, not the served path)."""
    per_file, found = [], []
    for conv in conversations:
        hypothesis = diarize(conv, vector_fn, settings)
        if trim:
            hypothesis = trim_to_speech(hypothesis, conv.audio, conv.sample_rate)
        per_file.append(
            score_diarization(list(conv.segments), hypothesis, uem=(0.0, len(conv.audio) / conv.sample_rate))
        )
        found.append(len({s.speaker for s in hypothesis}))
        if tick is not None:
            tick()
    scores = aggregate_scores(per_file)
    scores["speakers_found_mean"] = float(np.mean(found))
    return scores


def evaluate(
    model_path: str | Path | None,
    conversations: Sequence[ConversationLike],
    settings: DiarizationSettings | None = None,
    *,
    output: str = "speaker_embeddings",
    both_outputs: bool = True,
    baselines: bool = True,
    fit_conversations: Sequence[ConversationLike] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score the model (if given) and the baselines; returns the accuracy JSON document.

    `fit_conversations` (default: two validation-voice conversations) fit the MFCC baseline's standardisation.
    """
    settings = settings or DiarizationSettings()
    systems: dict[str, VectorFn] = {}
    if model_path is not None:
        systems["model"] = onnx_vectors(model_path, output)
        other = "embedding" if output == "speaker_embeddings" else "speaker_embeddings"
        if both_outputs and other in _output_names(model_path):
            systems[f"model:{other}"] = onnx_vectors(model_path, other)
    if baselines:
        systems["one-speaker"] = one_speaker_vectors
        fit_set = fit_conversations or validation_conversations(2, 30.0, seed=settings.baseline_fit_seed)
        systems["mfcc-stats"] = MfccStats().fit(fit_set, settings.hop_s)
    results: dict[str, dict[str, float]] = {}
    for name, fn in systems.items():
        task = progress.add_task(f"diarizing with {name}", total=len(conversations)) if progress else None

        def tick(task: Any = task) -> None:
            if progress is not None and task is not None:
                progress.advance(task)

        results[name] = evaluate_system(fn, conversations, settings, tick)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "created_at": datetime.now(UTC).isoformat(),
        "model": str(model_path) if model_path else None,
        "vector_output": output,
        "test_set": {
            "conversations": len(conversations),
            "seconds": round(sum(len(c.audio) / c.sample_rate for c in conversations), 2),
            "uris": [c.uri for c in conversations],
        },
        "settings": asdict(settings),
        "collars": {"der_collar_0": "none", "der_collar_025": "md-eval +-0.25 s (pyannote collar=0.5)"},
        "one_speaker_theory_der_collar_0": one_speaker_theory_der(conversations),
        "systems": results,
    }
    if "model" in results:
        m = results["model"]
        doc["metadata_accuracy"] = {
            "der_test_set": m["der_collar_025"],
            "precision": min(1.0, max(0.0, m["precision"])),
            "recall": min(1.0, max(0.0, m["recall"])),
            "der_collar_0": m["der_collar_0"],
            "der_collar_025": m["der_collar_025"],
        }
    return doc


def der_of_model(model_path: str | Path, conversations: Sequence[ConversationLike] | None = None) -> float:
    """DER (collar 0.25 s) of one model on the default held-out set (used by optimize.py to judge int8)."""
    convs = conversations if conversations is not None else held_out_conversations(4, 30.0)
    return evaluate_system(onnx_vectors(model_path), convs, DiarizationSettings())["der_collar_025"]


def accuracy_table(doc: dict[str, Any]) -> Table:
    """Systems x metrics."""
    table = Table(
        title=f"Diarization on {doc['test_set']['conversations']} held-out conversations "
        f"({doc['test_set']['seconds']:.0f} s)"
    )
    for col in ("system", "DER c=0", "DER c=0.25", "precision", "recall", "spk acc", "speakers"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for name, s in doc["systems"].items():
        table.add_row(
            name,
            f"{s['der_collar_0']:.2%}",
            f"{s['der_collar_025']:.2%}",
            f"{s['precision']:.3f}",
            f"{s['recall']:.3f}",
            f"{s['speaker_accuracy']:.3f}",
            f"{s['speakers_found_mean']:.1f}",
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: score a model.onnx and the two baselines on held-out conversations; print a table, write JSON."""
    parser = argparse.ArgumentParser(prog="voiceflow-accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX model (omit to score only the baselines)")
    parser.add_argument("--output", type=Path, default=Path("accuracy.json"), help="JSON to write")
    parser.add_argument("--conversations", type=int, default=8, help="held-out conversations (default 8)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per conversation (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="test-set seed (default 0)")
    parser.add_argument("--hop", type=float, default=0.5, help="window hop in seconds (default 0.5)")
    parser.add_argument("--threshold", type=float, default=0.5, help="clustering cosine threshold (default 0.5)")
    parser.add_argument("--max-speakers", type=int, help="cap on speakers per conversation (default: none)")
    parser.add_argument(
        "--vector",
        choices=["speaker_embeddings", "embedding"],
        default="speaker_embeddings",
        help="model output the headline 'model' row clusters (default speaker_embeddings, the softmax)",
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip the one-speaker and MFCC baselines")
    args = parser.parse_args(argv)
    console = Console()
    if args.model is not None and not args.model.is_file():
        console.print(f"[red]model not found: {args.model}")
        return 2
    if args.model is None and args.no_baselines:
        console.print("[red]nothing to score: give --model or drop --no-baselines")
        return 2
    settings = DiarizationSettings(hop_s=args.hop, threshold=args.threshold, max_speakers=args.max_speakers)
    with console.status("synthesising held-out conversations"):
        conversations = held_out_conversations(args.conversations, args.duration, args.seed)
    with Progress(console=console, transient=True) as progress:
        doc = evaluate(
            args.model, conversations, settings, output=args.vector, baselines=not args.no_baselines, progress=progress
        )
    console.print(accuracy_table(doc))
    console.print(f"one-speaker DER in theory (perfect VAD, collar 0): {doc['one_speaker_theory_der_collar_0']:.2%}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
