"""Issue 12, serving side: hostile candidate models never take the serving process (or its model) down.

- Finding 1: a contract-valid model that allocates gigabytes at run time (``ConstantOfShape(Shape(audio) * [1, K])``)
  is refused by a validator running in a memory-capped child process, while the old model keeps serving; at start-up a
  refused ``latest`` falls back to the newest valid version (verified cache, else the registry), degraded, and the
  refused file does not stay in the cache.
- Finding 2: a model whose metadata the streaming clusterer cannot use is refused by the load-time stream check.
- Finding 8: leftover ``.snapshot.*`` / ``.tmp-*`` files are removed at start, and the cache keeps ``keep_versions``.
Real validator, real registry (file://), real ONNX Runtime.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.schemas import DiarizationCalibration
from voiceflow_contract.spec import WINDOW_SAMPLES
from voiceflow_contract.testing import build_contract_model, contract_metadata, publish_model_file
from voiceflow_contract.validator import validate_model_contract
from voiceflow_inference.config import load_settings
from voiceflow_inference.lifecycle.errors import ModelRejectedError, ReloadError
from voiceflow_inference.lifecycle.loader import load_model
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.lifecycle.verified_cache import CacheIndex
from voiceflow_inference.metrics import ServiceMetrics

pytestmark = pytest.mark.timeout(300)

NAME = "fast-cnn"
BOMB_K = 1000  # batch-8 probe: 8 x 48000 x 1000 float32 = 1.5 GB, far over the 1024 MiB cap used here
CAP_MB = 1024
ISOLATED = True


def write_bomb_model(path: Path, k: int = BOMB_K) -> Path:
    """A contract-valid model whose output adds sum(zeros(B, WINDOW_SAMPLES * k)) (= 0): the allocation is sized at
    run time from the input's shape, invisible to the declared-dimension check and not constant-folded."""
    good = build_contract_model(path.with_name("base.onnx"), num_speakers=2, seed=5)
    model = onnx.load(str(good))
    graph = model.graph
    out = next(o for o in graph.output if o.name == "speaker_embeddings")
    producer = next(n for n in graph.node if "speaker_embeddings" in n.output)
    producer.output[list(producer.output).index("speaker_embeddings")] = "probs_raw"
    graph.initializer.append(numpy_helper.from_array(np.array([1, k], dtype=np.int64), "bomb_k"))
    graph.node.extend(
        [
            helper.make_node("Shape", ["audio"], ["bomb_shape_in"]),
            helper.make_node("Mul", ["bomb_shape_in", "bomb_k"], ["bomb_shape"]),
            helper.make_node(
                "ConstantOfShape",
                ["bomb_shape"],
                ["bomb"],
                value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]),
            ),
            helper.make_node("ReduceSum", ["bomb"], ["bomb_sum"], keepdims=0),
            helper.make_node("Add", ["probs_raw", "bomb_sum"], [out.name]),
        ]
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_manager(work: Path, **overrides: Any) -> ModelManager:
    values: dict[str, Any] = {
        "registry_url": (work / "registry").as_uri(),
        "cache_dir": work / "cache",
        "watch_dir": None,
        "poll_interval_s": 0,
        "warmup_runs": 1,
        **({"limits": {"validation_memory_mb": CAP_MB}} if ISOLATED else {}),
    }
    values.update(overrides)
    return ModelManager(load_settings("development", **values), ServiceMetrics())


