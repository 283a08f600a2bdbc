"""Dynamic micro-batching for the engine (``onnx_model.InferenceEngine``): concurrent callers' windows run through
ONNX Runtime as one batch.

Every endpoint (REST, OIP, WebSocket) calls ``InferenceEngine.run`` from a worker thread; with batching enabled that
call lands here. Callers queue their (already validated) arrays; up to ``max_concurrent`` of them at a time become
the *leader* of a batch: the leader optionally waits up to ``max_delay_ms`` for the batch to fill, takes up to
``max_batch`` windows from the head of the queue (whole requests only), runs them in one ``session.run`` and hands
every caller its own rows. With ``max_delay_ms = 0`` nobody ever waits for company: a lone request runs at once, and
batches form only from requests that queued while the cores were busy (no added latency at low load).

Bounding concurrent runs to ``max_concurrent`` also stops dozens of thread-pool threads from running ORT at once on a
two-core machine (oversubscription).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Outputs = dict[str, np.ndarray]


@dataclass(eq=False)
class _Item:
    audio: np.ndarray
    done: bool = False
    result: Outputs | None = None
    error: BaseException | None = None
    head: bool = False  # first request of its batch: the one that stands for the execution in the statistics
    rows: int = field(init=False)

    def __post_init__(self) -> None:
        self.rows = int(self.audio.shape[0])


class MicroBatcher:
    """Thread-safe batcher in front of ``run_batch(float32[B, WINDOW_SAMPLES]) -> {output: array[B, ...]}``.

    Args:
        run_batch: runs one concatenated batch (the raw ONNX Runtime call).
        max_batch: most windows in one run; a single request larger than this runs alone.
        max_delay_ms: how long a leader waits for the batch to fill (0: never wait).
        max_concurrent: batches running at the same time (about the number of cores).
    """

    def __init__(
        self, run_batch: Callable[[np.ndarray], Outputs], *, max_batch: int, max_delay_ms: float, max_concurrent: int
    ) -> None:
        if max_batch < 1 or max_concurrent < 1 or max_delay_ms < 0:
            raise ValueError("batching: max_batch and max_concurrent must be >= 1, max_delay_ms >= 0")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.max_delay_s = max_delay_ms / 1000.0
        self.max_concurrent = max_concurrent
        self._cond = threading.Condition()
        self._pending: deque[_Item] = deque()
        self._active = 0
        self.batches = 0  # runs so far (for tests and benchmarks)
        self.windows = 0

    def run(self, audio: np.ndarray) -> Outputs:
        """Run ``audio`` [B, WINDOW_SAMPLES] (validated float32) as part of a batch; returns its own outputs.

        Raises whatever the batched run raised (every caller of a failed batch gets the error)."""
        return self.run_counted(audio)[0]

    def run_counted(self, audio: np.ndarray) -> tuple[Outputs, bool]:
        """:meth:`run`, and whether this request came first in its batch (so each execution is counted once)."""
        item = _Item(audio)
        with self._cond:
            self._pending.append(item)
            self._cond.notify_all()  # a leader waiting for company sees the new arrival
        while True:
            with self._cond:
                while not item.done and (self._active >= self.max_concurrent or not self._pending):
                    self._cond.wait()
                if item.done:
                    break
                self._active += 1
                if self.max_delay_s > 0:
                    deadline = time.monotonic() + self.max_delay_s
                    while self._pending_rows() < self.max_batch:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                if not self._pending:  # another leader took everything while this one waited
                    self._active -= 1
                    self._cond.notify_all()
                    continue
                batch = self._take()
            self._execute(batch)
        if item.error is not None:
            raise item.error
        if item.result is None:  # pragma: no cover - done implies a result or an error
            raise RuntimeError("micro-batcher lost a result")
        return item.result, item.head

    def _pending_rows(self) -> int:
        return sum(i.rows for i in self._pending)

    def _take(self) -> list[_Item]:
        """Whole requests from the head of the queue, up to max_batch windows (at least one request)."""
        batch = [self._pending.popleft()]
        rows = batch[0].rows
        while self._pending and rows + self._pending[0].rows <= self.max_batch:
            item = self._pending.popleft()
            batch.append(item)
            rows += item.rows
        return batch

    def _execute(self, batch: list[_Item]) -> None:
        """Run one batch outside the lock, then hand out the rows and free the slot."""
        try:
            audio = batch[0].audio if len(batch) == 1 else np.concatenate([i.audio for i in batch])
            outputs = self._run_batch(audio)
            offset = 0
            for item in batch:
                item.result = {name: value[offset : offset + item.rows] for name, value in outputs.items()}
                offset += item.rows
        except BaseException as exc:  # every caller of this batch gets the failure
            for item in batch:
                item.error = exc
        batch[0].head = True
        with self._cond:
            for item in batch:
                item.done = True
            self._active -= 1
            self.batches += 1
            self.windows += sum(i.rows for i in batch)
            self._cond.notify_all()


__all__ = ["MicroBatcher"]
