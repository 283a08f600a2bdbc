"""The version set: loaded versions, re-loads of the same bytes, protected eviction beyond keep_versions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from voiceflow_inference.lifecycle.errors import VersionNotLoadedError
from voiceflow_inference.lifecycle.version_set import VersionSet


@dataclass(frozen=True, eq=False)
class Model:
    version: str
    sha256: str = "a" * 64


def filled(keep: int, *versions: str) -> VersionSet[Model]:
    versions_set: VersionSet[Model] = VersionSet("fast-cnn", keep)
    for version in versions:
        versions_set.add(Model(version))
    return versions_set


def test_get_accepts_a_v_prefix_and_names_what_is_loaded() -> None:
    loaded = filled(3, "1.0.0", "1.1.0")
    assert loaded.get("v1.1.0").version == "1.1.0" and loaded.find("1.0.0") is not None
    assert "1.0.0" in loaded and "2.0.0" not in loaded and len(loaded) == 2
    with pytest.raises(VersionNotLoadedError, match=r"'2\.0\.0' of fast-cnn is not loaded \(loaded: 1\.0\.0, 1\.1"):
        loaded.get("2.0.0")
    assert loaded.find("v1.0.0") is None  # find is exact (the hot path)


def test_the_same_bytes_again_keep_the_loaded_instance() -> None:
    loaded = filled(3)
    first = Model("1.0.0")
    assert loaded.add(first) == (first, None)
    again = Model("1.0.0")
    registered, dropped = loaded.add(again)
    assert registered is first and dropped is again
    assert loaded.add(first) == (first, None)  # the very same object: nothing to drop


def test_different_bytes_replace_the_loaded_instance() -> None:
    loaded = filled(3)
    old, new = Model("1.0.0", "a" * 64), Model("1.0.0", "b" * 64)
    loaded.add(old)
    registered, dropped = loaded.add(new)
    assert registered is new and dropped is old and loaded.get("1.0.0") is new


def test_eviction_drops_the_oldest_unprotected_versions() -> None:
    loaded = filled(2, "1.0.0", "1.1.0", "1.2.0", "1.3.0")
    evicted = loaded.evict(protect={"1.0.0"})
    assert [m.version for m in evicted] == ["1.1.0", "1.2.0"]
    assert [m.version for m in loaded.loaded()] == ["1.0.0", "1.3.0"]
    assert loaded.evict(protect=()) == []  # at keep_versions: nothing more to drop


def test_protected_versions_survive_even_beyond_keep_versions() -> None:
    loaded = filled(1, "1.0.0", "1.1.0", "1.2.0")
    assert loaded.evict(protect={"1.0.0", "1.1.0", "1.2.0"}) == []
    assert len(loaded) == 3
    evicted = loaded.evict(protect={"1.2.0", "1.0.0"})
    assert [m.version for m in evicted] == ["1.1.0"] and len(loaded) == 2


def test_remove_forgets_one_version() -> None:
    loaded = filled(3, "1.0.0", "1.1.0")
    assert loaded.remove("v1.0.0").version == "1.0.0"
    assert [m.version for m in loaded.loaded()] == ["1.1.0"]
    with pytest.raises(VersionNotLoadedError):
        loaded.remove("1.0.0")
