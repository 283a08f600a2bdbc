"""The same registry cases on every backend: file://, s3:// (moto), az:// (Azurite), gs:// (gcp-storage-emulator)."""

from __future__ import annotations

import hashlib
import json

import pytest

from voiceflow_contract.errors import (
    ChecksumMismatchError,
    ModelNotFoundError,
    ValidationRequiredError,
    VersionExistsError,
    VersionNotFoundError,
)
from voiceflow_contract.registry import ModelRegistry, load_from_cache
from voiceflow_contract.semver import Version

V = Version.parse


def raw_fs(registry: ModelRegistry):
    return registry.storage.fs, registry.storage.root


def test_publish_list_resolve_show(registry, artifact, publish_artifact):
    first, second = artifact("fast-cnn", "1.0.0"), artifact("fast-cnn", "1.1.0")
    info = publish_artifact(registry, first)
    assert info.version == V("1.0.0") and info.pointers == ["latest"] and info.sha256 == first.sha256
    publish_artifact(registry, second)
    publish_artifact(registry, artifact("sophisticated", "1.0.0"))

    assert registry.list_models() == ["fast-cnn", "sophisticated"]
    assert registry.list_versions("fast-cnn") == [V("1.0.0"), V("1.1.0")]
    assert registry.resolve("fast-cnn") == V("1.1.0")
    assert registry.resolve("fast-cnn", "v1.0.0") == V("1.0.0")
    assert registry.resolve("fast-cnn", "1.0.0") == V("1.0.0")

    shown = registry.show("fast-cnn", "1.0.0")
    assert shown.sha256 == first.sha256 and shown.pointers == []
    assert shown.metadata == first.metadata and shown.report.passed
    assert registry.show("fast-cnn").pointers == ["latest"]

    # The seed's layout, with checksum.sha256 in `sha256sum` format.
    fs, root = raw_fs(registry)
    folder = f"{root}/fast-cnn/v1.1.0"
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False))
    assert names == ["checksum.sha256", "metadata.json", "model.onnx", "validation_report.json"]
    assert fs.cat_file(f"{folder}/checksum.sha256").decode() == f"{second.sha256}  model.onnx\n"
    assert fs.cat_file(f"{folder}/model.onnx") == second.model_path.read_bytes()

    manifest = registry.manifest()
    entry = manifest.models["fast-cnn"]
    assert [v.version for v in entry.versions] == ["1.0.0", "1.1.0"]
    assert entry.versions[1].sha256 == second.sha256
    assert entry.pointers == {"latest": "1.1.0"}
    assert [(m.from_version, m.to_version, m.action) for m in entry.history] == [
        (None, "1.0.0", "publish"),
        ("1.0.0", "1.1.0", "publish"),
    ]
    assert set(manifest.models) == {"fast-cnn", "sophisticated"}
    # The manifest on storage is valid JSON matching the schema.
    assert json.loads(fs.cat_file(f"{root}/manifest.json"))["models"]["fast-cnn"]["pointers"] == {"latest": "1.1.0"}


def test_pull_verifies_checksum_and_reuses_cache(registry, artifact, publish_artifact, tmp_path):
    art = artifact("fast-cnn", "1.0.0")
    publish_artifact(registry, art)
    cache = tmp_path / "cache"
    pulled = registry.pull("fast-cnn", "latest", cache)
    assert pulled.path == cache / "fast-cnn" / "1.0.0" / "model.onnx"
    assert hashlib.sha256(pulled.path.read_bytes()).hexdigest() == art.sha256 == pulled.sha256
    assert not pulled.from_cache and pulled.version == V("1.0.0")
    assert (pulled.path.parent / "metadata.json").is_file() and (
        pulled.path.parent / "validation_report.json"
    ).is_file()
    mtime = pulled.path.stat().st_mtime_ns

    again = registry.pull("fast-cnn", "v1.0.0", cache)
    assert again.from_cache and again.path.stat().st_mtime_ns == mtime  # reused, not downloaded again
    offline = load_from_cache(cache, "fast-cnn")
    assert offline.version == V("1.0.0") and offline.sha256 == art.sha256
    assert not [p for p in (cache / "fast-cnn").iterdir() if p.name.startswith(".tmp")]


def test_alias_promote_and_rollback(registry, artifact, publish_artifact):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        publish_artifact(registry, artifact("fast-cnn", version))
    assert registry.promote("fast-cnn", "1.1.0", "stable") == V("1.1.0")
    assert registry.resolve("fast-cnn", "stable") == V("1.1.0")
    assert registry.pointers("fast-cnn") == {"latest": V("1.2.0"), "stable": V("1.1.0")}
    assert registry.show("fast-cnn", "stable").pointers == ["stable"]

    history_before = registry.manifest().models["fast-cnn"].history
    assert registry.rollback("fast-cnn") == V("1.1.0")
    assert registry.resolve("fast-cnn") == V("1.1.0")
    assert registry.rollback("fast-cnn", "latest") == V("1.0.0")
    with pytest.raises(VersionNotFoundError, match="no previous version"):
        registry.rollback("fast-cnn")
    assert registry.resolve("fast-cnn") == V("1.0.0")

    history = registry.manifest().models["fast-cnn"].history
    assert history[: len(history_before)] == history_before  # append-only
    assert [(m.pointer, m.action, m.to_version) for m in history[len(history_before) :]] == [
        ("latest", "rollback", "1.1.0"),
        ("latest", "rollback", "1.0.0"),
    ]
    # Promoting an alias to a version that does not exist is refused and moves nothing.
    with pytest.raises(VersionNotFoundError):
        registry.promote("fast-cnn", "9.9.9", "stable")
    assert registry.resolve("fast-cnn", "stable") == V("1.1.0")


