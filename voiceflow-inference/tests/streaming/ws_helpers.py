"""Helpers for the streaming tests: a tiny real ONNX "speaker classifier", synthetic conversations, a live server.

The model computes band energies of 10 ms frames (fixed DFT-like MatMul weights), averages them over the 1 s window
and returns a softmax over the log band energies, so two synthetic "speakers" whose harmonics live in different bands
give clearly different vectors: good enough to test streaming, clustering and DER end to end without training.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from voiceflow_contract.testing import contract_model_proto

SR = 48_000
FRAME = 480  # 10 ms at 48 kHz
BIN_HZ = 100
BANDS_HZ = ((50, 650), (650, 1450), (1450, 3050), (3050, 8000))


def band_model_proto(scale: float = 1.0) -> onnx.ModelProto:
    """ONNX graph audio[B, 48000] -> speaker_embeddings[B, 4] (softmax of log band energies) + embedding[B, 4]."""
    freqs = np.arange(BIN_HZ, 8000 + BIN_HZ, BIN_HZ, dtype=np.float64)
    t = np.arange(FRAME) / SR
    hann = np.hanning(FRAME)
    basis = (
        np.concatenate(
            [np.cos(2 * np.pi * freqs[None, :] * t[:, None]), np.sin(2 * np.pi * freqs[None, :] * t[:, None])], axis=1
        )
        * hann[:, None]
    )
    bands = np.zeros((2 * freqs.size, len(BANDS_HZ)))
    for k, (lo, hi) in enumerate(BANDS_HZ):
        sel = (freqs >= lo) & (freqs < hi)
        bands[: freqs.size][sel, k] = 1.0
        bands[freqs.size :][sel, k] = 1.0
    inits = [
        numpy_helper.from_array(np.array([-1, SR // FRAME, FRAME], dtype=np.int64), "frame_shape"),
        numpy_helper.from_array(basis.astype(np.float32), "basis"),
        numpy_helper.from_array(bands.astype(np.float32), "bands"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "frame_axis"),
        numpy_helper.from_array(np.array(1e-8, dtype=np.float32), "eps"),
        numpy_helper.from_array(np.array(scale, dtype=np.float32), "scale"),
    ]
    nodes = [
        helper.make_node("Reshape", ["audio", "frame_shape"], ["frames"]),
        helper.make_node("MatMul", ["frames", "basis"], ["proj"]),
        helper.make_node("Mul", ["proj", "proj"], ["power"]),
        helper.make_node("MatMul", ["power", "bands"], ["band_power"]),
        helper.make_node("ReduceMean", ["band_power", "frame_axis"], ["energy"], keepdims=0),
        helper.make_node("Add", ["energy", "eps"], ["energy_eps"]),
        helper.make_node("Log", ["energy_eps"], ["log_energy"]),
        helper.make_node("Mul", ["log_energy", "scale"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["speaker_embeddings"], axis=-1),
        helper.make_node("ReduceMean", ["log_energy", "frame_axis"], ["mean_log"], keepdims=1),
        helper.make_node("Sub", ["log_energy", "mean_log"], ["embedding"]),
    ]
    n = len(BANDS_HZ)
    return contract_model_proto(
        nodes, inits, num_speakers=n, embedding_dim=n, window=SR, graph_name="band_energy_speakers"
    )


def write_band_model(path: Path, scale: float = 1.0) -> Path:
    """Save the band model (a different `scale` gives a different file/sha256 with the same behaviour)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(band_model_proto(scale), str(path))
    return path


# ------------------------------------------------------------------------------------------ synthetic audio
SPEAKER_F0 = {"A": (150.0, 3), "B": (1700.0, 2)}  # f0 and number of harmonics: A lives in band 0, B in bands 2-3


def voice(speaker: str, seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A harmonic, syllable-modulated 'voice' for a speaker."""
    f0, harmonics = SPEAKER_F0[speaker]
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    jitter = 1.0 + 0.01 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    sig = sum(np.sin(2 * np.pi * f0 * (h + 1) * jitter * t + rng.uniform(0, 6)) / (h + 1) for h in range(harmonics))
    envelope = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)))
    return np.asarray(0.25 * sig * envelope, dtype=np.float32)


@dataclass
class Conversation:
    """Audio plus its reference turns [(start, end, speaker)]."""

    audio: np.ndarray
    sample_rate: int
    turns: list[tuple[float, float, str]]

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.audio.size / self.sample_rate


def conversation(sample_rate: int, seed: int = 0) -> Conversation:
    """A ~19 s two-speaker dialogue with silences: A, pause, B, A, pause, B."""
    rng = np.random.default_rng(seed)
    plan = [("A", 4.0), (None, 1.0), ("B", 3.5), ("A", 3.0), (None, 1.5), ("B", 4.0), (None, 0.7)]
    parts, turns, t = [], [], 0.0
    for speaker, seconds in plan:
        if speaker is None:
            parts.append(np.zeros(round(seconds * sample_rate), dtype=np.float32))
        else:
            parts.append(voice(speaker, seconds, sample_rate, rng))
            turns.append((t, t + seconds, speaker))
        t += seconds
    audio = np.concatenate(parts)
    audio += (rng.standard_normal(audio.size) * 1e-4).astype(np.float32)  # a faint noise floor, not digital silence
    return Conversation(audio, sample_rate, turns)


def der(
    reference: list[tuple[float, float, str]], hypothesis: list[tuple[float, float, str]], duration: float
) -> float:
    """Diarization error rate with pyannote.metrics over [0, duration] (no collar, overlap scored)."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for start, end, spk in reference:
        ref[Segment(start, end)] = spk
    for start, end, spk in hypothesis:
        hyp[Segment(start, end)] = spk
    return float(DiarizationErrorRate()(ref, hyp, uem=Timeline([Segment(0.0, duration)])))


# ------------------------------------------------------------------------------------------ servers
def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: object, **config: object) -> Iterator[str]:
    """Run uvicorn for `app` on 127.0.0.1 in a background thread; yields the base URL (http://...)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **config)  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def ws_settings(root: Path, model_path: Path, **limits: Any) -> Any:
    """Settings serving `model_path` from a watch dir under `root` (the registry there is empty: startup falls back
    to the watch-dir file, version 'local-<sha12>'), no poller, small warm-up."""
    import shutil

    from voiceflow_inference.config import Limits, Settings

    (root / "registry").mkdir(parents=True, exist_ok=True)
    watch = root / "watch"
    watch.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, watch / "model.onnx")
    grace = float(limits.pop("shutdown_grace_s", 5.0))
    return Settings(
        registry_url=str(root / "registry"),
        cache_dir=root / "cache",
        watch_dir=watch,
        poll_interval_s=0,
        warmup_runs=1,
        shutdown_grace_s=grace,
        limits=Limits(**limits),
    )


def ws_app(root: Path, model_path: Path, **limits: Any) -> Any:
    """A full service app (create_app) for `ws_settings(root, model_path, **limits)`."""
    from voiceflow_inference.app import create_app

    return create_app(ws_settings(root, model_path, **limits))
