"""One streaming diarization session: audio in, 1 s windows at the hop, VAD, batched inference, online clustering.

The session is plain synchronous code with no I/O so that the WebSocket handler can run each step in a worker
thread (`process`, `finish`), keeping the event loop free; a session is only ever touched by its own handler, one
step at a time. It pins one model (the object it was given) from start to stop: a hot reload swaps the manager's
model, not this reference, so the session keeps its version and ONNX Runtime session alive until it ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization import StreamingDiarizer, make_vad, to_rttm
from voiceflow_contract.schemas import ModelMetadata
from voiceflow_contract.spec import EMBEDDING_OUTPUT, PROBABILITIES_OUTPUT, SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS
from voiceflow_inference.config import Limits
from voiceflow_inference.streaming.audio import FloatArray, FrameDecoder, StreamResampler
from voiceflow_inference.streaming.messages import FinalMessage, SegmentOut, StartMessage, WindowMessage

_DEFAULT_LIMITS = Limits()


class Engine(Protocol):
    """What the session needs from an inference engine."""

    def run(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """float32 [B, WINDOW_SAMPLES] -> outputs by name."""
        ...


class PinnedModel(Protocol):
    """What the session needs from the model manager's LoadedModel."""

    @property
    def name(self) -> str:
        """Registry model name."""
        ...

    @property
    def version(self) -> object:
        """Semantic version (str() gives '1.2.3')."""
        ...

    @property
    def metadata(self) -> ModelMetadata | None:
        """The registry's metadata.json (carries the model's diarization calibration)."""
        ...

    @property
    def engine(self) -> Engine:
        """The ONNX Runtime engine."""
        ...


class InferenceFailedError(RuntimeError):
    """The model raised while analysing windows; the session cannot continue."""


class BatchObserver(Protocol):
    """Receives one call per model run (for latency/request/failure metrics)."""

    def __call__(self, seconds: float, batch: int, error: BaseException | None) -> None:
        """Record one model run of `batch` windows that took `seconds` (error set when it failed)."""
        ...


@dataclass
class Window:
    """A window cut from the 48 kHz stream, before analysis."""

    start_sample: int
    end_sample: int  # exclusive; < start + WINDOW_SAMPLES only for the zero-padded last window
    audio: FloatArray

    @property
    def start(self) -> float:
        """Start in seconds."""
        return self.start_sample / SAMPLE_RATE

    @property
    def end(self) -> float:
        """End in seconds."""
        return self.end_sample / SAMPLE_RATE


@dataclass(frozen=True)
class SessionOptions:
    """Per-server knobs of a session."""

    max_session_s: float = _DEFAULT_LIMITS.max_session_seconds
    max_batch: int = _DEFAULT_LIMITS.max_batch
    vad_threshold_db: float = -40.0


