"""Section 1, the model: bare ONNX Runtime vs PyTorch eager at batch 1 against the seed's figures; fast-cnn training
throughput on CPU."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from voiceflow_bench.recorder import Recorder
from voiceflow_bench.serving.stats import Row, at_most
from voiceflow_models.benchmarks.model_rows import SEED_P50_MS, SEED_P99_MS, model_latency, training_throughput


def model_rows(rec: Recorder, model_path: Path, network: torch.nn.Module | None) -> None:
    """ORT vs PyTorch eager at batch 1, against the seed's figures; training throughput."""
    config = rec.config
    results = model_latency(model_path, network, runs=config.latency_runs, warmup=min(20, config.latency_runs))
    rec.raw["model_latency"] = [r.__dict__ for r in results]
    for r in results:
        engine = "ORT" if r.engine == "onnxruntime" else "PyTorch eager"
        label = f"{engine} batch 1, {r.threads} thread{'s' if r.threads > 1 else ''}"
        if r.engine == "onnxruntime":
            rec.add(
                Row(
                    "model", f"{label} p50", r.p50_ms, "ms", f"<= {SEED_P50_MS} (seed)", at_most(r.p50_ms, SEED_P50_MS)
                ),
                Row(
                    "model", f"{label} p99", r.p99_ms, "ms", f"<= {SEED_P99_MS} (seed)", at_most(r.p99_ms, SEED_P99_MS)
                ),
            )
        else:
            rec.add(
                Row("model", f"{label} p50", r.p50_ms, "ms", "info"),
                Row("model", f"{label} p99", r.p99_ms, "ms", "info"),
            )
    if network is None:
        rec.add(Row("model", "PyTorch eager / training", None, "", "needs the network", "info", "--model given"))
        return
    train = training_throughput(copy.deepcopy(network), batch_size=config.training_batch, steps=config.training_steps)
    rec.raw["training"] = train.to_dict()
    rec.add(
        Row(
            "model",
            f"training throughput (batch {train.batch_size}, {train.threads} threads)",
            train.samples_per_s,
            "samples/s",
            "info",
            note="fwd+bwd+AdamW on in-memory windows",
        )
    )