@pytest.fixture(scope="module")
def bomb_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fast-cnn 1.0.0 (valid) and 1.1.0 (the memory bomb, published from a 'bigger machine'), latest -> 1.1.0."""
    root = tmp_path_factory.mktemp("bomb") / "registry"
    build = root.parent / "build"
    build.mkdir()
    registry = ModelRegistry(root.as_uri())
    good = build_contract_model(build / "good.onnx", num_speakers=2, seed=1)
    publish_model_file(registry, NAME, "1.0.0", good, num_speakers=2)
    bomb = write_bomb_model(build / "bomb.onnx")
    # Today's validator refuses the bomb (runtime.memory), so it reaches the registry the way it would from an older
    # validator: a passing report, re-addressed to the bomb's bytes. The server must still refuse it at load.
    passing = validate_model_contract(good, num_speakers=2, measure_latency=False)
    forged = passing.model_copy(update={"model_sha256": sha256_file(bomb)})
    metadata = contract_metadata(bomb, NAME, "1.1.0", num_speakers=2, embedding_dim=8)
    registry.publish(NAME, "1.1.0", bomb, metadata, forged, aliases=("latest",))
    return root


def _copy_registry(src: Path, work: Path) -> None:
    shutil.copytree(src, work / "registry")


# ------------------------------------------------------------------------------------ finding 1: the memory bomb
def test_memory_bomb_is_refused_and_the_old_model_keeps_serving(tmp_path: Path, model_builder: Callable[..., Path]):
    watch = tmp_path / "watch"
    watch.mkdir()
    model_builder(watch / "model.onnx", num_speakers=2, seed=3)
    (tmp_path / "registry").mkdir()
    manager = make_manager(tmp_path, watch_dir=watch)

    async def scenario() -> tuple[str, str]:
        await manager.start(background=False)
        serving = manager.active
        assert serving is not None
        write_bomb_model(tmp_path / "bomb.onnx").replace(watch / "model.onnx")
        with pytest.raises(ReloadError) as info:
            await manager.reload("watch", path=watch / "model.onnx")
        active = manager.active
        assert active is not None and active.sha256 == serving.sha256
        return str(info.value), active.version

    message, _ = asyncio.run(scenario())
    assert "memory" in message.lower() or "alloc" in message.lower(), message
    assert not list((tmp_path / "cache").rglob(".snapshot.*"))


def test_startup_with_a_fresh_cache_serves_the_newest_valid_registry_version(bomb_registry: Path, tmp_path: Path):
    """Issue 16 item 8, fresh cache: latest (1.1.0) is refused; 1.0.0 serves, degraded, and /ready says why."""
    _copy_registry(bomb_registry, tmp_path)
    manager = make_manager(tmp_path)
    asyncio.run(manager.start(background=False))
    status = manager.status()
    assert status["ready"] is True and status["version"] == "1.0.0", status
    assert status["degraded"] is True
    assert any("1.1.0" in r and "1.0.0" in r for r in status["reasons"]), status["reasons"]
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and "1.1.0" in str(p)]
    assert leftovers == [], leftovers


def test_startup_with_a_warm_cache_serves_the_cached_version(bomb_registry: Path, tmp_path: Path):
    """Issue 16 item 8, warm cache: 1.0.0 served before (latest was 1.0.0); now latest -> 1.1.0 is refused."""
    _copy_registry(bomb_registry, tmp_path)
    registry = ModelRegistry((tmp_path / "registry").as_uri())
    registry.promote(NAME, "1.0.0")
    first = make_manager(tmp_path)
    asyncio.run(first.start(background=False))
    assert first.status()["version"] == "1.0.0"
    registry.promote(NAME, "1.1.0")
    second = make_manager(tmp_path)
    asyncio.run(second.start(background=False))
    status = second.status()
    assert status["ready"] is True and status["version"] == "1.0.0" and status["source"] == "cache", status
    assert status["degraded"] is True
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and "1.1.0" in str(p)]
    assert leftovers == [], leftovers


# ------------------------------------------------------------------------------------ finding 2: stream check
def test_metadata_the_clusterer_cannot_use_is_refused_at_load(tmp_path: Path, model_builder: Callable[..., Path]):
    """A threshold outside [-1, 1] (written past the schema, as a hand-made metadata.json from an older schema
    would be) passes /infer-style probes but breaks every stream: the load's stream check refuses it."""
    path = model_builder(tmp_path / "model.onnx", num_speakers=2, seed=4)
    metadata = contract_metadata(path, NAME, "1.0.0", num_speakers=2, embedding_dim=8)
    bad = DiarizationCalibration.model_construct(
        **{**DiarizationCalibration().model_dump(), "vector": "embedding", "threshold": 1.5}
    )
    metadata = metadata.model_copy(update={"diarization": bad})
    settings = load_settings("development", warmup_runs=1, watch_dir=None, poll_interval_s=0)
    with pytest.raises(ModelRejectedError) as info:
        load_model(path, settings, name=NAME, version="1.0.0", source="registry", metadata=metadata)
    assert str(info.value.reason) == "stream_check" and "threshold" in str(info.value), info.value
    # the same model with usable metadata loads and streams
    good = metadata.model_copy(update={"diarization": DiarizationCalibration(vector="embedding", threshold=0.5)})
    loaded = load_model(path, settings, name=NAME, version="1.0.0", source="registry", metadata=good)
    assert loaded.engine.run(np.zeros((1, WINDOW_SAMPLES), dtype=np.float32))


