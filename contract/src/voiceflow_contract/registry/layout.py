"""Where things live in a registry root (relative paths; the Storage adds the root).

<root>/manifest.json                       catalogue of models, versions, pointer moves (derived: manifest_store)
<root>/.lock                               short-lived optimistic lock for manifest/pointer updates
<root>/<model>/v<semver>/model.onnx
<root>/<model>/v<semver>/metadata.json
<root>/<model>/v<semver>/validation_report.json
<root>/<model>/v<semver>/checksum.sha256   `sha256sum` format; written LAST: its presence commits the version
<root>/<model>/v<semver>/.publishing       reservation held by the publisher while uploading (removed after commit)
<root>/<model>/latest                      pointer object (JSON: version + that pointer's append-only history)
<root>/<model>/aliases/<alias>             named pointers (stable, canary, ...)
"""

from __future__ import annotations

import logging
import re

from voiceflow_contract.errors import ChecksumMismatchError
from voiceflow_contract.registry.names import LATEST
from voiceflow_contract.semver import Version

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LOCK = ".lock"
MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
REPORT_FILE = "validation_report.json"
CHECKSUM_FILE = "checksum.sha256"
RESERVATION_FILE = ".publishing"
ALIASES_DIR = "aliases"

VERSION_FILES = (MODEL_FILE, METADATA_FILE, REPORT_FILE, CHECKSUM_FILE)
"""The four files of a committed version folder, in the seed's order."""


def model_dir(model: str) -> str:
    """``<model>``."""
    return model


def version_dir(model: str, version: Version) -> str:
    """``<model>/v<semver>``."""
    return f"{model}/{version.tag}"


def version_file(model: str, version: Version, name: str) -> str:
    """``<model>/v<semver>/<name>``."""
    return f"{version_dir(model, version)}/{name}"


def pointer_path(model: str, pointer: str) -> str:
    """``<model>/latest`` for the latest pointer, ``<model>/aliases/<name>`` for every other alias."""
    if pointer == LATEST:
        return f"{model}/{LATEST}"
    return f"{model}/{ALIASES_DIR}/{pointer}"


def checksum_line(sha256: str, filename: str = MODEL_FILE) -> str:
    """One ``sha256sum`` line: ``<hex>  model.onnx``."""
    return f"{sha256}  {filename}\n"


_CHECKSUM_RE = re.compile(r"([0-9a-f]{64}) [ *](\S+)", re.ASCII)


def parse_checksum(text: str, filename: str = MODEL_FILE) -> str:
    """The sha256 recorded for ``filename`` in a ``sha256sum`` file; a malformed file raises ChecksumMismatchError."""
    for line in text.splitlines():
        match = _CHECKSUM_RE.fullmatch(line.strip())
        if match is not None and match[2] == filename:
            return match[1]
    # Never echo the text: it may be anything the registry's files point at (issue 12 finding 6).
    logger.warning("%s is malformed: %d characters, no '<sha256>  %s' line", CHECKSUM_FILE, len(text), filename)
    raise ChecksumMismatchError(
        f"{CHECKSUM_FILE} is malformed: no '<sha256>  {filename}' line", reason="checksum_malformed"
    )


__all__ = [
    "ALIASES_DIR",
    "CHECKSUM_FILE",
    "LOCK",
    "MANIFEST",
    "METADATA_FILE",
    "MODEL_FILE",
    "REPORT_FILE",
    "RESERVATION_FILE",
    "VERSION_FILES",
    "checksum_line",
    "model_dir",
    "parse_checksum",
    "pointer_path",
    "version_dir",
    "version_file",
]
