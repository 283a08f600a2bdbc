"""Bump rules on real exported models: first release 1.0.0, new weights PATCH, another layer structure MINOR."""

from __future__ import annotations

import pytest

from voiceflow_contract.semver import Bump, Version
from voiceflow_models.export.to_onnx import export_onnx
from voiceflow_models.release import version_bump


def test_no_published_version_gives_1_0_0(fast_onnx, registry_url):
    plan = version_bump.plan_version(registry_url, "fast-cnn", fast_onnx.path)
    assert plan.current is None and plan.bump is None and plan.next == Version(1, 0, 0)


def test_bump_rules_on_real_exported_models(fast_onnx, registry_url, publish, fast_factory, tmp_path, capsys):
    assert publish(fast_onnx.path) == 0  # v1.0.0
    retrained = export_onnx(fast_factory(seed=1), tmp_path / "retrained.onnx", check_parity=False)
    wider = export_onnx(fast_factory(seed=0, channels=(16, 24)), tmp_path / "wider.onnx", check_parity=False)
    assert retrained.architecture.signature == fast_onnx.architecture.signature
    assert wider.architecture.signature != fast_onnx.architecture.signature

    patch = version_bump.plan_version(registry_url, "fast-cnn", retrained.path)
    assert (patch.current, patch.bump, patch.next) == (Version(1, 0, 0), Bump.PATCH, Version(1, 0, 1))
    minor = version_bump.plan_version(registry_url, "fast-cnn", wider.path)
    assert (minor.bump, minor.next) == (Bump.MINOR, Version(1, 1, 0))
    assert any("architecture" in r for r in minor.reasons)

    # The CLI the seed's workflow calls: VERSION=$(version_bump.py --auto) prints only the version on stdout.
    capsys.readouterr()
    assert version_bump.main(["--auto", "--model-file", str(wider.path), "--registry", registry_url]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "1.1.0" and "MINOR" in out.err
    # Publishing the new weights really lands as v1.0.1 next to v1.0.0.
    assert publish(retrained.path) == 0
    assert version_bump.plan_version(registry_url, "fast-cnn", retrained.path).current == Version(1, 0, 1)


def test_after_a_rollback_the_bump_starts_above_every_published_version(
    fast_onnx, registry_url, publish, fast_factory, tmp_path
):
    from voiceflow_contract.registry import ModelRegistry

    retrained = export_onnx(fast_factory(seed=1), tmp_path / "retrained.onnx", check_parity=False)
    assert publish(fast_onnx.path) == 0 and publish(retrained.path) == 0  # 1.0.0, 1.0.1
    assert ModelRegistry(registry_url).rollback("fast-cnn") == Version(1, 0, 0)
    again = export_onnx(fast_factory(seed=2), tmp_path / "again.onnx", check_parity=False)
    plan = version_bump.plan_version(registry_url, "fast-cnn", again.path)
    assert (plan.current, plan.bump, plan.next) == (Version(1, 0, 0), Bump.PATCH, Version(1, 0, 2))
    assert publish(again.path) == 0  # the automatic version is free: no VersionExistsError


def test_explicit_architecture_overrides_the_stamped_one(fast_onnx, registry_url, publish):
    assert publish(fast_onnx.path) == 0
    plan = version_bump.plan_version(registry_url, "fast-cnn", fast_onnx.path, architecture_type="wav2vec2")
    assert plan.bump is Bump.MINOR


def test_cli_errors(tmp_path, registry_url):
    with pytest.raises(SystemExit) as exc:
        version_bump.main(["--help"])
    assert exc.value.code == 0
    assert version_bump.main(["--auto", "--model-file", str(tmp_path / "none.onnx"), "--registry", registry_url]) == 2