@dataclass
class DiarizationSession:
    """State of one `/ws/diarize` session (see module docstring)."""

    session_id: str
    start: StartMessage
    model: PinnedModel
    options: SessionOptions = field(default_factory=SessionOptions)
    observer: BatchObserver | None = None

    def __post_init__(self) -> None:
        self.decoder = FrameDecoder(self.start.encoding)
        self.resampler = StreamResampler(self.start.sample_rate)
        self.hop_samples = max(1, round(self.start.hop_s * SAMPLE_RATE))
        # The model's metadata says which output to cluster and at what threshold (what evaluation scored);
        # without one, the embedding (better for unseen speakers) at the shared defaults.
        calibration = self.model.metadata.diarization if self.model.metadata is not None else None
        self.vector_output = calibration.vector if calibration is not None else EMBEDDING_OUTPUT
        hop_s = self.hop_samples / SAMPLE_RATE
        if calibration is not None:
            self.diarizer = StreamingDiarizer(
                window_s=WINDOW_SECONDS,
                hop_s=hop_s,
                threshold=calibration.threshold,
                method=calibration.method,
                final_threshold=calibration.final_threshold,
                boundary=calibration.boundary,
            )
            self.vad = make_vad(calibration.vad, threshold_db=self.options.vad_threshold_db)
        else:
            self.diarizer = StreamingDiarizer(window_s=WINDOW_SECONDS, hop_s=hop_s)
            self.vad = make_vad("energy", threshold_db=self.options.vad_threshold_db)
        self.model_name = str(self.model.name)
        self.model_version = str(self.model.version)
        self.input_samples = 0
        self.windows_done = 0
        self.frames = 0
        self.limit_reached = False
        self.finished = False
        self._buf: FloatArray = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # 48 kHz index of _buf[0]
        self._out_total = 0  # 48 kHz samples received so far
        self._next_index = 0  # index k of the next window (start = k * hop)
        self._max_input_samples = int(self.options.max_session_s * self.start.sample_rate)

    # ------------------------------------------------------------------ properties
    @property
    def duration(self) -> float:
        """Seconds of audio received (at the client's sample rate)."""
        return self.input_samples / self.start.sample_rate

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete trailing sample."""
        return self.decoder.pending_bytes

    # ------------------------------------------------------------------ steps (run in a worker thread)
    def process(self, frame: bytes) -> list[WindowMessage]:
        """Take one binary frame; returns the windows it completed, analysed and labelled.

        Raises AudioFormatError (bad samples: nothing of the frame is used) or InferenceFailedError. Audio beyond
        `max_session_s` is dropped and `limit_reached` is set; the caller then ends the session.
        """
        samples = self.decoder.decode(frame)
        self.frames += 1
        room = self._max_input_samples - self.input_samples
        if samples.size > room:
            samples = samples[: max(room, 0)]
            self.limit_reached = True
        self.input_samples += samples.size
        windows = self._append(self.resampler.push(samples))
        return self._analyse(windows)

    def finish(self) -> tuple[list[WindowMessage], FinalMessage]:
        """End of stream: flush the resampler, analyse the last (zero-padded) window and build the final message."""
        if self.finished:
            raise RuntimeError("session already finished")
        self.finished = True
        windows = self._append(self.resampler.flush())
        last_end = (self._next_index - 1) * self.hop_samples + WINDOW_SAMPLES if self._next_index else 0
        if self._out_total > last_end:
            start = self._next_index * self.hop_samples
            audio = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
            tail = self._buf[start - self._buf_start : self._out_total - self._buf_start]
            audio[: tail.size] = tail
            windows.append(Window(start, self._out_total, audio))
            self._next_index += 1
        messages = self._analyse(windows)
        segments = self.diarizer.finalize()
        final = FinalMessage(
            session_id=self.session_id,
            model=self.model_name,
            model_version=self.model_version,
            duration=round(self.duration, 6),
            windows=self.windows_done,
            segments=[
                SegmentOut(start=round(s.start, 6), end=round(s.end, 6), speaker=str(s.speaker)) for s in segments
            ],
            rttm=to_rttm(segments, self.start.uri),
        )
        return messages, final

    # ------------------------------------------------------------------ internals
    def _append(self, samples: FloatArray) -> list[Window]:
        """Add 48 kHz samples to the ring buffer and cut every window that is now complete."""
        if samples.size:
            self._buf = np.concatenate([self._buf, samples])
            self._out_total += samples.size
        windows: list[Window] = []
        while True:
            start = self._next_index * self.hop_samples
            end = start + WINDOW_SAMPLES
            if end > self._out_total:
                break
            windows.append(Window(start, end, self._buf[start - self._buf_start : end - self._buf_start].copy()))
            self._next_index += 1
        # Nothing before the next window's start is needed again.
        drop = self._next_index * self.hop_samples - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        return windows

    def _analyse(self, windows: list[Window]) -> list[WindowMessage]:
        """VAD every window, run the model on the speech ones in batches, push all to the clusterer in order."""
        if not windows:
            return []
        # The same gate and activity mask as diarize_audio(), so live sessions score like offline evaluation.
        gates = self.vad(np.stack([w.audio for w in windows]), SAMPLE_RATE)
        speech = [gate for gate, _ in gates]
        voiced = [i for i, s in enumerate(speech) if s]
        probs: dict[int, npt.NDArray[np.float32]] = {}
        vectors: dict[int, npt.NDArray[np.float32]] = {}
        for lo in range(0, len(voiced), self.options.max_batch):
            chunk = voiced[lo : lo + self.options.max_batch]
            batch = np.stack([windows[i].audio for i in chunk]).astype(np.float32, copy=False)
            outputs = self._run(batch)
            p = outputs.get(PROBABILITIES_OUTPUT)
            if p is None:
                p = next(iter(outputs.values()))
            vec = outputs.get(self.vector_output, p)
            for row, i in enumerate(chunk):
                probs[i] = np.asarray(p[row], dtype=np.float32)
                vectors[i] = np.asarray(vec[row], dtype=np.float32)
        messages: list[WindowMessage] = []
        for i, window in enumerate(windows):
            decision = self.diarizer.push(window.start, window.end, vectors.get(i), speech[i], activity=gates[i][1])
            messages.append(
                WindowMessage(
                    start=round(window.start, 6),
                    end=round(window.end, 6),
                    speaker=None if decision.speaker is None else str(decision.speaker),
                    probabilities=[round(float(x), 6) for x in probs[i]] if i in probs else None,
                    model_version=self.model_version,
                    speech=speech[i],
                )
            )
        self.windows_done += len(windows)
        return messages

    def _run(self, batch: npt.NDArray[np.float32]) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        try:
            outputs = self.model.engine.run(batch)
            for name, value in outputs.items():
                if value.shape[:1] != (batch.shape[0],) or not np.isfinite(value).all():
                    raise InferenceFailedError(f"model output {name!r} has shape {value.shape} or non-finite values")
        except Exception as exc:
            if self.observer is not None:
                self.observer(time.perf_counter() - started, batch.shape[0], exc)
            if isinstance(exc, InferenceFailedError):
                raise
            raise InferenceFailedError(f"model {self.model_name} {self.model_version} failed: {exc}") from exc
        if self.observer is not None:
            self.observer(time.perf_counter() - started, batch.shape[0], None)
        return outputs