# ------------------------------------------------------------------------------------ finding 8: temp files, cache
def _age(path: Path, seconds: float = 3600.0) -> None:
    import os
    import time

    then = time.time() - seconds
    os.utime(path, (then, then))


def test_leftover_temp_files_are_removed_at_start(tmp_path: Path, model_builder: Callable[..., Path]):
    """What a SIGTERM during a watch snapshot (``.snapshot.*``) or a killed pull (``.tmp-*`` folder and file) leaves
    behind is removed when the server starts; a fresh temp file (another writer's, in progress) is left alone."""
    watch = tmp_path / "watch"
    watch.mkdir()
    model_builder(watch / "model.onnx", num_speakers=2, seed=3)
    (tmp_path / "registry").mkdir()
    cache = tmp_path / "cache"
    snap_dir = cache / ".voiceflow-inference" / "watch"
    snap_dir.mkdir(parents=True)
    stale = [
        snap_dir / ".snapshot.abc123.onnx",
        cache / NAME / ".tmp-0123abcd",
        cache / NAME / "v1.0.0" / ".model.onnx.tmp-99",
    ]
    stale[0].write_bytes(b"\0" * 4096)
    stale[1].mkdir(parents=True)
    (stale[1] / "model.onnx").write_bytes(b"\0" * 4096)
    stale[2].parent.mkdir(parents=True)
    stale[2].write_bytes(b"\0" * 4096)
    for path in stale:
        _age(path)
    fresh = snap_dir / ".snapshot.inprogress.onnx"
    fresh.write_bytes(b"\0")
    manager = make_manager(tmp_path, watch_dir=watch)
    asyncio.run(manager.start(background=False))
    assert manager.ready
    assert [p for p in stale if p.exists()] == []
    assert fresh.exists()


