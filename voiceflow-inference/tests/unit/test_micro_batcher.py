"""The dynamic micro-batcher: concurrent callers share ONNX Runtime runs and each gets exactly its own rows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from voiceflow_inference.config import BatchingSettings, ConfigError, load_settings
from voiceflow_inference.runtime.audio_input import InputError
from voiceflow_inference.runtime.micro_batcher import MicroBatcher
from voiceflow_inference.runtime.onnx_model import InferenceEngine


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory: pytest.TempPathFactory, model_builder: Callable[..., Path]) -> Path:
    return model_builder(tmp_path_factory.mktemp("batching") / "toy.onnx", num_speakers=3, seed=4)


def _batches(audio: Callable[..., np.ndarray], n: int) -> list[np.ndarray]:
    return [audio(batch=1 + i % 3, seed=i) for i in range(n)]


def test_concurrent_callers_get_their_own_rows(toy_model: Path, audio: Callable[..., np.ndarray]) -> None:
    plain = InferenceEngine(toy_model)
    batched = InferenceEngine(toy_model, batching=BatchingSettings(enabled=True, max_batch=8, max_delay_ms=5.0))
    assert batched.batcher is not None
    inputs = _batches(audio, 24)
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(batched.run, inputs))
    for x, got in zip(inputs, results, strict=True):
        want = plain.run(x)
        assert set(got) == {"speaker_embeddings", "embedding"}
        assert got["speaker_embeddings"].shape == (x.shape[0], 3)
        np.testing.assert_allclose(got["speaker_embeddings"], want["speaker_embeddings"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["embedding"], want["embedding"], rtol=1e-5, atol=1e-5)
    # 24 requests of 48 windows in total went through fewer runs than requests: they really were batched.
    assert batched.batcher.windows == sum(x.shape[0] for x in inputs)
    assert batched.batcher.batches < len(inputs)


def test_no_delay_means_a_lone_request_runs_alone(toy_model: Path, audio: Callable[..., np.ndarray]) -> None:
    engine = InferenceEngine(toy_model, batching=BatchingSettings(enabled=True, max_delay_ms=0.0))
    assert engine.batcher is not None
    for seed in range(3):
        engine.run(audio(batch=2, seed=seed))
    assert (engine.batcher.batches, engine.batcher.windows) == (3, 6)


def test_batches_never_exceed_max_batch_and_bad_input_stays_per_request(
    toy_model: Path, audio: Callable[..., np.ndarray]
) -> None:
    seen: list[int] = []
    lock = threading.Lock()
    engine = InferenceEngine(toy_model)

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        with lock:
            seen.append(batch.shape[0])
        return engine.run(batch)

    batcher = MicroBatcher(run, max_batch=4, max_delay_ms=2.0, max_concurrent=1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outs = list(pool.map(batcher.run, [audio(batch=1, seed=i) for i in range(16)]))
    assert all(o["speaker_embeddings"].shape == (1, 3) for o in outs)
    assert max(seen) <= 4 and sum(seen) == 16
    batched = InferenceEngine(toy_model, batching=BatchingSettings(enabled=True))
    with pytest.raises(InputError, match=r"audio\.shape"):
        batched.run(np.zeros((1, 100), dtype=np.float32))  # validated before it can join (and spoil) a batch


def test_a_failed_batch_fails_its_callers_only() -> None:
    calls = 0

    def flaky(batch: np.ndarray) -> dict[str, np.ndarray]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return {"speaker_embeddings": batch[:, :2]}

    batcher = MicroBatcher(flaky, max_batch=4, max_delay_ms=0.0, max_concurrent=1)
    with pytest.raises(RuntimeError, match="boom"):
        batcher.run(np.ones((1, 10), dtype=np.float32))
    assert batcher.run(np.ones((2, 10), dtype=np.float32))["speaker_embeddings"].shape == (2, 2)


def test_batching_settings_from_env_and_bad_values_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings("development").batching.enabled is False  # off by default
    monkeypatch.setenv("VOICEFLOW_BATCHING__ENABLED", "true")
    monkeypatch.setenv("VOICEFLOW_BATCHING__MAX_BATCH", "32")
    monkeypatch.setenv("VOICEFLOW_BATCHING__MAX_DELAY_MS", "1.5")
    settings = load_settings("development")
    assert (settings.batching.enabled, settings.batching.max_batch, settings.batching.max_delay_ms) == (True, 32, 1.5)
    monkeypatch.setenv("VOICEFLOW_BATCHING__MAX_CONCURRENT", "0")
    with pytest.raises(ConfigError, match=r"batching\.max_concurrent.*VOICEFLOW_BATCHING__MAX_CONCURRENT"):
        load_settings("development")
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(lambda b: {}, max_batch=0, max_delay_ms=0, max_concurrent=1)
