"""Property tests: random publish / promote / rollback / pull sequences keep the registry's promises.

After every step: each pointer names a committed version whose stored model.onnx, checksum.sha256, metadata.json and
validation_report.json agree; pointers match an independent model of the expected state; pointer history and the
manifest's history only grow; the manifest lists exactly the committed versions; pulls return verified bytes.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from voiceflow_contract.errors import ModelNotFoundError, VersionExistsError, VersionNotFoundError
from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.registry.layout import parse_checksum
from voiceflow_contract.schemas.metadata import ModelMetadata
from voiceflow_contract.schemas.report import ValidationReport

VERSIONS = ["1.0.0", "1.0.1", "1.1.0", "2.0.0", "2.1.0"]
ALIASES = ["latest", "stable", "canary"]
MODEL = "fast-cnn"
NOT_FOUND = (ModelNotFoundError, VersionNotFoundError)


def make_machine(open_registry, arts, cache_root: Path):
    class RegistryMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.registry: ModelRegistry = open_registry(uuid.uuid4().hex[:10])
            self.published: dict[str, str] = {}  # version -> sha256
            self.stacks: dict[str, list[str]] = {}  # oracle: pointer -> versions stood on, rollbacks popped
            self.history_len = 0
            self.cache = cache_root / uuid.uuid4().hex[:10]

        def _push(self, pointer: str, version: str) -> None:
            stack = self.stacks.setdefault(pointer, [])
            if not stack or stack[-1] != version:
                stack.append(version)

        @rule(version=st.sampled_from(VERSIONS), aliases=st.sets(st.sampled_from(ALIASES), max_size=2))
        def publish(self, version: str, aliases: set[str]) -> None:
            art = arts[version]
            if version in self.published:
                with pytest.raises(VersionExistsError):
                    self.registry.publish(MODEL, version, art.model_path, art.metadata, art.report, aliases=aliases)
                return
            self.registry.publish(MODEL, version, art.model_path, art.metadata, art.report, aliases=sorted(aliases))
            self.published[version] = art.sha256
            for alias in aliases:
                self._push(alias, version)

        @rule(version=st.sampled_from(VERSIONS), alias=st.sampled_from(ALIASES))
        def promote(self, version: str, alias: str) -> None:
            if version not in self.published:
                with pytest.raises(NOT_FOUND):
                    self.registry.promote(MODEL, version, alias)
                return
            self.registry.promote(MODEL, version, alias)
            self._push(alias, version)

        @rule(pointer=st.sampled_from(ALIASES))
        def rollback(self, pointer: str) -> None:
            stack = self.stacks.get(pointer, [])
            if len(stack) < 2:
                with pytest.raises(NOT_FOUND):
                    self.registry.rollback(MODEL, pointer)
                return
            assert str(self.registry.rollback(MODEL, pointer)) == stack[-2]
            stack.pop()

        @rule(ref=st.sampled_from(ALIASES + VERSIONS))
        def pull(self, ref: str) -> None:
            expected = self.stacks[ref][-1] if ref in self.stacks else (ref if ref in self.published else None)
            if expected is None:
                with pytest.raises(NOT_FOUND):
                    self.registry.pull(MODEL, ref, self.cache)
                return
            pulled = self.registry.pull(MODEL, ref, self.cache)
            assert str(pulled.version) == expected
            assert pulled.sha256 == self.published[expected]
            assert hashlib.sha256(pulled.path.read_bytes()).hexdigest() == pulled.sha256

        @invariant()
        def pointers_name_complete_verified_versions(self) -> None:
            if not self.published:
                return
            pointers = {k: str(v) for k, v in self.registry.pointers(MODEL).items()}
            assert pointers == {k: v[-1] for k, v in self.stacks.items() if v}
            storage = self.registry.storage
            for version in set(pointers.values()):
                folder = f"{MODEL}/v{version}"
                checksum = parse_checksum(storage.read_text(f"{folder}/checksum.sha256"))
                metadata = ModelMetadata.from_json(storage.read_bytes(f"{folder}/metadata.json"))
                report = ValidationReport.from_json(storage.read_bytes(f"{folder}/validation_report.json"))
                sha, size = storage.sha256(f"{folder}/model.onnx")
                assert checksum == sha == metadata.file.sha256 == report.model_sha256 == self.published[version]
                assert size == metadata.file.size_bytes

        @invariant()
        def history_only_grows_and_manifest_matches(self) -> None:
            manifest = self.registry.manifest()
            entry = manifest.models.get(MODEL)
            if entry is None:
                assert not self.published
                return
            assert len(entry.history) >= self.history_len
            self.history_len = len(entry.history)
            assert sorted(v.version for v in entry.versions) == sorted(self.published)
            assert [str(v) for v in self.registry.list_versions(MODEL)] == sorted(
                self.published, key=lambda s: tuple(map(int, s.split(".")))
            )

    return RegistryMachine


@pytest.fixture
def version_artifacts(artifact):
    return {version: artifact(MODEL, version) for version in VERSIONS}


def run_machine(machine, examples: int, steps: int) -> None:
    runner = machine.TestCase
    runner.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    runner().runTest()


def test_random_sequences_on_file(version_artifacts, tmp_path):
    def open_registry(prefix: str) -> ModelRegistry:
        return ModelRegistry((tmp_path / "reg" / prefix).as_uri())

    run_machine(make_machine(open_registry, version_artifacts, tmp_path / "cache"), examples=100, steps=15)


@pytest.mark.slow
def test_random_sequences_on_s3(version_artifacts, s3_server, tmp_path):
    def open_registry(prefix: str) -> ModelRegistry:
        return ModelRegistry(f"s3://{s3_server['bucket']}/prop-{prefix}", s3_server["options"])

    run_machine(make_machine(open_registry, version_artifacts, tmp_path / "cache"), examples=20, steps=12)
