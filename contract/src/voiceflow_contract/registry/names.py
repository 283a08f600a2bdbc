"""Validation of model names, pointer (alias) names and version references.

Every name that ends up in a storage path goes through here first, so path traversal (``../``, ``/``, ``\\``), odd
unicode (look-alike letters, zero-width or control characters) and over-long names are refused before any I/O.
"""

from __future__ import annotations

import re

from voiceflow_contract.errors import InvalidNameError
from voiceflow_contract.semver import Version

# ASCII only (re.ASCII): a Cyrillic "а" must not pass for a Latin "a" in a bucket path.
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.ASCII)
_POINTER_RE = re.compile(r"[a-z][a-z0-9._-]{0,63}", re.ASCII)  # letter first: "1.0" must never be read as an alias
_VERSION_TEXT_RE = re.compile(r"v?[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}", re.ASCII)

LATEST = "latest"
"""The pointer every publish moves by default."""

RESERVED_NAMES = frozenset({"aliases", "manifest.json", ".lock"})
"""Names that collide with the registry's own objects and so cannot be models or aliases."""


def _check_text(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidNameError(f"{kind} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidNameError(f"{kind} must not be empty")
    return value


def _describe(value: str) -> str:
    # ascii() shows hidden characters (zero-width spaces, newlines) that a plain repr in a terminal would hide.
    return ascii(value)


def validate_model_name(name: object) -> str:
    """Return ``name`` if it is a valid model name (``^[a-z0-9][a-z0-9._-]{0,63}$``), else raise InvalidNameError."""
    text = _check_text("model name", name)
    if _NAME_RE.fullmatch(text) is None or text in RESERVED_NAMES:
        raise InvalidNameError(
            f"invalid model name {_describe(text)}: use 1-64 lowercase ASCII letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', '..', spaces or unicode)"
        )
    return text


def validate_pointer_name(name: object) -> str:
    """Return ``name`` if it is a valid pointer/alias name (``^[a-z][a-z0-9._-]{0,63}$``, not a version)."""
    text = _check_text("alias", name)
    if _VERSION_TEXT_RE.fullmatch(text) is not None:
        raise InvalidNameError(f"invalid alias {_describe(text)}: an alias must not look like a version")
    if _POINTER_RE.fullmatch(text) is None or text in RESERVED_NAMES:
        raise InvalidNameError(
            f"invalid alias {_describe(text)}: use 1-64 lowercase ASCII letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    return text


def parse_version(value: object) -> Version:
    """Parse an exact version (``"1.2.3"``, ``"v1.2.3"`` or a Version); anything else raises InvalidNameError."""
    if isinstance(value, Version):
        return value
    text = _check_text("version", value)
    if _VERSION_TEXT_RE.fullmatch(text) is None:
        raise InvalidNameError(
            f"invalid version {_describe(text)}: expected MAJOR.MINOR.PATCH such as '1.2.3' or 'v1.2.3'"
        )
    return Version.parse(text)


def is_version_ref(ref: object) -> bool:
    """True when ``ref`` names an exact version rather than a pointer."""
    return isinstance(ref, Version) or (isinstance(ref, str) and _VERSION_TEXT_RE.fullmatch(ref) is not None)


def validate_ref(ref: object) -> Version | str:
    """Validate a reference: an exact version (a Version) or a pointer name like ``latest`` (a str)."""
    if is_version_ref(ref):
        return parse_version(ref)
    return validate_pointer_name(ref)


__all__ = [
    "LATEST",
    "RESERVED_NAMES",
    "is_version_ref",
    "parse_version",
    "validate_model_name",
    "validate_pointer_name",
    "validate_ref",
]
