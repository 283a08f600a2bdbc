"""Storage options from the environment (what a deployment sets) and from CLI flags, against the real servers."""

from __future__ import annotations

import uuid

import pytest

from voiceflow_contract.errors import RegistryError
from voiceflow_contract.registry import ModelRegistry, default_storage_options
from voiceflow_contract.registry.cli import main as registry_cli
from voiceflow_contract.registry.env import registry_from_env
from voiceflow_contract.registry.storage import parse_storage_option, protocol_of
from voiceflow_contract.semver import Version


def test_protocols_and_option_parsing():
    urls = ("/srv/reg", "file:///srv/reg", "s3://b", "gcs://b", "gs://b", "abfs://c", "az://c")
    assert [protocol_of(u) for u in urls] == ["file", "file", "s3", "gs", "gs", "az", "az"]
    assert parse_storage_option("endpoint_url=http://127.0.0.1:9000") == ("endpoint_url", "http://127.0.0.1:9000")
    assert parse_storage_option("anon=false") == ("anon", False)
    assert parse_storage_option("retries=3") == ("retries", 3)
    with pytest.raises(RegistryError, match="key=value"):
        parse_storage_option("novalue")
    env = {
        "VOICEFLOW_S3_ENDPOINT_URL": "http://minio:9000",
        "AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=http://azurite:10000/acct;",
        "STORAGE_EMULATOR_HOST": "127.0.0.1:9023",
    }
    assert default_storage_options("s3://b", env)["endpoint_url"] == "http://minio:9000"
    assert default_storage_options("az://c", env) == {"connection_string": env["AZURE_STORAGE_CONNECTION_STRING"]}
    assert default_storage_options("gs://b", env) == {"endpoint_url": "http://127.0.0.1:9023", "token": "anon"}
    assert default_storage_options("/srv/reg", env) == {}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("VOICEFLOW_REGISTRY", raising=False)  # `make` or a shell may export it
        mp.delenv("VOICEFLOW_REGISTRY_URL", raising=False)
        with pytest.raises(RegistryError, match="VOICEFLOW_REGISTRY"):
            ModelRegistry("")


def test_one_registry_variable_with_the_older_name_accepted(tmp_path, monkeypatch, capsys):
    assert registry_from_env({}) is None
    assert registry_from_env({"VOICEFLOW_REGISTRY": "/old"}) == "/old"
    assert registry_from_env({"VOICEFLOW_REGISTRY_URL": "/new", "VOICEFLOW_REGISTRY": "/old"}) == "/new"
    assert registry_from_env({"VOICEFLOW_REGISTRY_URL": "", "VOICEFLOW_REGISTRY": "/old"}) == "/old"
    for name in ("VOICEFLOW_REGISTRY_URL", "VOICEFLOW_REGISTRY"):
        monkeypatch.delenv("VOICEFLOW_REGISTRY_URL", raising=False)
        monkeypatch.delenv("VOICEFLOW_REGISTRY", raising=False)
        monkeypatch.setenv(name, str(tmp_path / name))
        assert ModelRegistry().url == str(tmp_path / name)
        assert registry_cli(["ls"]) == 0  # the CLI opens the same registry (empty: no models)


@pytest.mark.parametrize("backend", ["s3", "az", "gs"])
def test_registry_configured_from_environment_only(backend, request, monkeypatch, artifact, publish_artifact, tmp_path):
    server = request.getfixturevalue({"s3": "s3_server", "az": "azurite_server", "gs": "gcs_server"}[backend])
    if backend == "s3":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("VOICEFLOW_S3_ENDPOINT_URL", server["options"]["endpoint_url"])
    elif backend == "az":
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", server["options"]["connection_string"])
    else:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server["options"]["endpoint_url"])
    url = f"{backend}://{server['bucket']}/env-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("VOICEFLOW_REGISTRY", url)
    registry = ModelRegistry()  # URL and credentials from the environment alone
    publish_artifact(registry, artifact("fast-cnn", "1.0.0"))
    assert registry.resolve("fast-cnn") == Version(1, 0, 0)
    assert registry.pull("fast-cnn", "latest", tmp_path / "cache").version == Version(1, 0, 0)


def test_missing_bucket_is_a_clear_error(s3_server, artifact, publish_artifact):
    registry = ModelRegistry(f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}/models", s3_server["options"])
    with pytest.raises(RegistryError, match="does not exist"):
        publish_artifact(registry, artifact("fast-cnn", "1.0.0"))
    assert registry.list_models() == []
