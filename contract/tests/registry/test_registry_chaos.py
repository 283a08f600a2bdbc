"""Registry chaos: what the registry promises when storage fails under it or its files are damaged.

Builds on test_registry_properties.py (fault-free random sequences), test_registry_faults.py (moto stopped mid-publish
and mid-pull) and test_registry_backends.py (tampered model.onnx / checksum.sha256 at pull). Added here:

* random publish / promote / rollback / pull sequences on moto S3 with **storage outages injected between and during
  steps** (slow): every operation attempted while the server is down fails with a RegistryError and changes nothing;
  afterwards pointers still name complete, checksum-valid versions, history only grows, no version is half-visible;
* the local cache under random damage (truncated or flipped model bytes, swapped or garbage sidecars, leftover temp
  folders): a pull never returns bytes that differ from the registry's, and the offline fallback never serves a
  copy that does not verify;
* tampered metadata.json / validation_report.json sha256 fields in the registry are refused at pull.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from voiceflow_contract.errors import (
    ChecksumMismatchError,
    ModelNotFoundError,
    RegistryError,
    VersionExistsError,
    VersionNotFoundError,
)
from voiceflow_contract.registry import ModelRegistry, load_from_cache
from voiceflow_contract.registry.layout import parse_checksum
from voiceflow_contract.schemas.metadata import ModelMetadata

MODEL = "fast-cnn"
VERSIONS = ["1.0.0", "1.1.0", "2.0.0"]
ALIASES = ["latest", "stable"]
NOT_FOUND = (ModelNotFoundError, VersionNotFoundError)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------- outages on moto S3
def make_outage_machine(
    moto: Any, arts: dict[str, Any], cache_root: Path, outages: list[str]
) -> type[RuleBasedStateMachine]:
    class OutageMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            if moto.server is None:
                moto.start()
            bucket = f"chaos-{uuid.uuid4().hex[:8]}"
            fsspec.filesystem("s3", skip_instance_cache=True, **moto.options).mkdir(bucket)
            self.url = f"s3://{bucket}/reg"
            self.registry = ModelRegistry(self.url, moto.options, reservation_stale_after=0.0)
            self.published: dict[str, str] = {}
            self.pointers: dict[str, str] = {}
            self.history = 0
            self.cache = cache_root / uuid.uuid4().hex[:8]

        def _publish(self, version: str, aliases: list[str]) -> None:
            art = arts[version]
            self.registry.publish(MODEL, version, art.model_path, art.metadata, art.report, aliases=aliases)

        @rule(version=st.sampled_from(VERSIONS), alias=st.sampled_from(ALIASES))
        def publish(self, version: str, alias: str) -> None:
            if version in self.published:
                with pytest.raises(VersionExistsError):
                    self._publish(version, [alias])
                return
            self._publish(version, [alias])
            self.published[version] = arts[version].sha256
            self.pointers[alias] = version

        @rule(version=st.sampled_from(VERSIONS), alias=st.sampled_from(ALIASES))
        def promote(self, version: str, alias: str) -> None:
            if version not in self.published:
                with pytest.raises(NOT_FOUND):
                    self.registry.promote(MODEL, version, alias)
                return
            self.registry.promote(MODEL, version, alias)
            self.pointers[alias] = version

        @rule(ref=st.sampled_from(ALIASES + VERSIONS))
        def pull(self, ref: str) -> None:
            expected = self.pointers.get(ref) or (ref if ref in self.published else None)
            if expected is None:
                with pytest.raises(NOT_FOUND):
                    self.registry.pull(MODEL, ref, self.cache)
                return
            pulled = self.registry.pull(MODEL, ref, self.cache)
            assert str(pulled.version) == expected and sha(pulled.path) == self.published[expected]

        @rule(
            op=st.sampled_from(["publish", "promote", "rollback", "pull", "resolve", "list"]),
            version=st.sampled_from(VERSIONS),
            alias=st.sampled_from(ALIASES),
        )
        def outage(self, op: str, version: str, alias: str) -> None:
            """The storage server is down for one operation: it fails with a RegistryError and changes nothing."""
            before = (dict(self.registry.pointers(MODEL)) if self.published else {}, self.registry.list_models())
            moto.stop()
            try:
                calls = {
                    "publish": lambda: self._publish(version, [alias]),
                    "promote": lambda: self.registry.promote(MODEL, version, alias),
                    "rollback": lambda: self.registry.rollback(MODEL, alias),
                    "pull": lambda: self.registry.pull(MODEL, alias, self.cache / "outage"),
                    "resolve": lambda: self.registry.resolve(MODEL, alias),
                    "list": lambda: self.registry.list_versions(MODEL),
                }
                start = time.monotonic()
                with pytest.raises(RegistryError):
                    calls[op]()
                assert time.monotonic() - start < 60, f"{op} took too long to fail"
            finally:
                moto.start()
            after = (dict(self.registry.pointers(MODEL)) if self.published else {}, self.registry.list_models())
            assert after == before, f"{op} during an outage changed the registry"
            outages.append(op)
            outage_cache = self.cache / "outage" / MODEL
            assert not list(outage_cache.glob(".tmp-*")) and not list(outage_cache.glob("*/model.onnx"))

        @invariant()
        def pointers_name_complete_versions(self) -> None:
            if not self.published:
                return
            storage = self.registry.storage
            assert [str(v) for v in self.registry.list_versions(MODEL)] == sorted(
                self.published, key=lambda s: tuple(map(int, s.split(".")))
            )
            for pointer, version in self.registry.pointers(MODEL).items():
                folder = f"{MODEL}/v{version}"
                checksum = parse_checksum(storage.read_text(f"{folder}/checksum.sha256"))
                stored, _ = storage.sha256(f"{folder}/model.onnx")
                meta = ModelMetadata.from_json(storage.read_bytes(f"{folder}/metadata.json"))
                assert checksum == stored == meta.file.sha256 == self.published[str(version)], pointer
            history = len(self.registry.manifest().models[MODEL].history)
            assert history >= self.history
            self.history = history

    return OutageMachine


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_random_sequences_with_storage_outages(moto, artifact, tmp_path):
    arts = {version: artifact(MODEL, version) for version in VERSIONS}
    outages: list[str] = []
    machine = make_outage_machine(moto, arts, tmp_path / "cache", outages)
    runner = machine.TestCase
    runner.settings = settings(
        max_examples=10, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    runner().runTest()
    assert len(set(outages)) >= 3, outages  # the outages really happened, on several kinds of operation
    print(f"{len(outages)} operations attempted during outages: {sorted(set(outages))}")


# --------------------------------------------------------------------------------------------- a damaged cache
DAMAGE = [
    "truncate_model",
    "flip_model_byte",
    "garbage_checksum",
    "garbage_metadata",
    "swap_models",
    "delete_sidecars",
    "stale_tmp_folder",
    "model_replaced_by_folder",
    "empty_model",
]


def damage(cache: Path, kind: str, version: str, other: str) -> None:
    folder = cache / MODEL / version
    model = folder / "model.onnx"
    if model.is_dir() or (other != version and (cache / MODEL / other / "model.onnx").is_dir()):
        return  # an earlier step already replaced a model by a folder: nothing more to damage there
    if kind == "truncate_model":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif kind == "flip_model_byte":
        data = bytearray(model.read_bytes()) or bytearray(b"\x00")  # an earlier truncation may have emptied it
        data[len(data) // 3] ^= 0xFF
        model.write_bytes(bytes(data))
    elif kind == "garbage_checksum":
        (folder / "checksum.sha256").write_bytes(b"\xff\xfe not a checksum")
    elif kind == "garbage_metadata":
        (folder / "metadata.json").write_text("{not json")
    elif kind == "swap_models":  # both are valid ONNX models: only the checksum tells them apart
        other_model = cache / MODEL / other / "model.onnx"
        if other_model.exists() and other != version:
            a, b = model.read_bytes(), other_model.read_bytes()
            model.write_bytes(b)
            other_model.write_bytes(a)
    elif kind == "delete_sidecars":
        for name in ("checksum.sha256", "metadata.json"):
            (folder / name).unlink(missing_ok=True)
    elif kind == "stale_tmp_folder":  # a pull killed mid-download left its staging folder
        stale = cache / MODEL / f".tmp-{uuid.uuid4().hex}"
        stale.mkdir()
        (stale / "model.onnx").write_bytes(b"partial")
    elif kind == "model_replaced_by_folder":
        model.unlink()
        model.mkdir()
    elif kind == "empty_model":
        model.write_bytes(b"")


def test_damaged_cache_never_serves_wrong_bytes(artifact, publish_artifact, tmp_path):
    """Random damage to the cache between pulls: a pull returns the registry's bytes (re-downloading when needed) or
    fails loudly; the offline fallback returns a copy that verifies, or nothing."""
    registry = ModelRegistry((tmp_path / "reg").as_uri())
    truth: dict[str, str] = {}
    for version in VERSIONS:
        art = artifact(MODEL, version)
        publish_artifact(registry, art)
        truth[version] = art.sha256
    cache_root = tmp_path / "caches"

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        steps=st.lists(
            st.tuples(st.sampled_from(DAMAGE), st.sampled_from(VERSIONS), st.sampled_from(VERSIONS)),
            min_size=1,
            max_size=4,
        ),
        pull_ref=st.sampled_from(["latest", *VERSIONS]),
    )
    def run(steps: list[tuple[str, str, str]], pull_ref: str) -> None:
        cache = cache_root / uuid.uuid4().hex[:8]
        for version in VERSIONS:
            registry.pull(MODEL, version, cache)
        for kind, version, other in steps:
            damage(cache, kind, version, other)
        # Offline: whatever comes back must verify against the registry's truth.
        try:
            offline = load_from_cache(cache, MODEL, pull_ref)
        except RegistryError:
            offline = None
        if offline is not None:
            assert offline.path.is_file() and sha(offline.path) == truth[str(offline.version)]
        # Online: the right bytes, or a clear error (e.g. the model path is now a folder we will not delete).
        try:
            pulled = registry.pull(MODEL, pull_ref, cache)
        except (RegistryError, OSError) as exc:
            assert any(kind == "model_replaced_by_folder" for kind, _, _ in steps), exc
            return
        expected = "2.0.0" if pull_ref == "latest" else pull_ref
        assert str(pulled.version) == expected and sha(pulled.path) == truth[expected]
        shutil.rmtree(cache, ignore_errors=True)

    run()


@pytest.mark.parametrize("document", ["metadata.json", "validation_report.json"])
def test_tampered_document_sha_is_refused_at_pull(document, artifact, publish_artifact, tmp_path):
    registry = ModelRegistry((tmp_path / "reg").as_uri())
    art = artifact(MODEL, "1.0.0")
    publish_artifact(registry, art)
    stored = tmp_path / "reg" / MODEL / "v1.0.0" / document
    text = stored.read_text()
    assert art.sha256 in text
    stored.write_text(text.replace(art.sha256, "0" * 64))
    with pytest.raises(ChecksumMismatchError, match="altered"):
        registry.pull(MODEL, "1.0.0", tmp_path / "cache")
    assert not (tmp_path / "cache" / MODEL / "1.0.0" / "model.onnx").exists()
