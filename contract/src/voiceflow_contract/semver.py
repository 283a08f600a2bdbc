"""Semantic versions as code: parse and order versions, and decide the bump between two models.

The rules (docs/contract.md, "Semantic versions"):

* MAJOR: the required input/output contract changes incompatibly: an input or output is renamed or removed, a dtype or
  rank changes, a fixed dimension changes (or a dynamic one becomes fixed), an input is added, or the number of speakers
  changes. Every existing consumer may break.
* MINOR: a new architecture (type or signature) or a new backward-compatible output. Old consumers keep working.
* PATCH: same architecture and same I/O: new weights, a graph optimisation, a bug fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Self

from pydantic import BaseModel, ConfigDict, Field

from voiceflow_contract.errors import ContractError, InvalidNameError

# Strict MAJOR.MINOR.PATCH, no leading zeros, optional leading "v"; no pre-release tags (folders are v<semver>).
if TYPE_CHECKING:
    from voiceflow_contract.onnx_io import TensorInfo

_VERSION_RE = re.compile(r"^v?(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$")


class Bump(StrEnum):
    """Which part of the version to increase."""

    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"

    @property
    def rank(self) -> int:
        """Severity for comparisons: PATCH < MINOR < MAJOR."""
        return {Bump.PATCH: 0, Bump.MINOR: 1, Bump.MAJOR: 2}[self]


@dataclass(frozen=True, order=True)
class Version:
    """A semantic version ``MAJOR.MINOR.PATCH``; ordered numerically; ``str(v) == "1.2.3"``, ``v.tag == "v1.2.3"``."""

    major: int
    minor: int
    patch: int

    def __post_init__(self) -> None:
        for part in (self.major, self.minor, self.patch):
            if isinstance(part, bool) or not isinstance(part, int) or part < 0:
                parts = f"{self.major!r}.{self.minor!r}.{self.patch!r}"
                raise InvalidNameError(f"version parts must be non-negative integers, got {parts}")

    @classmethod
    def parse(cls, text: str | Version) -> Self:
        """Parse ``"1.2.3"`` or ``"v1.2.3"``; anything else raises :class:`InvalidNameError` (a ``ValueError``)."""
        if isinstance(text, Version):
            return cls(text.major, text.minor, text.patch)
        if not isinstance(text, str):
            raise InvalidNameError(f"version must be a string like '1.2.3', got {type(text).__name__}")
        match = _VERSION_RE.fullmatch(text.strip())
        if match is None:
            raise InvalidNameError(f"invalid version {text!r}: expected MAJOR.MINOR.PATCH such as '1.2.3' or 'v1.2.3'")
        return cls(int(match[1]), int(match[2]), int(match[3]))

    @classmethod
    def is_valid(cls, text: str) -> bool:
        """True when ``text`` parses as a version."""
        return isinstance(text, str) and _VERSION_RE.fullmatch(text.strip()) is not None

    @property
    def tag(self) -> str:
        """The registry folder / git tag form, ``v1.2.3``."""
        return f"v{self}"

    def bump(self, kind: Bump | str) -> Version:
        """Return the next version for a bump of ``kind`` (lower parts reset to 0)."""
        kind = Bump(kind)
        if kind is Bump.MAJOR:
            return Version(self.major + 1, 0, 0)
        if kind is Bump.MINOR:
            return Version(self.major, self.minor + 1, 0)
        return Version(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


INITIAL_VERSION = Version(1, 0, 0)


def next_version(current: Version | str | None, bump: Bump | str) -> Version:
    """The version after ``current`` for ``bump``; a model's first version is 1.0.0 whatever the bump."""
    if current is None:
        return INITIAL_VERSION
    return Version.parse(current).bump(bump)


class TensorSignature(BaseModel):
    """dtype and shape of one graph input or output; symbolic dims are strings, unknown dims None."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dtype: str
    shape: tuple[int | str | None, ...]

    @property
    def rank(self) -> int:
        """Number of dimensions."""
        return len(self.shape)


class ModelSignature(BaseModel):
    """What a consumer can observe of a model: its I/O tensors, plus the architecture that produced the weights."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: dict[str, TensorSignature]
    outputs: dict[str, TensorSignature]
    architecture_type: str | None = None
    architecture_signature: str | None = None
    num_speakers: int | None = Field(default=None, description="Speakers the primary output scores; None when dynamic")


@dataclass(frozen=True)
class BumpDecision:
    """A bump and the reasons for it, most severe first (the reasons feed CLI output and publish logs)."""

    bump: Bump
    reasons: list[str] = field(default_factory=list)


def _signature(tensor: TensorInfo) -> TensorSignature:
    """TensorSignature of one declared graph input or output."""
    return TensorSignature(dtype=tensor.dtype, shape=tensor.shape)


