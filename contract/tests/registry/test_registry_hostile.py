"""Issue 12, registry side: a hostile registry root cannot make a pull copy without bound (finding 3), read outside
the root through a symlink (finding 3), or put its files' contents into error messages (finding 6)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voiceflow_contract.errors import RegistryError
from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.registry.storage import CHUNK_SIZE, Storage

SECRET = "AKIA-THIS-IS-A-SECRET-0123456789-do-not-echo"
RUNAWAY_BYTES = 64 * 2**20  # a pull that reads more than this from a 16 KB model has no bound


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the bytes each pull streams; stop a runaway copy (the unfixed code) at RUNAWAY_BYTES."""
    counts: dict[str, int] = {"bytes": 0}
    original = Storage.iter_chunks

    def counting(self: Storage, rel: str, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        for chunk in original(self, rel, *args, **kwargs):
            counts["bytes"] += len(chunk)
            if counts["bytes"] > RUNAWAY_BYTES:
                raise AssertionError(f"pull read {counts['bytes']} bytes of {rel}: no bound")
            yield chunk

    monkeypatch.setattr(Storage, "iter_chunks", counting)
    return counts


def _published(tmp_path: Path, artifact: Any, publish_artifact: Any) -> tuple[ModelRegistry, Path, int]:
    registry = ModelRegistry((tmp_path / "registry").as_uri())
    art = artifact("fast-cnn", "1.0.0")
    publish_artifact(registry, art)
    return registry, tmp_path / "registry" / "fast-cnn" / "v1.0.0", art.model_path.stat().st_size


def _no_partial_copy(cache: Path) -> None:
    leftovers = [p for p in cache.rglob("*") if p.is_file() and p.name == "model.onnx"] if cache.exists() else []
    assert leftovers == []
    assert not any(p.name.startswith(".tmp-") for p in cache.rglob("*")) if cache.exists() else True


def test_pull_of_a_model_linked_to_dev_zero_refused_without_reading(
    tmp_path: Path, artifact: Any, publish_artifact: Any, counted_reads: dict[str, int]
) -> None:
    """Finding 3: model.onnx -> /dev/zero made `pull` write 6.9 GB in 30 s (metadata says 16 KB)."""
    registry, folder, _ = _published(tmp_path, artifact, publish_artifact)
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").symlink_to("/dev/zero")
    with pytest.raises(RegistryError) as caught:
        registry.pull("fast-cnn", "1.0.0", tmp_path / "cache")
    assert caught.value.reason == "outside_registry"
    assert counted_reads["bytes"] == 0
    _no_partial_copy(tmp_path / "cache")


def test_pull_never_follows_a_symlink_out_of_the_root(
    tmp_path: Path, artifact: Any, publish_artifact: Any, counted_reads: dict[str, int]
) -> None:
    """A model.onnx linked to a file outside the root is refused, even when it is a real ONNX model."""
    registry, folder, _ = _published(tmp_path, artifact, publish_artifact)
    outside = tmp_path / "outside.onnx"
    os.replace(folder / "model.onnx", outside)
    (folder / "model.onnx").symlink_to(outside)
    with pytest.raises(RegistryError) as caught:
        registry.pull("fast-cnn", "1.0.0", tmp_path / "cache")
    assert caught.value.reason == "outside_registry"
    assert counted_reads["bytes"] == 0
    # A link that stays inside the root is fine (nothing is read from outside it).
    inside = folder / "real-model.onnx"
    os.replace(outside, inside)
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").symlink_to(inside)
    assert registry.pull("fast-cnn", "1.0.0", tmp_path / "cache").sha256


@pytest.mark.parametrize("target", ["file", "s3"], indirect=True)
def test_pull_stops_reading_past_the_recorded_size(
    target: Any,
    tmp_path: Path,
    artifact: Any,
    publish_artifact: Any,
    counted_reads: dict[str, int],
) -> None:
    """Finding 3: the size was compared only after the whole download; now reading stops at the recorded size."""
    registry = target.open()
    art = artifact("fast-cnn", "1.0.0")
    publish_artifact(registry, art)
    recorded = art.model_path.stat().st_size
    fs, root = registry.storage.fs, registry.storage.root
    fs.pipe_file(f"{root}/fast-cnn/v1.0.0/model.onnx", art.model_path.read_bytes() + bytes(RUNAWAY_BYTES))
    with pytest.raises(RegistryError) as caught:
        target.open().pull("fast-cnn", "1.0.0", tmp_path / "cache")
    assert caught.value.reason == "size_exceeded"
    assert counted_reads["bytes"] <= recorded + CHUNK_SIZE
    _no_partial_copy(tmp_path / "cache")


def test_pull_refuses_a_recorded_size_over_the_profile_budget(
    tmp_path: Path, artifact: Any, publish_artifact: Any, counted_reads: dict[str, int]
) -> None:
    """metadata.json cannot raise the bound: a recorded size over the profile's model_size_mb is not downloaded."""
    registry, folder, _ = _published(tmp_path, artifact, publish_artifact)
    meta = folder / "metadata.json"
    data = json.loads(meta.read_text(encoding="utf-8"))
    data["file"]["size_bytes"] = 10**12
    meta.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        registry.pull("fast-cnn", "1.0.0", tmp_path / "cache")
    assert caught.value.reason == "size_exceeded"
    assert counted_reads["bytes"] == 0


def _secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET + "\n" + SECRET + "\n", encoding="utf-8")
    return path


HOSTILE_SIDECARS = {
    # name: (file in the version folder or model folder, how it is replaced)
    "checksum_link_to_secret": ("v1.0.0/checksum.sha256", "link"),
    "checksum_is_secret": ("v1.0.0/checksum.sha256", SECRET),
    "checksum_is_binary": ("v1.0.0/checksum.sha256", b"\xff\xfe" + SECRET.encode()),
    "metadata_link_to_secret": ("v1.0.0/metadata.json", "link"),
    "metadata_is_secret": ("v1.0.0/metadata.json", SECRET),
    "metadata_field_is_secret": ("v1.0.0/metadata.json", '{"profile": "' + SECRET + '", "file": 7}'),
    "report_is_secret": ("v1.0.0/validation_report.json", '{"model_sha256": "' + SECRET + '"}'),
    "latest_pointer_is_secret": ("latest", '{"version": "' + SECRET + '"}'),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SIDECARS))
def test_registry_errors_never_echo_file_contents(
    case: str, tmp_path: Path, artifact: Any, publish_artifact: Any
) -> None:
    """Finding 6: checksum.sha256 linked to a secret put its first 120 characters into the error (and /ready)."""
    _, folder, _ = _published(tmp_path, artifact, publish_artifact)
    rel, replacement = HOSTILE_SIDECARS[case]
    path = folder.parent / rel
    path.unlink()
    if replacement == "link":
        path.symlink_to(_secret_file(tmp_path))
    elif isinstance(replacement, bytes):
        path.write_bytes(replacement)
    else:
        path.write_text(replacement, encoding="utf-8")
    fresh = ModelRegistry((tmp_path / "registry").as_uri())
    for attempt in (
        lambda: fresh.pull("fast-cnn", "latest", tmp_path / "cache"),
        lambda: fresh.show("fast-cnn", "latest"),
    ):
        with pytest.raises(RegistryError) as caught:
            attempt()
        error = caught.value
        text = f"{error} {error!r} {error.reason}"
        assert SECRET not in text and SECRET[:12] not in text, text
        assert error.reason and error.reason.replace("_", "").isalpha()
