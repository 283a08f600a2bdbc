"""Section 6, GPU: measured only where a GPU is lent; on a CPU-only machine the rows are recorded as pending."""

from __future__ import annotations

from voiceflow_bench.config import GPU_P99_TARGET_MS
from voiceflow_bench.recorder import Recorder
from voiceflow_bench.serving.stats import Row


def gpu_pending(rec: Recorder) -> None:
    """GPU rows are measured only where a GPU is lent; here they are recorded as pending."""
    for model in ("fast-cnn", "sophisticated"):
        rec.add(
            Row(
                "gpu",
                f"{model} CUDA p50/p99",
                None,
                "ms",
                f"p99 <= {GPU_P99_TARGET_MS:g}",
                "pending",
                "no GPU on this machine",
            )
        )
