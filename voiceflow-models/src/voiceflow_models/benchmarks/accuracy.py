"""Diarization accuracy (DER at collar 0 and 0.25 s, precision, recall) on held-out two-speaker conversations.

Every system is scored through exactly the path the server streams with,
voiceflow_contract.diarization.pipeline.diarize_audio: 1 s windows at a hop, the shared VAD gate and frame-level
activity mask, the system's vector per speech window, StreamingDiarizer's online clustering and finalize; then
voiceflow_models.training.metrics scores the turns. Systems differ only in the vector:

* the ONNX model ("model"): the output and clustering threshold of its calibration (see `calibrate`: chosen on
  validation-voice conversations, never the test set; the same values go into metadata.json's `diarization` block,
  which the server clusters with); the model's other output is scored too as "model:<output>";
* baseline "one-speaker": the same vector for every window, i.e. everything is one speaker;
* baseline "mfcc-stats": mean and standard deviation of 19 MFCCs (c0, the energy, dropped) over the window.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from voiceflow_contract.diarization import Segment, StreamingDiarizer, frame_audio, window_speech
from voiceflow_contract.diarization.pipeline import diarize_audio
from voiceflow_models.benchmarks.audio_source import (
    SAMPLE_RATE,
    ConversationLike,
    held_out_conversations,
    validation_conversations,
)
from voiceflow_models.training.metrics import aggregate_scores, score_diarization

SCHEMA = "voiceflow.accuracy/1"
VectorFn = Callable[[np.ndarray], np.ndarray]
OUTPUTS = ("speaker_embeddings", "embedding")
#: Thresholds tried by `calibrate` (StreamingDiarizer's cosine similarity for opening a new speaker).
CALIBRATION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
#: Final passes tried by `calibrate` (StreamingDiarizer ``method``): the original cohesion refinement at every
#: threshold, and spectral re-clustering (eigengap speaker count; the online threshold only shapes live labels).
CALIBRATION_METHODS = ("cohesion", "spectral")


@dataclass
class DiarizationSettings:
    """How windows are cut, gated and clustered (identical for every system). threshold None = the shared default."""

    hop_s: float = 0.5
    vad_threshold_db: float = -40.0
    threshold: float | None = None
    method: str | None = None  # StreamingDiarizer's final pass; None = its default
    max_speakers: int | None = None
    baseline_fit_seed: int = 7  # validation-voice conversations the MFCC standardisation is fitted on
    options: dict[str, Any] = field(default_factory=dict)

    def diarizer_options(self) -> dict[str, Any]:
        """Keyword arguments for StreamingDiarizer."""
        opts = dict(self.options)
        if self.threshold is not None:
            opts["threshold"] = self.threshold
        if self.method is not None:
            opts["method"] = self.method
        if self.max_speakers is not None:
            opts["max_speakers"] = self.max_speakers
        return opts


def onnx_vectors(
    model_path: str | Path, output: str = "speaker_embeddings", threads: int = 1, batch: int = 16
) -> VectorFn:
    """Window vectors from an ONNX model's `output` (falls back to speaker_embeddings if `output` is absent).

    Results are memoised per batch of windows, so re-clustering the same audio (calibration) runs the model once.
    """
    from voiceflow_models.benchmarks.latency import make_session

    session = make_session(model_path, threads=threads)
    names = [o.name for o in session.get_outputs()]
    name = output if output in names else "speaker_embeddings"
    input_name = session.get_inputs()[0].name
    cache: dict[str, np.ndarray] = {}

    def vectors(windows: np.ndarray) -> np.ndarray:
        key = hashlib.sha1(np.ascontiguousarray(windows, dtype=np.float32).tobytes()).hexdigest()
        if key not in cache:
            outs = [
                session.run([name], {input_name: windows[i : i + batch].astype(np.float32)})[0]
                for i in range(0, len(windows), batch)
            ]
            cache[key] = np.concatenate(outs) if outs else np.zeros((0, 1), dtype=np.float32)
        return cache[key]

    return vectors


def output_names(model_path: str | Path) -> list[str]:
    """The ONNX model's output names."""
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


