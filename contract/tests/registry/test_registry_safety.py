"""Names and path traversal, racing publishers, unreachable storage, the offline cache fallback and the CLI."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time

import pytest

from voiceflow_contract.errors import (
    InvalidNameError,
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
    VersionExistsError,
)
from voiceflow_contract.registry import ModelRegistry, cached_versions, load_from_cache
from voiceflow_contract.registry.cli import main as registry_cli
from voiceflow_contract.registry.names import validate_model_name, validate_pointer_name, validate_ref
from voiceflow_contract.semver import Version

V = Version.parse

BAD_NAMES = [
    "",
    "..",
    "../etc",
    "a/b",
    "a\\b",
    "/abs",
    "Fast-CNN",
    "-dash-first",
    ".hidden",
    "x" * 65,
    "fast cnn",
    "fast-cnn\n",
    "fa\u200bst",  # zero-width space
    "f\u0430st",  # Cyrillic a
    "ﬁle",  # ligature that NFKC would turn into "file"
    "%2e%2e",
    "aliases",
    "manifest.json",
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=ascii)
def test_bad_model_names_refused(name, tmp_path):
    with pytest.raises(InvalidNameError):
        validate_model_name(name)
    registry = ModelRegistry(str(tmp_path / "reg"))
    with pytest.raises(InvalidNameError):
        registry.resolve(name)
    with pytest.raises(InvalidNameError):
        registry.pull(name, "latest", tmp_path / "cache")
    with pytest.raises(InvalidNameError):
        load_from_cache(tmp_path / "cache", name)
    assert not (tmp_path / "reg").exists()  # refused before any I/O


@pytest.mark.parametrize(
    "ref", ["../1.0.0", "1.0", "1.0.0.0", "v1.0.0/..", "01.0.0", "1.0.0 ", "LATEST", "a/b"], ids=ascii
)
def test_bad_refs_and_aliases_refused(ref):
    with pytest.raises(InvalidNameError):
        validate_ref(ref)
    with pytest.raises(InvalidNameError):
        validate_pointer_name(ref)


def test_good_names_accepted():
    assert validate_model_name("fast-cnn") == "fast-cnn"
    assert validate_model_name("sophisticated_v2.1") == "sophisticated_v2.1"
    assert validate_ref("v1.2.3") == V("1.2.3") and validate_ref("stable") == "stable"
    with pytest.raises(InvalidNameError, match="must not look like a version"):
        validate_pointer_name("1.2.3")


def test_publish_refuses_bad_names_before_upload(tmp_path, artifact):
    art = artifact("fast-cnn", "1.0.0")
    registry = ModelRegistry(str(tmp_path / "reg"))
    for model, version, aliases in [
        ("../x", "1.0.0", ()),
        ("fast-cnn", "../1.0.0", ()),
        ("fast-cnn", "1.0.0", ["../e"]),
    ]:
        with pytest.raises(InvalidNameError):
            registry.publish(model, version, art.model_path, art.metadata, art.report, aliases=aliases)
    assert not (tmp_path / "reg").exists()
    with pytest.raises(InvalidNameError):
        registry.promote("fast-cnn", "1.0.0", "../../x")


def test_concurrent_publish_loses_nothing(locking_target, artifact):
    count = 6
    arts = [artifact("fast-cnn", f"1.{i}.0") for i in range(count)]
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def worker(art) -> None:
        registry = locking_target.open()  # one client per publisher, like separate CI jobs
        try:
            start.wait()
            registry.publish(art.model_name, art.version, art.model_path, art.metadata, art.report)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(art,)) for art in arts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    registry = locking_target.open()
    expected = [f"1.{i}.0" for i in range(count)]
    entry = registry.manifest().models["fast-cnn"]
    assert sorted(v.version for v in entry.versions) == expected
    assert [str(v) for v in registry.list_versions("fast-cnn")] == expected
    # Every publish moved latest exactly once, and the moves chain: no lost update of the pointer.
    moves = [m for m in entry.history if m.pointer == "latest"]
    assert len(moves) == count and sorted(m.to_version for m in moves) == expected
    for before, after in itertools.pairwise(moves):
        assert after.from_version == before.to_version
    assert entry.pointers["latest"] == moves[-1].to_version == str(registry.resolve("fast-cnn"))
    assert not registry.storage.exists(".lock")


def test_racing_publishers_of_one_version_commit_once(locking_target, artifact, tmp_path):
    arts = [artifact("fast-cnn", "2.0.0") for _ in range(4)]
    outcomes: list[str] = []
    start = threading.Barrier(len(arts))

    def worker(art) -> None:
        registry = locking_target.open()
        start.wait()
        try:
            registry.publish(art.model_name, art.version, art.model_path, art.metadata, art.report)
            outcomes.append(art.sha256)
        except VersionExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=worker, args=(art,)) for art in arts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    winners = [o for o in outcomes if o != "refused"]
    assert len(winners) == 1 and len(outcomes) == len(arts)
    registry = locking_target.open()
    shown = registry.show("fast-cnn", "2.0.0")
    assert shown.sha256 == winners[0]  # the committed bytes are the winner's, whole
    pulled = registry.pull("fast-cnn", "2.0.0", tmp_path / "cache")
    assert pulled.sha256 == winners[0]


def closed_port() -> int:
    """A loopback port with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


