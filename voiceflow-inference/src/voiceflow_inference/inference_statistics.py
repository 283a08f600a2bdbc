"""Per model version inference statistics in the shape of Triton's statistics extension (counts and cumulative
nanoseconds), kept beside the Prometheus series and served by ``GET /v2/models[/{name}[/versions/{v}]]/stats``.

Every ``/infer`` and OIP inference records here (``runtime.run_batch.infer_batch``); WebSocket sessions do not (they
have their own series). The recording happens on the event loop thread after the worker thread has handed the
outputs back, so the counters need no lock: a record is a dict lookup and a few integer additions.

What each duration measures (all with ``time.perf_counter_ns``):

- ``queue``: from handing the request to the thread pool until a worker thread starts on it.
- ``compute_input``: the engine's input check and conversion (shape, float32, NaN/Inf; ``runtime.audio_input``).
- ``compute_infer``: the ONNX Runtime run (with micro-batching on, including the wait for the batch to run).
- ``compute_output``: from the end of the run until the outputs are back on the event loop.
- ``success``: the whole of it (the sum of the four); ``fail``: the time until the engine or ONNX Runtime refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Duration:
    """A count and a cumulative duration in nanoseconds (Triton's ``$duration_stat``)."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        """Count ``count`` occurrences lasting ``ns`` in total."""
        self.count += count
        self.ns += ns


@dataclass(frozen=True)
class StageTimes:
    """One successful inference's stage durations in nanoseconds."""

    queue_ns: int
    input_ns: int
    infer_ns: int
    output_ns: int

    @property
    def total_ns(self) -> int:
        """Queue, input, infer and output together."""
        return self.queue_ns + self.input_ns + self.infer_ns + self.output_ns


@dataclass
class BatchStatistics:
    """Compute durations of the executions of one batch size (Triton's ``$batch_stat``)."""

    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass
class VersionStatistics:
    """Everything counted for one model version since it first served (Triton's ``$model_stat``)."""

    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    batches: dict[int, BatchStatistics] = field(default_factory=dict)


class InferenceStatistics:
    """The statistics of every model version that served a request, keyed by ``(name, version)``.

    ``per_batch_size``: keep Triton's ``batch_stats`` by request batch size. It is right only when each request runs
    as its own execution, so the app turns it off when micro-batching merges requests (``execution_count`` then
    counts the merged runs: each is counted by the request that came first in it)."""

    def __init__(self, *, per_batch_size: bool = True) -> None:
        self.per_batch_size = per_batch_size
        self._stats: dict[tuple[str, str], VersionStatistics] = {}

    def _entry(self, name: str, version: str) -> VersionStatistics:
        entry = self._stats.get((name, version))
        if entry is None:
            entry = self._stats[(name, version)] = VersionStatistics()
        return entry

    def record_success(self, name: str, version: str, batch: int, times: StageTimes, *, executions: int = 1) -> None:
        """One request of ``batch`` windows; ``executions`` is 1, or 0 when micro-batching ran it in a batch another
        request led."""
        entry = self._entry(name, version)
        entry.last_inference_ms = time.time_ns() // 1_000_000
        entry.inference_count += batch
        entry.execution_count += executions
        entry.success.add(times.total_ns)
        entry.queue.add(times.queue_ns)
        entry.compute_input.add(times.input_ns)
        entry.compute_infer.add(times.infer_ns)
        entry.compute_output.add(times.output_ns)
        if self.per_batch_size:
            per_batch = entry.batches.get(batch)
            if per_batch is None:
                per_batch = entry.batches[batch] = BatchStatistics()
            per_batch.compute_input.add(times.input_ns)
            per_batch.compute_infer.add(times.infer_ns)
            per_batch.compute_output.add(times.output_ns)

    def record_failure(self, name: str, version: str, ns: int) -> None:
        """One request the engine or ONNX Runtime refused after ``ns`` nanoseconds."""
        entry = self._entry(name, version)
        entry.last_inference_ms = time.time_ns() // 1_000_000
        entry.fail.add(ns)

    def get(self, name: str, version: str) -> VersionStatistics:
        """The statistics of one version (all zero when it has not served yet)."""
        return self._stats.get((name, version)) or VersionStatistics()

    def forget(self, name: str, keep: set[str]) -> None:
        """Drop the statistics of ``name``'s versions not in ``keep`` (called when versions are unloaded)."""
        for key in [k for k in self._stats if k[0] == name and k[1] not in keep]:
            del self._stats[key]


__all__ = ["BatchStatistics", "Duration", "InferenceStatistics", "StageTimes", "VersionStatistics"]