def diarize(conversation: ConversationLike, vector_fn: VectorFn, settings: DiarizationSettings) -> list[Segment]:
    """Turns for one conversation through the shared serving pipeline."""
    return diarize_audio(
        conversation.audio,
        conversation.sample_rate,
        vector_fn,
        hop_s=settings.hop_s,
        threshold_db=settings.vad_threshold_db,
        **settings.diarizer_options(),
    )


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
        per_file.append(_score(conv, diarizer.finalize()))
    return aggregate_scores(per_file)


def _score(conv: ConversationLike, hypothesis: list[Segment]) -> dict[str, float]:
    return score_diarization(list(conv.segments), hypothesis, uem=(0.0, len(conv.audio) / conv.sample_rate))


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
) -> dict[str, float]:
    """Corpus scores of one system (DER both collars, precision, recall, speaker accuracy, mean speakers found)."""
    per_file, found = [], []
    for conv in conversations:
        hypothesis = diarize(conv, vector_fn, settings)
        per_file.append(_score(conv, hypothesis))
        found.append(len({s.speaker for s in hypothesis}))
        if tick is not None:
            tick()
    scores = aggregate_scores(per_file)
    scores["speakers_found_mean"] = float(np.mean(found))
    return scores


def threshold_grid(
    vector_fn: VectorFn,
    conversations: Sequence[ConversationLike],
    settings: DiarizationSettings,
    thresholds: Sequence[float] = CALIBRATION_THRESHOLDS,
) -> list[dict[str, Any]]:
    """Scores of one vector at every clustering threshold."""
    return [
        {"threshold": t, **evaluate_system(vector_fn, conversations, replace(settings, threshold=t))}
        for t in thresholds
    ]


def _rank(scores: dict[str, Any]) -> tuple[float, float]:
    return round(scores["der_collar_025"], 6), round(scores["der_collar_0"], 6)


def calibrate(
    model_path: str | Path,
    conversations: Sequence[ConversationLike],
    settings: DiarizationSettings | None = None,
    *,
    thresholds: Sequence[float] = CALIBRATION_THRESHOLDS,
    outputs: Sequence[str] = OUTPUTS,
    methods: Sequence[str] = CALIBRATION_METHODS,
) -> dict[str, Any]:
    """Pick the output, final pass and clustering threshold with the lowest DER (collar 0.25 s, then collar 0) on
    `conversations` (validation voices: the test set never tunes anything). Returns metadata.json's `diarization`
    block + the grid. Ties keep the earlier entry, so the original cohesion pass stays unless another is better."""
    base = settings or DiarizationSettings()
    grid = []
    for output in [o for o in outputs if o in output_names(model_path)]:
        fn = onnx_vectors(model_path, output)  # memoised: one model pass per output, re-clustered per threshold
        for method in methods:
            # The spectral pass needs no threshold: one online threshold (the shared default) is enough for it.
            method_thresholds = thresholds if method == "cohesion" else thresholds[-1:]
            method_settings = replace(base, method=method)
            grid += [
                {"vector": output, "method": method, **g}
                for g in threshold_grid(fn, conversations, method_settings, method_thresholds)
            ]
    if not grid:
        raise ValueError(f"calibrate: {model_path} has none of the outputs {list(outputs)}")
    best = min(grid, key=_rank)
    return {
        "vector": best["vector"],
        "threshold": best["threshold"],
        "method": best["method"],
        "hop_s": base.hop_s,
        "validation_der_collar_025": best["der_collar_025"],
        "validation_conversations": len(conversations),
        "grid": grid,
    }


