"""One fsspec filesystem behind the registry: URL + storage options in, small safe byte/file operations out.

Why a wrapper and not fsspec directly:

* **Errors.** Every backend fails differently when the server is down (botocore ``EndpointConnectionError``, aiohttp
  ``ClientConnectorError``, azure ``ServiceRequestError``...). They all become :class:`RegistryUnavailableError`, and a
  TCP probe of a configured endpoint fails fast instead of waiting through a client's own retries (gcsfs and adlfs retry
  for 30-90 s on a closed port).
* **Atomic local writes.** fsspec's local ``pipe_file`` writes in place, so a reader could see half a pointer. Locally
  we write a temp file and ``os.replace`` it; "create only if absent" uses ``os.link`` (atomic, fails if the name
  exists).
  Object stores already make single-object writes atomic; "create" maps to ``If-None-Match: *`` (S3, Azure) or
  ``ifGenerationMatch=0`` (GCS; the emulator ignores it).
* **Fresh listings.** s3fs/gcsfs/adlfs cache directory listings; they are dropped before every listing.
* **Confinement.** Reads stay inside a file:// root and stop past a size limit (:mod:`.confinement`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from voiceflow_contract.errors import RegistryError, RegistryUnavailableError
from voiceflow_contract.registry.confinement import DOCUMENT_LIMIT_BYTES, confine, over_limit
from voiceflow_contract.registry.connection_errors import is_connection_error

T = TypeVar("T")

CHUNK_SIZE = 1 << 20
"""Bytes per read/write when streaming files (1 MiB)."""

ENV_S3_ENDPOINT = "VOICEFLOW_S3_ENDPOINT_URL"
ENV_AZURE_CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
ENV_GCS_EMULATOR = "STORAGE_EMULATOR_HOST"
ENV_CONNECT_TIMEOUT = "VOICEFLOW_REGISTRY_CONNECT_TIMEOUT"

_PROTOCOL_ALIASES = {"s3a": "s3", "gcs": "gs", "abfs": "az", "abfss": "az", "adl": "az"}


def protocol_of(url: str) -> str:
    """The normalised protocol of a registry URL: ``file``, ``s3``, ``gs`` or ``az`` (others are passed to fsspec)."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else "file"
    scheme = _PROTOCOL_ALIASES.get(scheme, scheme)
    return "file" if scheme in {"", "local"} else scheme


def default_storage_options(url: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Storage options a registry URL gets from the environment (explicit options override them).

    * ``s3://``: credentials come from the usual ``AWS_*`` variables / profiles (botocore reads them itself);
      ``VOICEFLOW_S3_ENDPOINT_URL`` points at an S3-compatible server (MinIO, moto). Short connect timeouts and few
      retries so an unreachable endpoint is reported in seconds.
    * ``az://``: ``AZURE_STORAGE_CONNECTION_STRING`` (else adlfs's own ``AZURE_STORAGE_ACCOUNT_NAME``/key/SAS variables
      or ``anon=False`` with DefaultAzureCredential).
    * ``gs://``: ``STORAGE_EMULATOR_HOST`` selects an emulator (anonymous token); otherwise gcsfs uses Application
      Default Credentials.
    """
    env = os.environ if environ is None else environ
    protocol = protocol_of(url)
    options: dict[str, Any] = {}
    if protocol == "s3":
        if env.get(ENV_S3_ENDPOINT):
            options["endpoint_url"] = env[ENV_S3_ENDPOINT]
        options["config_kwargs"] = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}}
    elif protocol == "az":
        if env.get(ENV_AZURE_CONNECTION_STRING):
            options["connection_string"] = env[ENV_AZURE_CONNECTION_STRING]
    elif protocol == "gs" and env.get(ENV_GCS_EMULATOR):
        host = env[ENV_GCS_EMULATOR]
        options["endpoint_url"] = host if "://" in host else f"http://{host}"
        options["token"] = "anon"
    return options


def parse_storage_option(text: str) -> tuple[str, Any]:
    """Parse one ``key=value`` CLI flag; values ``true``/``false``/ints/floats become Python values."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RegistryError(f"invalid --storage-option {text!r}: expected key=value")
    value: Any = raw
    lowered = raw.lower()
    if lowered in {"true", "false"}:
        value = lowered == "true"
    else:
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
    return key.strip(), value


def _endpoint_of(protocol: str, options: Mapping[str, Any]) -> tuple[str, int] | None:
    """(host, port) of an explicitly configured endpoint, used for the fast reachability probe."""
    url: str | None = None
    if protocol in {"s3", "gs"}:
        url = options.get("endpoint_url") or (options.get("client_kwargs") or {}).get("endpoint_url")
    elif protocol == "az":
        conn = options.get("connection_string") or ""
        for part in str(conn).split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower() == "blobendpoint":
                url = value.strip()
    if not url:
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.hostname is None:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port


