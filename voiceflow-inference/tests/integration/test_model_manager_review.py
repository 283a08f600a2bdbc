"""ModelManager review fixes: eviction during A/B and pin, poll retries, /ready vs. served version, a poller that
survives surprises, reload counting and watch snapshots. Real tiny ONNX models in a real file:// registry."""

from __future__ import annotations

import asyncio
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voiceflow_contract.registry import ModelRegistry
from voiceflow_inference.config import load_settings
from voiceflow_inference.lifecycle.errors import ReloadError
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.metrics import ServiceMetrics

NAME = "fast-cnn"


@pytest.fixture(scope="module")
def four_versions(tmp_path_factory: pytest.TempPathFactory, publisher: Callable[..., Path]) -> Path:
    """A file:// registry root with fast-cnn 1.0.0 (latest) and 1.1.0, 1.2.0, 1.3.0 (not promoted)."""
    root = tmp_path_factory.mktemp("review-registry") / "registry"
    build = root.parent / "build"
    registry = ModelRegistry(root.as_uri())
    publisher(registry, build, NAME, "1.0.0", seed=1)
    for seed, version in enumerate(("1.1.0", "1.2.0", "1.3.0"), start=2):
        publisher(registry, build, NAME, version, seed=seed, aliases=())
    return root


@pytest.fixture
def registry_root(four_versions: Path, tmp_path: Path) -> Path:
    """A private copy of the registry (tests promote versions in it)."""
    return Path(shutil.copytree(four_versions, tmp_path / "registry"))


def make_manager(root: Path, work: Path, *, registry: Any | None = None, **overrides: Any) -> ModelManager:
    values: dict[str, Any] = {
        "registry_url": root.as_uri(),
        "cache_dir": work / "cache",
        "watch_dir": None,
        "poll_interval_s": 0,
        "warmup_runs": 1,
    }
    values.update(overrides)
    return ModelManager(load_settings("development", **values), ServiceMetrics(), registry=registry)


def reloads(manager: ModelManager, result: str, trigger: str) -> float:
    value = manager.metrics.registry.get_sample_value(
        "voiceflow_model_reloads_total", {"model": NAME, "result": result, "trigger": trigger}
    )
    return value or 0.0


def loaded_versions(manager: ModelManager) -> set[str]:
    return {m.version for m in manager.loaded()}


# ------------------------------------------------------------------------------------------ 1: eviction
async def test_ab_split_serves_every_arm_even_when_loading_evicts(registry_root: Path, tmp_path: Path) -> None:
    manager = make_manager(registry_root, tmp_path, keep_versions=3)
    await manager.start(background=False)
    await manager.set_ab({"1.0.0": 0.5, "1.1.0": 0.5})
    # Loading 1.3.0 used to evict the just-loaded 1.2.0 (the keep-set was still the old split).
    await manager.set_ab({"1.2.0": 0.5, "1.3.0": 0.5})
    assert manager.ab_weights == {"1.2.0": 0.5, "1.3.0": 0.5}
    assert loaded_versions(manager) == {"1.0.0", "1.2.0", "1.3.0"}  # evicted once, back to keep_versions
    keys = [f"session-{i}" for i in range(200)]
    arms = [manager.acquire(key).version for key in keys]
    # Both arms serve, near half each (4 standard errors of a fair 50/50 split), and each key keeps its arm.
    assert set(arms) == {"1.2.0", "1.3.0"}
    assert abs(arms.count("1.2.0") / len(keys) - 0.5) <= 4 * math.sqrt(0.25 / len(keys)), arms
    assert [manager.acquire(key).version for key in keys] == arms


async def test_ab_split_needing_more_versions_than_kept_is_refused(registry_root: Path, tmp_path: Path) -> None:
    manager = make_manager(registry_root, tmp_path, keep_versions=2)
    await manager.start(background=False)
    with pytest.raises(ReloadError, match="keep_versions") as refused:
        await manager.set_ab({"1.1.0": 0.5, "1.2.0": 0.5})  # + the active 1.0.0 = 3 versions
    assert refused.value.reason == "ab_invalid"
    assert manager.ab_weights == {}
    assert {manager.acquire(f"k{i}").version for i in range(20)} == {"1.0.0"}
    assert manager.status()["version"] == "1.0.0"


async def test_pin_and_rollback_to_unloaded_versions_load_once_and_count_once(
    registry_root: Path, tmp_path: Path
) -> None:
    manager = make_manager(registry_root, tmp_path, keep_versions=1)
    await manager.start(background=False)
    pinned = await manager.pin("1.2.0")  # used to raise VersionNotLoadedError: 1.2.0 was evicted on load
    assert pinned is not None and pinned.version == "1.2.0"
    assert manager.pinned == "1.2.0" and manager.acquire().version == "1.2.0"
    assert loaded_versions(manager) == {"1.2.0"}
    assert reloads(manager, "success", "admin") == 1  # used to be 2 (reload + switch)
    back = await manager.rollback("1.0.0")
    assert back.version == "1.0.0" and manager.acquire().version == "1.0.0"
    assert loaded_versions(manager) == {"1.0.0"}
    assert reloads(manager, "success", "admin") == 2
    with pytest.raises(ReloadError, match="no previous version"):
        await manager.rollback()  # keep_versions=1: nothing else is loaded, nothing is counted
    assert reloads(manager, "success", "admin") == 2