UNREACHABLE = {
    "s3": ("s3://bucket/models", {"key": "k", "secret": "s", "endpoint_url": "http://127.0.0.1:{port}"}),
    "az": (
        "az://container/models",
        {
            "connection_string": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            "BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        },
    ),
    "gs": ("gs://bucket/models", {"endpoint_url": "http://127.0.0.1:{port}", "token": "anon"}),
}


@pytest.mark.parametrize("backend", sorted(UNREACHABLE))
def test_unreachable_storage_is_a_clear_error_fast(backend, tmp_path, artifact):
    url, template = UNREACHABLE[backend]
    port = closed_port()
    options = {k: v.format(port=port) for k, v in template.items()}
    registry = ModelRegistry(url, options)
    art = artifact("fast-cnn", "1.0.0")
    started = time.monotonic()
    for call in (
        registry.list_models,
        lambda: registry.resolve("fast-cnn"),
        lambda: registry.pull("fast-cnn", "latest", tmp_path / "cache"),
        lambda: registry.publish("fast-cnn", "1.0.0", art.model_path, art.metadata, art.report),
        lambda: registry.rollback("fast-cnn"),
    ):
        with pytest.raises(RegistryUnavailableError, match=f"unreachable.*127.0.0.1:{port}"):
            call()
    assert time.monotonic() - started < 10
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("model.onnx"))


def test_s3_server_stopped_after_start_is_unavailable(tmp_path, artifact):
    """The endpoint answered once (probe cached), then died: the client's own errors map to RegistryUnavailableError."""
    from moto.server import ThreadedMotoServer

    port = closed_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        options = {"key": "k", "secret": "s", "endpoint_url": f"http://127.0.0.1:{port}"}
        options["config_kwargs"] = {"connect_timeout": 1, "read_timeout": 2, "retries": {"max_attempts": 1}}
        registry = ModelRegistry("s3://gone/models", options)
        registry.storage.fs.mkdir("gone")
        art = artifact("fast-cnn", "1.0.0")
        registry.publish("fast-cnn", "1.0.0", art.model_path, art.metadata, art.report)
        registry.pull("fast-cnn", "latest", tmp_path / "cache")
    finally:
        server.stop()
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError):
        registry.resolve("fast-cnn")
    assert time.monotonic() - started < 20
    # The server falls back to the verified cached copy.
    cached = ModelRegistry.local_cache_lookup(tmp_path / "cache", "fast-cnn", "latest")
    assert cached.version == V("1.0.0") and cached.from_cache