def signature_from_onnx(
    path: str | Path,
    architecture_type: str | None = None,
    architecture_signature: str | None = None,
    *,
    primary_output: str = "speaker_embeddings",
) -> ModelSignature:
    """Read a model's I/O signature from its ONNX graph (weights are not loaded into the signature).

    ``num_speakers`` is the fixed second dimension of a rank-2 ``primary_output`` when the graph states it.
    Raises :class:`ContractError` when the file is not a readable ONNX model.
    """
    # onnx takes a third of a second to import and spec imports this module for Version: load it only to read a graph.
    import onnx

    from voiceflow_contract.onnx_io import graph_inputs, graph_outputs

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ... for corrupt files; all mean "not a model"
        raise ContractError(f"cannot read ONNX model {path}: {exc}") from exc
    inputs = {tensor.name: _signature(tensor) for tensor in graph_inputs(model)}
    outputs = {tensor.name: _signature(tensor) for tensor in graph_outputs(model)}
    num_speakers: int | None = None
    primary = outputs.get(primary_output)
    if primary is not None and primary.rank == 2 and isinstance(primary.shape[1], int):
        num_speakers = primary.shape[1]
    return ModelSignature(
        inputs=inputs,
        outputs=outputs,
        architecture_type=architecture_type,
        architecture_signature=architecture_signature,
        num_speakers=num_speakers,
    )


def _tensor_breaks(kind: str, name: str, old: TensorSignature, new: TensorSignature) -> list[str]:
    """Reasons why ``new`` is incompatible with consumers of ``old`` (empty when compatible)."""
    reasons: list[str] = []
    if old.dtype != new.dtype:
        reasons.append(f"{kind} '{name}' dtype changed {old.dtype} -> {new.dtype}")
    if old.rank != new.rank:
        shapes = f"{list(old.shape)} -> {list(new.shape)}"
        reasons.append(f"{kind} '{name}' rank changed {old.rank} -> {new.rank} ({shapes})")
        return reasons
    for axis, (before, after) in enumerate(zip(old.shape, new.shape, strict=True)):
        before_fixed, after_fixed = isinstance(before, int), isinstance(after, int)
        if before_fixed and after_fixed and before != after:
            reasons.append(f"{kind} '{name}' dim {axis} changed {before} -> {after}")
        elif kind == "input" and not before_fixed and after_fixed and before is not None:
            # A dynamic input axis (e.g. batch_size) that becomes fixed rejects what used to work.
            reasons.append(f"{kind} '{name}' dim {axis} became fixed ({before} -> {after})")
        elif kind == "output" and before_fixed and not after_fixed:
            # Consumers sized buffers from the fixed output dimension.
            reasons.append(f"{kind} '{name}' dim {axis} is no longer fixed ({before} -> {after})")
    return reasons


def explain_bump(old: ModelSignature, new: ModelSignature) -> BumpDecision:
    """Decide the bump from ``old`` to ``new`` and say why (see the module docstring for the rules)."""
    major: list[str] = []
    for name, before in old.inputs.items():
        after = new.inputs.get(name)
        if after is None:
            major.append(f"input '{name}' removed or renamed")
        else:
            major.extend(_tensor_breaks("input", name, before, after))
    major.extend(f"new required input '{name}'" for name in new.inputs if name not in old.inputs)
    for name, before in old.outputs.items():
        after = new.outputs.get(name)
        if after is None:
            major.append(f"output '{name}' removed or renamed")
        else:
            major.extend(_tensor_breaks("output", name, before, after))
    if old.num_speakers is not None and new.num_speakers is not None and old.num_speakers != new.num_speakers:
        reason = f"num_speakers changed {old.num_speakers} -> {new.num_speakers}"
        if not any("dim 1 changed" in r for r in major):
            major.append(reason)
    if major:
        return BumpDecision(Bump.MAJOR, major)

    minor = [f"new output '{name}' (backward compatible)" for name in new.outputs if name not in old.outputs]
    if old.architecture_type != new.architecture_type:
        minor.append(f"architecture type changed {old.architecture_type!r} -> {new.architecture_type!r}")
    elif old.architecture_signature != new.architecture_signature:
        minor.append("architecture signature changed (new layer structure)")
    if minor:
        return BumpDecision(Bump.MINOR, minor)
    return BumpDecision(Bump.PATCH, ["same I/O contract and architecture (new weights or graph optimisation)"])


def decide_bump(old: ModelSignature, new: ModelSignature) -> Bump:
    """MAJOR, MINOR or PATCH for publishing ``new`` after ``old`` (see :func:`explain_bump` for the reasons)."""
    return explain_bump(old, new).bump


__all__ = [
    "INITIAL_VERSION",
    "Bump",
    "BumpDecision",
    "ModelSignature",
    "TensorSignature",
    "Version",
    "decide_bump",
    "explain_bump",
    "next_version",
    "signature_from_onnx",
]