async def test_rollback_to_a_loaded_version_counts_once(registry_root: Path, tmp_path: Path) -> None:
    manager = make_manager(registry_root, tmp_path)
    await manager.start(background=False)
    await manager.reload("admin", version="1.1.0")
    before = reloads(manager, "success", "admin")
    await manager.rollback()
    assert manager.acquire().version == "1.0.0"
    assert reloads(manager, "success", "admin") == before + 1


# ------------------------------------------------------------------------------------------ 2: poll retries
async def test_poll_retries_a_version_after_a_transient_failure(registry_root: Path, tmp_path: Path) -> None:
    manager = make_manager(registry_root, tmp_path)
    await manager.start(background=False)
    ModelRegistry(registry_root.as_uri()).promote(NAME, "1.1.0")
    # A local disk fault while pulling (a file where the cache folder must go): transient, not the model's fault.
    blocker = tmp_path / "cache" / NAME / "1.1.0"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    await manager.poll_once()
    assert manager.acquire().version == "1.0.0"
    assert reloads(manager, "failure", "poll") == 1
    blocker.unlink()
    await manager.poll_once()  # used to be skipped forever: 1.1.0 was remembered as "seen"
    assert manager.acquire().version == "1.1.0"
    assert reloads(manager, "success", "poll") == 1


async def test_poll_does_not_retry_a_version_refused_for_good(registry_root: Path, tmp_path: Path) -> None:
    manager = make_manager(registry_root, tmp_path)
    await manager.start(background=False)
    ModelRegistry(registry_root.as_uri()).promote(NAME, "1.1.0")
    stored = registry_root / NAME / "v1.1.0" / "model.onnx"
    stored.write_bytes(stored.read_bytes() + b"tampered")  # checksum mismatch: a lasting refusal
    await manager.poll_once()
    await manager.poll_once()
    assert manager.acquire().version == "1.0.0"
    assert reloads(manager, "failure", "poll") == 1


# ------------------------------------------------------------------------------------------ 3: /ready vs served
async def test_poll_during_an_ab_split_loads_standby(registry_root: Path, tmp_path: Path) -> None:
    manager = make_manager(registry_root, tmp_path, keep_versions=4)
    await manager.start(background=False)
    await manager.set_ab({"1.0.0": 0.5, "1.1.0": 0.5})
    ModelRegistry(registry_root.as_uri()).promote(NAME, "1.2.0")
    await manager.poll_once()
    status = manager.status()
    assert status["version"] == "1.0.0" and status["ab_weights"] == {"1.0.0": 0.5, "1.1.0": 0.5}
    assert {m["version"]: m["role"] for m in status["loaded"]}["1.2.0"] == "standby"
    assert {manager.acquire(f"k{i}").version for i in range(40)} == {"1.0.0", "1.1.0"}


async def test_admin_reload_clears_the_ab_split_and_the_pin(registry_root: Path, tmp_path: Path) -> None:
    manager = make_manager(registry_root, tmp_path, keep_versions=4)
    await manager.start(background=False)
    await manager.set_ab({"1.0.0": 0.5, "1.1.0": 0.5})
    await manager.reload("admin", version="1.2.0")
    status = manager.status()
    assert status["version"] == "1.2.0" and status["ab_weights"] == {}
    assert {manager.acquire(f"k{i}").version for i in range(40)} == {"1.2.0"}
    await manager.pin("1.1.0")
    await manager.reload("admin", version="1.3.0")
    assert manager.pinned is None and manager.status()["version"] == "1.3.0"
    assert manager.acquire().version == "1.3.0"


# ------------------------------------------------------------------------------------------ 4: poller survives
class FlakyRegistry(ModelRegistry):
    """The real file:// registry with fault injection: the next ``fail_next`` resolves raise an unexpected error.

    Nothing real raises anything but RegistryError/OSError here, so a bug elsewhere is simulated on purpose.
    """

    fail_next = 0

    def resolve(self, model: str, ref: Any = "latest") -> Any:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RuntimeError("injected: an unexpected bug")
        return super().resolve(model, ref)


async def test_poll_loop_survives_an_unexpected_error(registry_root: Path, tmp_path: Path) -> None:
    registry = FlakyRegistry(registry_root.as_uri())
    manager = make_manager(registry_root, tmp_path, registry=registry, poll_interval_s=0.05)
    await manager.start()
    try:
        registry.fail_next = 1
        registry.promote(NAME, "1.1.0")
        for _ in range(400):
            if manager.active is not None and manager.active.version == "1.1.0":
                break
            await asyncio.sleep(0.05)
        assert manager.active is not None and manager.active.version == "1.1.0"
        failures = manager.metrics.registry.get_sample_value(
            "voiceflow_registry_poll_failures_total", {"model": NAME, "reason": "error"}
        )
        assert failures == 1
    finally:
        await manager.stop()


# ------------------------------------------------------------------------------------------ #12: snapshots
async def test_watch_copy_of_the_active_registry_model_leaves_no_snapshot(registry_root: Path, tmp_path: Path) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    manager = make_manager(registry_root, tmp_path, watch_dir=watch)
    await manager.start(background=False)
    target = watch / "model.onnx"
    shutil.copyfile(registry_root / NAME / "v1.0.0" / "model.onnx", target)
    model = await manager.reload("watch", path=target)
    assert model is manager.active and model.source == "registry"
    assert list((tmp_path / "cache" / ".voiceflow-inference" / "watch").glob("*.onnx")) == []