def test_offline_fallback_prefers_last_resolved_version(tmp_path, artifact, publish_artifact):
    registry = ModelRegistry((tmp_path / "reg").as_uri())
    for version in ("1.0.0", "1.1.0"):
        publish_artifact(registry, artifact("fast-cnn", version))
    cache = tmp_path / "cache"
    registry.pull("fast-cnn", "1.1.0", cache)
    registry.promote("fast-cnn", "1.0.0", "stable")
    registry.pull("fast-cnn", "stable", cache)
    assert cached_versions(cache, "fast-cnn") == [V("1.0.0"), V("1.1.0")]
    assert load_from_cache(cache, "fast-cnn", "stable").version == V("1.0.0")
    assert load_from_cache(cache, "fast-cnn").version == V("1.1.0")  # latest never pulled: newest verified
    # A cached copy corrupted on disk is skipped, never served.
    bad = cache / "fast-cnn" / "1.1.0" / "model.onnx"
    bad.write_bytes(b"corrupt")
    assert cached_versions(cache, "fast-cnn") == [V("1.0.0")]
    assert load_from_cache(cache, "fast-cnn").version == V("1.0.0")
    # ...and the next pull replaces it with a verified download.
    assert not registry.pull("fast-cnn", "1.1.0", cache).from_cache
    with pytest.raises(ModelNotFoundError):
        load_from_cache(cache, "sophisticated")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = registry_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_end_to_end(tmp_path, artifact, capsys, monkeypatch):
    reg = (tmp_path / "reg").as_uri()
    monkeypatch.setenv("VOICEFLOW_REGISTRY", reg)
    files = {}
    for version in ("1.0.0", "1.1.0"):
        art = artifact("fast-cnn", version)
        meta, rep = tmp_path / f"meta-{version}.json", tmp_path / f"rep-{version}.json"
        art.metadata.write(meta)
        art.report.write(rep)
        files[version] = (art, meta, rep)
        code, out, err = run_cli(
            capsys, "-q", "publish", "fast-cnn", version, "--model", str(art.model_path), "--metadata", str(meta),
            "--report", str(rep), "--alias", "canary",
        )  # fmt: skip
        assert code == 0, err
        assert f"published fast-cnn {version}" in out and "canary, latest" in out

    code, out, _ = run_cli(capsys, "ls", "--json")
    assert code == 0 and json.loads(out) == {"fast-cnn": "1.1.0"}
    code, out, _ = run_cli(capsys, "ls", "fast-cnn", "--json")
    assert json.loads(out)["versions"] == ["1.0.0", "1.1.0"]
    code, out, _ = run_cli(capsys, "--registry", reg, "show", "fast-cnn", "v1.0.0", "--json")
    assert code == 0 and json.loads(out)["sha256"] == files["1.0.0"][0].sha256
    code, out, _ = run_cli(capsys, "-q", "pull", "fast-cnn", "--cache", str(tmp_path / "cache"))
    assert code == 0 and "fast-cnn 1.1.0" in out and (tmp_path / "cache/fast-cnn/1.1.0/model.onnx").is_file()
    code, out, _ = run_cli(capsys, "promote", "fast-cnn", "1.0.0", "--alias", "stable")
    assert code == 0 and "stable -> 1.0.0" in out
    code, out, _ = run_cli(capsys, "rollback", "fast-cnn")
    assert code == 0 and "rolled back to 1.0.0" in out
    code, out, _ = run_cli(capsys, "manifest")
    assert json.loads(out)["models"]["fast-cnn"]["pointers"] == {
        "canary": "1.1.0",
        "latest": "1.0.0",
        "stable": "1.0.0",
    }
    code, out, _ = run_cli(capsys, "ls")
    assert code == 0 and "fast-cnn" in out

    # Errors: one line on stderr, distinct exit codes.
    art, meta, rep = files["1.0.0"]
    code, _, err = run_cli(
        capsys, "-q", "publish", "fast-cnn", "1.0.0", "--model", str(art.model_path), "--metadata", str(meta),
        "--report", str(rep),
    )  # fmt: skip
    assert code == 1 and "already published" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "show", "nope")
    assert code == 4 and "'nope' not found" in err
    code, _, err = run_cli(capsys, "show", "../etc")
    assert code == 2 and "invalid model name" in err
    code, _, err = run_cli(
        capsys, "--registry", "s3://b/m", "--storage-option", f"endpoint_url=http://127.0.0.1:{closed_port()}", "ls"
    )
    assert code == 3 and "unreachable" in err
    # Offline fallback from the CLI.
    code, out, err = run_cli(
        capsys, "--registry", "s3://b/m", "--storage-option", f"endpoint_url=http://127.0.0.1:{closed_port()}",
        "pull", "fast-cnn", "--cache", str(tmp_path / "cache"), "--offline-fallback",
    )  # fmt: skip
    assert code == 0 and "(cache)" in out and "unreachable" in err


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        registry_cli(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("ls", "show", "pull", "promote", "rollback", "publish"):
        assert command in out
    monkey = pytest.MonkeyPatch()
    monkey.delenv("VOICEFLOW_REGISTRY", raising=False)
    try:
        assert registry_cli(["ls"]) == 2
    finally:
        monkey.undo()


def test_manifest_is_derived_and_self_healing(locking_target, artifact, publish_artifact):
    registry = locking_target.open()
    publish_artifact(registry, artifact("fast-cnn", "1.0.0"))
    publish_artifact(registry, artifact("fast-cnn", "1.1.0"), aliases=("latest", "stable"))
    good = registry.manifest()
    # Lost manifest: rebuilt from version folders + pointer objects, with the same versions, pointers and history.
    registry.storage.remove("manifest.json")
    rebuilt = registry.rebuild_manifest()
    assert rebuilt.models["fast-cnn"].pointers == good.models["fast-cnn"].pointers
    assert rebuilt.models["fast-cnn"].history == good.models["fast-cnn"].history
    assert [v.sha256 for v in rebuilt.models["fast-cnn"].versions] == [
        v.sha256 for v in good.models["fast-cnn"].versions
    ]
    # Corrupt manifest: readers get a clear error; the next writer repairs it.
    registry.storage.write_bytes("manifest.json", b"{not json")
    with pytest.raises(RegistryError, match=r"manifest\.json is corrupt"):
        registry.manifest()
    registry.promote("fast-cnn", "1.0.0", "stable")
    assert registry.manifest().models["fast-cnn"].pointers == {"latest": "1.1.0", "stable": "1.0.0"}


def test_stale_lock_is_broken_and_live_lock_waits(tmp_path, artifact, publish_artifact):
    registry = ModelRegistry((tmp_path / "reg").as_uri(), lock_timeout=0.5, lock_stale_after=30.0)
    publish_artifact(registry, artifact("fast-cnn", "1.0.0"))
    # A live lock held by another writer: we wait, then give up with a clear error and change nothing.
    live = json.dumps({"token": "other", "created": time.time(), "actor": "ci@elsewhere"}).encode()
    registry.storage.write_bytes(".lock", live)
    with pytest.raises(RegistryError, match="locked by another writer"):
        registry.promote("fast-cnn", "1.0.0", "stable")
    assert "stable" not in registry.pointers("fast-cnn")
    # A crashed writer's lock (older than lock_stale_after) is broken.
    registry.storage.write_bytes(".lock", json.dumps({"token": "dead", "created": time.time() - 3600}).encode())
    assert registry.promote("fast-cnn", "1.0.0", "stable") == V("1.0.0")
    assert not registry.storage.exists(".lock")
