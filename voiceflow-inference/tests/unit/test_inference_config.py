"""Settings: environment selection, VOICEFLOW_* overrides, and errors that name the bad key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from voiceflow_inference.config import ConfigError, load_settings


def test_each_environment_loads_its_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("VOICEFLOW_ENV", "VOICEFLOW_REGISTRY", "VOICEFLOW_REGISTRY_URL", "VOICEFLOW_ADMIN_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    dev = load_settings("development")
    staging = load_settings("staging")
    prod = load_settings("production")
    assert (dev.env, staging.env, prod.env) == ("development", "staging", "production")
    assert dev.admin_token is not None and prod.admin_token is None  # prod admin only with VOICEFLOW_ADMIN_TOKEN
    assert prod.measure_latency and not dev.measure_latency
    assert staging.registry_url.startswith("gs://")
    monkeypatch.setenv("VOICEFLOW_ENV", "staging")
    assert load_settings().env == "staging"


def test_every_environment_serves_the_default_published_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICEFLOW_MODEL_NAME", raising=False)  # the suite sets it for its tiny "fast-cnn" graphs
    names = {env: load_settings(env).model_name for env in ("development", "staging", "production")}
    assert names == dict.fromkeys(names, "ge2e")
    monkeypatch.setenv("VOICEFLOW_MODEL_NAME", "fast-cnn")  # fast-cnn stays available by name
    assert load_settings("production").model_name == "fast-cnn"


def test_env_vars_override_nested_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEFLOW_LIMITS__MAX_BATCH", "4")
    monkeypatch.setenv("VOICEFLOW_ORT__INTRA_OP_THREADS", "2")
    monkeypatch.setenv("VOICEFLOW_MODEL_REF", "v1.2.0")
    monkeypatch.setenv("VOICEFLOW_AB_WEIGHTS", '{"1.0.0": 0.9, "v1.1.0": 0.1}')
    monkeypatch.setenv("VOICEFLOW_ADMIN_TOKEN", "s3cret-token")
    settings = load_settings("production")
    assert settings.limits.max_batch == 4
    assert settings.ort.intra_op_threads == 2
    assert settings.model_ref == "v1.2.0"
    assert settings.ab_weights == {"1.0.0": 0.9, "1.1.0": 0.1}
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "s3cret-token"
    assert "s3cret" not in repr(settings)  # SecretStr never leaks into logs


def test_empty_admin_token_disables_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEFLOW_ADMIN_TOKEN", "")
    assert load_settings("development").admin_token is None


@pytest.mark.parametrize(
    ("var", "value", "key"),
    [
        ("VOICEFLOW_LIMITS__MAX_BATCH", "0", "limits.max_batch"),
        ("VOICEFLOW_PORT", "not-a-port", "port"),
        ("VOICEFLOW_MODEL_NAME", "../etc/passwd", "model_name"),
        ("VOICEFLOW_AB_WEIGHTS", '{"1.0.0": 1.0}', "ab_weights"),
        ("VOICEFLOW_AB_WEIGHTS", '{"latest": 0.5, "1.0.0": 0.5}', "ab_weights"),
        ("VOICEFLOW_ADMIN_TOKEN", "short", "admin_token"),
        ("VOICEFLOW_WATCH_FILENAME", "../model.onnx", "watch_filename"),
        ("VOICEFLOW_ORT__PROVIDERS", "[]", "ort.providers"),
    ],
)
def test_bad_value_names_the_key(monkeypatch: pytest.MonkeyPatch, var: str, value: str, key: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings("development")
    assert f"'{key}'" in str(info.value)
    assert var.split("__")[0] in str(info.value)


def test_unknown_environment_and_unknown_key(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    with pytest.raises(ConfigError, match="'env'"):
        load_settings("qa")
    (tmp_path / "development.toml").write_text('model_name = "fast-cnn"\nmax_batchh = 3\n')
    monkeypatch.setenv("VOICEFLOW_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="'max_batchh'"):
        load_settings("development")
    (tmp_path / "development.toml").write_text("model_name = \n")
    with pytest.raises(ConfigError, match=r"development\.toml"):
        load_settings("development")


def test_serve_with_bad_config_exits_2_naming_the_key() -> None:
    env = {"VOICEFLOW_LIMITS__MAX_BATCH": "-1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "voiceflow_inference.cli", "serve", "--env", "staging"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "limits.max_batch" in proc.stderr and "VOICEFLOW_LIMITS__MAX_BATCH" in proc.stderr