class Storage:
    """A registry root on one fsspec filesystem. Paths passed to methods are relative to the root ("a/b/c")."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        """Open ``url`` (plain path, file://, s3://, gs://, az://); ``storage_options`` override the env defaults."""
        if not isinstance(url, str) or not url.strip():
            raise RegistryError("registry URL is empty: pass --registry URL or set VOICEFLOW_REGISTRY_URL")
        self.url = url.rstrip("/") if url not in {"/", "file:///"} else url
        self.protocol = protocol_of(url)
        options = default_storage_options(url)
        options.update(storage_options or {})
        self.connect_timeout = float(options.pop("connect_timeout", os.environ.get(ENV_CONNECT_TIMEOUT, 3.0)))
        self._endpoint = _endpoint_of(self.protocol, options)
        self._reachable = False
        if self.protocol == "gs":
            # gcsfs probes each bucket for hierarchical namespaces over TLS; against an emulator (plain http) that
            # stalls ~60 s per bucket. Off unless the user chose otherwise.
            os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        target = url
        if self.protocol == "file" and "://" not in url:
            target = str(Path(url).expanduser().resolve())
        try:
            fs, root = fsspec.core.url_to_fs(target, **options)
        except (ImportError, ValueError, TypeError) as exc:
            raise RegistryError(f"cannot open registry {url!r}: {exc}") from exc
        self.fs: fsspec.AbstractFileSystem = fs
        self.root: str = str(root).rstrip("/")
        self.is_local = isinstance(fs, LocalFileSystem)

    # ------------------------------------------------------------------ helpers
    def path(self, *parts: str) -> str:
        """Absolute filesystem path of ``parts`` under the root."""
        return "/".join([self.root, *[p.strip("/") for p in parts if p]])

    def _call(self, what: str, func: Callable[[], T], *, writing: bool = False) -> T:
        """Run one storage operation, mapping "cannot connect" failures to RegistryUnavailableError.

        FileNotFoundError passes through for reads (callers turn it into Model/VersionNotFoundError); on a write it
        means the bucket or container itself is missing, which is a configuration error.
        """
        self.ping()
        try:
            return func()
        except FileNotFoundError as exc:
            if writing:
                raise RegistryError(
                    f"registry {self.url}: {what} failed: the bucket/container or root does not exist ({exc})"
                ) from exc
            raise
        except (FileExistsError, IsADirectoryError, NotADirectoryError):
            raise
        except RegistryError:
            raise
        except Exception as exc:
            if is_connection_error(exc):
                raise RegistryUnavailableError(f"registry {self.url} is unreachable ({what}): {exc}") from exc
            if isinstance(exc, PermissionError):
                raise RegistryError(f"registry {self.url}: permission denied ({what}): {exc}") from exc
            raise RegistryError(f"registry {self.url}: {what} failed: {type(exc).__name__}: {exc}") from exc

    def ping(self) -> None:
        """Fail fast with RegistryUnavailableError when a configured endpoint refuses TCP connections."""
        if self._reachable or self._endpoint is None:
            return
        host, port = self._endpoint
        try:
            with socket.create_connection((host, port), timeout=self.connect_timeout):
                pass
        except OSError as exc:
            raise RegistryUnavailableError(
                f"registry {self.url} is unreachable: cannot connect to {host}:{port} ({exc})"
            ) from exc
        self._reachable = True

    def invalidate(self, rel: str = "") -> None:
        """Drop cached listings so other writers' objects are visible."""
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(self.path(rel) if rel else None)

    # ------------------------------------------------------------------ reads
    def exists(self, rel: str) -> bool:
        """True when the object (or directory prefix) exists."""
        self.invalidate(rel)
        return bool(self._call(f"exists {rel}", lambda: self.fs.exists(self.path(rel))))

    def _source(self, rel: str) -> str:
        """The path of ``rel``; on file:// it must stay inside the root and be a regular file (confinement)."""
        path = self.path(rel)
        if self.is_local:
            confine(self.root, path)
        return path

    def read_bytes(self, rel: str, limit: int = DOCUMENT_LIMIT_BYTES) -> bytes:
        """Whole object as bytes (at most ``limit``: past it, reading stops and ChecksumMismatchError is raised)."""

        def run() -> bytes:
            data = bytes(self.fs.cat_file(self._source(rel), start=0, end=limit + 1))  # one ranged read
            if len(data) > limit:
                raise over_limit(rel, limit)
            return data

        return self._call(f"read {rel}", run)

    def read_text(self, rel: str) -> str:
        """Whole object as UTF-8 text; FileNotFoundError if absent; not UTF-8 is a RegistryError (never echoed)."""
        try:
            return self.read_bytes(rel).decode("utf-8")
        except UnicodeDecodeError:
            raise RegistryError(f"registry object {rel} is not UTF-8 text", reason="not_text") from None

    def size(self, rel: str) -> int:
        """Object size in bytes."""
        self.invalidate(rel)
        return int(self._call(f"size {rel}", lambda: self.fs.size(self._source(rel))))

    def list_dir(self, rel: str = "") -> list[str]:
        """Names (not paths) of the entries directly under ``rel``; empty when it does not exist."""
        self.invalidate(rel)

        def run() -> list[str]:
            try:
                entries = self.fs.ls(self.path(rel), detail=False)
            except FileNotFoundError:
                return []
            return sorted({str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries})

        return self._call(f"list {rel or '/'}", run)

    def find(self, rel: str, maxdepth: int | None = None) -> list[str]:
        """Paths relative to ``rel`` of every object under it (one listing call on object stores)."""
        self.invalidate(rel)
        base = self.path(rel).rstrip("/") + "/"

        def run() -> list[str]:
            try:
                found = self.fs.find(self.path(rel), maxdepth=maxdepth)
            except FileNotFoundError:
                return []
            return sorted(str(p)[len(base) :] for p in found if str(p).startswith(base))

        return self._call(f"list {rel}", run)

    def sha256(self, rel: str) -> tuple[str, int]:
        """(sha256 hex, size) of an object, streamed back from storage (used to verify uploads)."""

        def run() -> tuple[str, int]:
            digest = hashlib.sha256()
            total = 0
            with self.fs.open(self._source(rel), "rb", block_size=CHUNK_SIZE) as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    digest.update(chunk)
                    total += len(chunk)
            return digest.hexdigest(), total

        return self._call(f"read back {rel}", run)

    def iter_chunks(self, rel: str, limit: int | None = None) -> Iterator[bytes]:
        """Stream an object in CHUNK_SIZE pieces; past ``limit`` bytes reading stops (ChecksumMismatchError)."""
        self.ping()
        total = 0
        try:
            with self.fs.open(self._source(rel), "rb", block_size=CHUNK_SIZE) as handle:
                while chunk := handle.read(CHUNK_SIZE if limit is None else min(CHUNK_SIZE, limit + 1 - total)):
                    total += len(chunk)
                    if limit is not None and total > limit:
                        raise over_limit(rel, limit)
                    yield chunk
        except (FileNotFoundError, RegistryError):
            raise
        except Exception as exc:
            if is_connection_error(exc):
                raise RegistryUnavailableError(f"registry {self.url} is unreachable (download {rel}): {exc}") from exc
            raise RegistryError(f"registry {self.url}: download {rel} failed: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------------ writes
    def _local_parent(self, path: str) -> None:
        if self.is_local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Replace an object atomically (readers see the old or the new content, never a mix)."""
        path = self.path(rel)

        def run() -> None:
            if self.is_local:
                self._local_parent(path)
                tmp = f"{path}.tmp-{uuid.uuid4().hex}"
                try:
                    Path(tmp).write_bytes(data)
                    Path(tmp).replace(path)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        Path(tmp).unlink()
            else:
                self.fs.pipe_file(path, data)

        self._call(f"write {rel}", run, writing=True)
        self.invalidate(rel)

    def create_bytes(self, rel: str, data: bytes) -> None:
        """Create an object only if absent (atomic where the store supports it); FileExistsError otherwise."""
        path = self.path(rel)

        def run() -> None:
            if self.is_local:
                self._local_parent(path)
                # Write the full content under a private name, then hard-link: link() fails if the name exists, so the
                # object appears complete and only once.
                fd, tmp = tempfile.mkstemp(prefix=".create-", dir=str(Path(path).parent))
                try:
                    Path(tmp).chmod(0o644)  # mkstemp makes 0600; registry files are world-readable like the others
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(data)
                    os.link(tmp, path)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        Path(tmp).unlink()
            else:
                self.fs.pipe_file(path, data, mode="create")

        self._call(f"create {rel}", run, writing=True)
        self.invalidate(rel)

    def put_file(self, local: str | Path, rel: str, callback: Any = None) -> None:
        """Upload a local file to ``rel`` (in place; callers publish behind a commit marker)."""
        path = self.path(rel)

        def run() -> None:
            self._local_parent(path)
            if callback is None:
                self.fs.put_file(str(local), path)
            else:
                self.fs.put_file(str(local), path, callback=callback)

        self._call(f"upload {rel}", run, writing=True)
        self.invalidate(rel)

    def remove(self, rel: str) -> None:
        """Delete one object; absent objects are fine."""

        def run() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.path(rel))

        self._call(f"delete {rel}", run, writing=True)
        self.invalidate(rel)


__all__ = [
    "CHUNK_SIZE",
    "ENV_AZURE_CONNECTION_STRING",
    "ENV_GCS_EMULATOR",
    "ENV_S3_ENDPOINT",
    "Storage",
    "default_storage_options",
    "parse_storage_option",
    "protocol_of",
]
