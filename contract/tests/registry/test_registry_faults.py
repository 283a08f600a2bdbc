"""Faults: the S3 server stops in the middle of a publish or a pull (real moto server, stopped and restarted).

Promises: a publish cut short is refused, never half-visible, and can be completed later; a pull cut short fails
cleanly and leaves the cache as it was (no partial model.onnx, no temp folder); afterwards everything works again.
"""

from __future__ import annotations

import threading
import time

import fsspec
import pytest

from voiceflow_contract.errors import RegistryError
from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.registry import ModelRegistry, load_from_cache
from voiceflow_contract.semver import Version

BIG = 24_000_000  # bytes of padding: big enough that the transfer takes a while on moto


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_server_stopped_mid_publish(moto, artifact, publish_artifact):
    url = f"s3://{moto.bucket}/mid-publish"
    registry = ModelRegistry(url, moto.options, reservation_stale_after=0.0)
    publish_artifact(registry, artifact("fast-cnn", "1.0.0"))
    big = artifact("fast-cnn", "1.1.0", pad_bytes=BIG)
    outcome: list[BaseException | str] = []

    def publisher() -> None:
        try:
            publish_artifact(ModelRegistry(url, moto.options), big)
            outcome.append("published")
        except BaseException as exc:
            outcome.append(exc)

    raw = fsspec.filesystem("s3", skip_instance_cache=True, **moto.options)
    thread = threading.Thread(target=publisher)
    thread.start()
    assert wait_until(
        lambda: raw.exists(f"{moto.bucket}/mid-publish/fast-cnn/v1.1.0/.publishing") or not thread.is_alive()
    )
    moto.stop()
    thread.join(timeout=120)
    moto.start()

    assert len(outcome) == 1
    if outcome[0] == "published":  # the upload won the race: then it must be whole
        pytest.skip("the publish finished before the server stopped; nothing to check")
    assert isinstance(outcome[0], RegistryError), outcome[0]
    reader = ModelRegistry(url, moto.options)
    assert reader.list_versions("fast-cnn") == [Version(1, 0, 0)]  # never half-visible
    assert reader.resolve("fast-cnn") == Version(1, 0, 0)
    # Resumable: publishing the same version again completes it (the abandoned reservation is stale).
    info = publish_artifact(registry, big)
    assert info.version == Version(1, 1, 0) and reader.resolve("fast-cnn") == Version(1, 1, 0)


def test_server_stopped_mid_pull(moto, artifact, publish_artifact, tmp_path):
    url = f"s3://{moto.bucket}/mid-pull"
    registry = ModelRegistry(url, moto.options)
    small, big = artifact("fast-cnn", "1.0.0"), artifact("fast-cnn", "1.1.0", pad_bytes=BIG)
    publish_artifact(registry, small)
    cache = tmp_path / "cache"
    registry.pull("fast-cnn", "1.0.0", cache)  # a good cached copy the server can fall back to
    publish_artifact(registry, big)
    outcome: list[BaseException | str] = []

    def puller() -> None:
        try:
            registry.pull("fast-cnn", "latest", cache)
            outcome.append("pulled")
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=puller)
    thread.start()
    staging = cache / "fast-cnn"
    assert wait_until(
        lambda: any(p.stat().st_size > 0 for p in staging.glob(".tmp-*/model.onnx")) or not thread.is_alive()
    )
    moto.stop()
    thread.join(timeout=120)
    assert len(outcome) == 1
    model_file = cache / "fast-cnn" / "1.1.0" / "model.onnx"
    if outcome[0] == "pulled":
        assert sha256_file(model_file) == big.sha256  # finished before the stop: whole and verified
    else:
        assert isinstance(outcome[0], RegistryError), outcome[0]
        assert not model_file.exists()  # cache not poisoned
    assert not list(staging.glob(".tmp-*"))
    # Registry down: the server serves the last verified copy.
    fallback = load_from_cache(cache, "fast-cnn", "latest")
    assert fallback.sha256 == sha256_file(fallback.path)
    moto.start()
    pulled = registry.pull("fast-cnn", "latest", cache)
    assert pulled.version == Version(1, 1, 0) and sha256_file(pulled.path) == big.sha256