def evaluate(
    model_path: str | Path | None,
    conversations: Sequence[ConversationLike],
    settings: DiarizationSettings | None = None,
    *,
    output: str = "speaker_embeddings",
    both_outputs: bool = True,
    baselines: bool = True,
    fit_conversations: Sequence[ConversationLike] | None = None,
    calibration: dict[str, Any] | None = None,
    calibration_conversations: Sequence[ConversationLike] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score the model (if given) and the baselines; returns the accuracy JSON document.

    `calibration` (from `calibrate`) sets the model's output and threshold for the headline "model" row and is
    recorded as the document's `diarization` block (metadata.json's). `fit_conversations` (default: two
    validation-voice conversations) fit the MFCC baseline's standardisation; with `calibration_conversations`
    (validation voices) the MFCC baseline's threshold is calibrated there too, as the model's was.
    """
    settings = settings or DiarizationSettings()
    model_settings = settings
    if calibration is not None:
        output = calibration["vector"]
        model_settings = replace(
            settings, threshold=calibration["threshold"], method=calibration.get("method", settings.method)
        )
    systems: dict[str, tuple[VectorFn, DiarizationSettings]] = {}
    if model_path is not None:
        systems["model"] = (onnx_vectors(model_path, output), model_settings)
        other = "embedding" if output == "speaker_embeddings" else "speaker_embeddings"
        if both_outputs and other in output_names(model_path):
            systems[f"model:{other}"] = (onnx_vectors(model_path, other), model_settings)
    if baselines:
        systems["one-speaker"] = (one_speaker_vectors, settings)
        fit_set = fit_conversations or validation_conversations(2, 30.0, seed=settings.baseline_fit_seed)
        mfcc = MfccStats().fit(fit_set, settings.hop_s)
        mfcc_settings = settings
        if calibration_conversations:
            best = min(threshold_grid(mfcc, calibration_conversations, settings), key=_rank)
            mfcc_settings = replace(settings, threshold=best["threshold"])
        systems["mfcc-stats"] = (mfcc, mfcc_settings)
    results: dict[str, dict[str, float]] = {}
    for name, (fn, system_settings) in systems.items():
        task = progress.add_task(f"diarizing with {name}", total=len(conversations)) if progress else None

        def tick(task: Any = task) -> None:
            if progress is not None and task is not None:
                progress.advance(task)

        results[name] = evaluate_system(fn, conversations, system_settings, tick)
    threshold = model_settings.threshold
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
    if calibration is not None:
        doc["calibration"] = calibration
    if "model" in results:
        m = results["model"]
        doc["metadata_accuracy"] = {
            "der_test_set": m["der_collar_025"],
            "precision": min(1.0, max(0.0, m["precision"])),
            "recall": min(1.0, max(0.0, m["recall"])),
            "der_collar_0": m["der_collar_0"],
            "der_collar_025": m["der_collar_025"],
        }
        # metadata.json's `diarization` block: what the server must cluster with to get the DER above.
        doc["diarization"] = {"vector": output, "hop_s": settings.hop_s}
        if threshold is not None:
            doc["diarization"]["threshold"] = threshold
        if model_settings.method is not None:
            doc["diarization"]["method"] = model_settings.method
    return doc


def der_of_model(model_path: str | Path, conversations: Sequence[ConversationLike] | None = None) -> float:
    """DER (collar 0.25 s) of one model on the default held-out set (used by optimize.py to judge int8)."""
    convs = conversations if conversations is not None else held_out_conversations(8, 30.0)
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
    parser.add_argument("--threshold", type=float, help="clustering cosine threshold (default: the shared default)")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="choose the model's output and threshold on validation-voice conversations first (what publish records)",
    )
    parser.add_argument("--calibration-conversations", type=int, default=2, help="validation conversations (default 2)")
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
        calibration = None
        if args.calibrate and args.model is not None:
            val = validation_conversations(args.calibration_conversations, args.duration)
            calibration = calibrate(args.model, val, settings)
        else:
            val = None
        doc = evaluate(
            args.model,
            conversations,
            settings,
            output=args.vector,
            baselines=not args.no_baselines,
            calibration=calibration,
            calibration_conversations=val,
            progress=progress,
        )
    console.print(accuracy_table(doc))
    console.print(f"one-speaker DER in theory (perfect VAD, collar 0): {doc['one_speaker_theory_der_collar_0']:.2%}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
