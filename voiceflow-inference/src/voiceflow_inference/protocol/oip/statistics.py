"""Triton's statistics extension: ``GET /v2/models[/{name}[/versions/{v}]]/stats`` (pydantic wire types), built from
the counters of :mod:`voiceflow_inference.inference_statistics`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from voiceflow_inference.inference_statistics import Duration, VersionStatistics


class DurationStat(BaseModel):
    """How many times, and the cumulative nanoseconds (Triton's ``$duration_stat``)."""

    count: int
    ns: int


class InferStats(BaseModel):
    """Triton's ``$inference_stats``; ``cache_hit`` stays zero (there is no response cache)."""

    success: DurationStat
    fail: DurationStat
    queue: DurationStat
    compute_input: DurationStat
    compute_infer: DurationStat
    compute_output: DurationStat
    cache_hit: DurationStat


class BatchStat(BaseModel):
    """Compute durations of the executions of one batch size."""

    batch_size: int
    compute_input: DurationStat
    compute_infer: DurationStat
    compute_output: DurationStat


class ModelStat(BaseModel):
    """One model version (Triton's ``$model_stat``); ``last_inference`` is milliseconds since the epoch (0: never)."""

    name: str
    version: str
    last_inference: int
    inference_count: int = Field(description="Windows inferred (a batch of B counts B)")
    execution_count: int = Field(description="Successful requests, each run as one execution")
    inference_stats: InferStats
    batch_stats: list[BatchStat]


class StatisticsResponse(BaseModel):
    """`GET /v2/models[/{name}[/versions/{version}]]/stats`."""

    model_stats: list[ModelStat]


def _duration(value: Duration) -> DurationStat:
    return DurationStat(count=value.count, ns=value.ns)


def model_stat(name: str, version: str, stats: VersionStatistics) -> ModelStat:
    """The wire form of one version's statistics."""
    return ModelStat(
        name=name,
        version=version,
        last_inference=stats.last_inference_ms,
        inference_count=stats.inference_count,
        execution_count=stats.execution_count,
        inference_stats=InferStats(
            success=_duration(stats.success),
            fail=_duration(stats.fail),
            queue=_duration(stats.queue),
            compute_input=_duration(stats.compute_input),
            compute_infer=_duration(stats.compute_infer),
            compute_output=_duration(stats.compute_output),
            cache_hit=DurationStat(count=0, ns=0),
        ),
        batch_stats=[
            BatchStat(
                batch_size=size,
                compute_input=_duration(batch.compute_input),
                compute_infer=_duration(batch.compute_infer),
                compute_output=_duration(batch.compute_output),
            )
            for size, batch in sorted(stats.batches.items())
        ],
    )


__all__ = ["BatchStat", "DurationStat", "InferStats", "ModelStat", "StatisticsResponse", "model_stat"]