def test_cache_on_disk_is_bounded_by_keep_versions(tmp_path: Path, model_builder: Callable[..., Path]):
    """Four registry versions loaded one after another with keep_versions=2: at most 2 version folders (and index
    entries) stay in the cache, always including the active one."""
    registry = ModelRegistry((tmp_path / "registry").as_uri())
    versions = ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]
    for seed, version in enumerate(versions, start=20):
        path = model_builder(tmp_path / "build" / f"{version}.onnx", num_speakers=2, seed=seed)
        publish_model_file(registry, NAME, version, path, num_speakers=2, aliases=())
    manager = make_manager(tmp_path, keep_versions=2, model_ref="1.0.0")

    async def scenario() -> None:
        await manager.start(background=False)
        for version in versions[1:]:
            await manager.reload("admin", version=version)

    asyncio.run(scenario())
    folders = sorted(p.name for p in (tmp_path / "cache" / NAME).iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(folders) <= 2 and any("1.3.0" in f for f in folders), folders
    index = CacheIndex(tmp_path / "cache", NAME)
    assert [e.version for e in index.entries()] == ["1.3.0", "1.2.0"]


# ------------------------------------------------------------------------------------ finding 1: data-triggered
def write_triggered_bomb(path: Path, floats: int = 500_000_000) -> Path:
    """Allocates ``floats`` float32 (2 GB) only when ``audio[0, 0] == 0.123``: every validator probe passes."""
    good = build_contract_model(path.with_name("base-trigger.onnx"), num_speakers=2, seed=6)
    model = onnx.load(str(good))
    graph = model.graph
    out = next(o for o in graph.output if o.name == "speaker_embeddings")
    producer = next(n for n in graph.node if "speaker_embeddings" in n.output)
    producer.output[list(producer.output).index("speaker_embeddings")] = "probs_raw"
    consts = {
        "t_start": np.array([0, 0], dtype=np.int64),
        "t_end": np.array([1, 1], dtype=np.int64),
        "t_magic": np.array(0.123, dtype=np.float32),
        "t_one_shape": np.array([1], dtype=np.int64),
        "t_n": np.array([floats], dtype=np.int64),
        "t_one": np.array([1], dtype=np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    graph.node.extend(
        [
            helper.make_node("Slice", ["audio", "t_start", "t_end"], ["t_first"]),
            helper.make_node("Equal", ["t_first", "t_magic"], ["t_hit"]),
            helper.make_node("Cast", ["t_hit"], ["t_hit_i"], to=TensorProto.INT64),
            helper.make_node("Reshape", ["t_hit_i", "t_one_shape"], ["t_hit_1"]),
            helper.make_node("Mul", ["t_hit_1", "t_n"], ["t_len0"]),
            helper.make_node("Add", ["t_len0", "t_one"], ["t_len"]),
            helper.make_node(
                "ConstantOfShape", ["t_len"], ["t_big"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])
            ),
            helper.make_node("ReduceSum", ["t_big"], ["t_sum"], keepdims=0),
            helper.make_node("Add", ["probs_raw", "t_sum"], [out.name]),
        ]
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


TRIGGER_SCRIPT = """
import sys, numpy as np
from pathlib import Path
from voiceflow_inference.config import load_settings
from voiceflow_inference.lifecycle.loader import load_model
settings = load_settings("development", warmup_runs=1, watch_dir=None, poll_interval_s=0, ort={"arena_max_mb": 256})
model = load_model(Path(sys.argv[1]), settings, name="fast-cnn", version="1.0.0", source="watch")
crafted = np.zeros((1, 48000), dtype=np.float32)
crafted[0, 0] = 0.123
try:
    model.engine.run(crafted)
    print("CRAFTED RAN")
except Exception as exc:
    print("CRAFTED REFUSED:", str(exc)[-200:])
print("NORMAL", model.engine.run(np.zeros((1, 48000), dtype=np.float32))["speaker_embeddings"].shape)
# VmHWM: this process's own peak (ru_maxrss would carry the forking pytest process's peak across exec)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("MAXRSS_MB", int(hwm.split()[1]) // 1024)
"""


def test_data_triggered_allocation_fails_the_request_not_the_process(tmp_path: Path):
    """The crafted input fails with ONNX Runtime's allocation error under the capped arena; the next request works
    and the process never held the 2 GB (run in a child so the process-wide arena starts fresh)."""
    import subprocess
    import sys

    path = write_triggered_bomb(tmp_path / "trigger.onnx")
    proc = subprocess.run(
        [sys.executable, "-c", TRIGGER_SCRIPT, str(path)], capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "CRAFTED REFUSED" in proc.stdout and "memory" in proc.stdout.lower(), proc.stdout
    assert "NORMAL (1, 2)" in proc.stdout
    rss = int(proc.stdout.split("MAXRSS_MB")[1])
    assert rss < 1500, proc.stdout