def test_refuses_overwrite(registry, artifact, publish_artifact):
    original = artifact("fast-cnn", "1.0.0")
    publish_artifact(registry, original)
    with pytest.raises(VersionExistsError, match="already published"):
        publish_artifact(registry, artifact("fast-cnn", "1.0.0"))
    assert registry.show("fast-cnn", "1.0.0").sha256 == original.sha256
    assert len(registry.manifest().models["fast-cnn"].history) == 1


def test_refuses_unvalidated(registry, artifact, publish_artifact):
    failed = artifact("fast-cnn", "1.0.0", input_len=16000)  # breaks the contract: the validator fails it
    assert not failed.report.passed
    with pytest.raises(ValidationRequiredError, match="validation failed"):
        publish_artifact(registry, failed)

    good, other = artifact("fast-cnn", "1.0.0"), artifact("fast-cnn", "1.0.0")
    good.report = other.report  # a passing report, but for different bytes
    with pytest.raises(ValidationRequiredError, match="another file"):
        publish_artifact(registry, good)

    lying = artifact("fast-cnn", "1.0.0")
    lying.metadata = other.metadata.model_copy(update={"version": "1.0.0"})  # metadata of another file
    with pytest.raises(ChecksumMismatchError, match="does not describe"):
        publish_artifact(registry, lying)

    with pytest.raises(ModelNotFoundError):
        registry.list_versions("fast-cnn")
    assert registry.list_models() == []


def test_tampered_model_detected_at_pull(registry, artifact, publish_artifact, tmp_path):
    publish_artifact(registry, artifact("fast-cnn", "1.0.0"))
    fs, root = raw_fs(registry)
    path = f"{root}/fast-cnn/v1.0.0/model.onnx"
    data = bytearray(fs.cat_file(path))
    data[-1] ^= 0xFF
    fs.pipe_file(path, bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError, match="cache untouched"):
        registry.pull("fast-cnn", "latest", cache)
    # Nothing left behind: no model file, no temp folder.
    leftovers = [p for p in cache.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers
    with pytest.raises(ModelNotFoundError):
        load_from_cache(cache, "fast-cnn")


def test_tampered_checksum_detected_at_pull(registry, artifact, publish_artifact, tmp_path):
    art = artifact("fast-cnn", "1.0.0")
    publish_artifact(registry, art)
    fs, root = raw_fs(registry)
    folder = f"{root}/fast-cnn/v1.0.0"
    # An attacker replaces model.onnx AND checksum.sha256 consistently; metadata.json still names the real bytes.
    evil = b"not an onnx model"
    fs.pipe_file(f"{folder}/model.onnx", evil)
    fs.pipe_file(f"{folder}/checksum.sha256", f"{hashlib.sha256(evil).hexdigest()}  model.onnx\n".encode())
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError, match="altered"):
        registry.pull("fast-cnn", "1.0.0", cache)
    # A malformed checksum file is a clear error too.
    fs.pipe_file(f"{folder}/checksum.sha256", b"garbage\n")
    with pytest.raises(ChecksumMismatchError, match="malformed"):
        registry.pull("fast-cnn", "1.0.0", cache)
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_unknown_model_version_and_alias(registry, artifact, publish_artifact):
    with pytest.raises(ModelNotFoundError, match="'nope' not found"):
        registry.resolve("nope")
    publish_artifact(registry, artifact("fast-cnn", "1.0.0"))
    with pytest.raises(ModelNotFoundError, match="models: fast-cnn"):
        registry.show("nope", "latest")
    with pytest.raises(VersionNotFoundError, match=r"no version 9\.9\.9 \(versions: 1\.0\.0\)"):
        registry.resolve("fast-cnn", "9.9.9")
    with pytest.raises(VersionNotFoundError, match="no pointer 'stable'"):
        registry.resolve("fast-cnn", "stable")


def test_half_published_version_is_invisible_and_resumable(target, artifact, publish_artifact):
    registry = target.open(reservation_stale_after=0.0)
    publish_artifact(registry, artifact("fast-cnn", "1.0.0"))
    crashed = artifact("fast-cnn", "1.1.0")
    # A publisher that died after uploading the payload but before the commit marker.
    storage = registry.storage
    storage.put_file(crashed.model_path, "fast-cnn/v1.1.0/model.onnx")
    storage.write_bytes("fast-cnn/v1.1.0/metadata.json", crashed.metadata.to_json().encode())
    storage.write_bytes("fast-cnn/v1.1.0/.publishing", b'{"token": "dead", "created": 0, "actor": "crashed"}')
    assert registry.list_versions("fast-cnn") == [V("1.0.0")]
    assert registry.resolve("fast-cnn") == V("1.0.0")
    with pytest.raises(VersionNotFoundError):
        registry.resolve("fast-cnn", "1.1.0")
    # The abandoned reservation is stale, so publishing the version again completes it.
    info = publish_artifact(registry, crashed)
    assert info.version == V("1.1.0") and registry.resolve("fast-cnn") == V("1.1.0")
    assert not storage.exists("fast-cnn/v1.1.0/.publishing")
