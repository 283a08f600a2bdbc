"""Load pretrained encoder weights from a local checkpoint file (``model.net.pretrained=PATH``); never the network.

A checkpoint adapter turns whatever a file holds (resemblyzer's ``{"model_state": ...}``, a Lightning checkpoint, a
Hugging Face ``pytorch_model.bin`` / ``model.safetensors``, a plain state dict) into the state dict of the encoder
module being loaded. Adapters are registered by name with :func:`register_adapter`; ``format="auto"`` picks the
first registered adapter that recognises the file. :func:`load_pretrained` refuses a missing path, a checkpoint of
another architecture (missing or unexpected keys) and mismatched shapes with a :class:`PretrainedError` that names
the config key and the offending tensor key. See docs/model.md ("Pretrained encoders") for plugging in other weights.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from voiceflow_contract.errors import VoiceFlowError

CONFIG_KEY = "model.net.pretrained"
_SHOWN_KEYS = 5


class PretrainedError(VoiceFlowError):
    """A pretrained checkpoint cannot be loaded into the encoder (message names the config key and tensor key)."""


class CheckpointAdapter:
    """Maps one checkpoint layout onto the target module's state-dict keys. Subclass, set ``name``, register."""

    name: ClassVar[str] = ""

    def detect(self, checkpoint: Any) -> bool:
        """Whether ``checkpoint`` (the loaded file) has this adapter's layout (used by ``format="auto"``)."""
        return False

    def convert(self, checkpoint: Any, target_keys: list[str]) -> dict[str, torch.Tensor]:
        """The state dict to load, keyed like ``target_keys`` (the module's own ``state_dict()`` keys)."""
        raise NotImplementedError


ADAPTERS: dict[str, type[CheckpointAdapter]] = {}


def register_adapter(cls: type[CheckpointAdapter]) -> type[CheckpointAdapter]:
    """Class decorator: make ``cls`` available as ``model.net.pretrained_format=<cls.name>``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__}.name must be set to register a checkpoint adapter")
    ADAPTERS[cls.name] = cls
    return cls


def tensors_of(checkpoint: Any) -> dict[str, torch.Tensor]:
    """The tensors of a plain or Lightning (``state_dict``) checkpoint; empty when it is neither."""
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping):
        return {}
    return {str(k): v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}


def strip_common_prefix(tensors: dict[str, torch.Tensor], target_keys: list[str]) -> dict[str, torch.Tensor]:
    """Drop the prefix (e.g. ``net.encoder.``) under which most target keys appear in ``tensors``.

    Keys outside that prefix are dropped too (a Lightning checkpoint also holds the head and the front end).
    """
    if set(target_keys) <= set(tensors):
        return {k: v for k, v in tensors.items() if k in set(target_keys)}
    prefixes = Counter(k[: -len(t)] for k in tensors for t in target_keys if k.endswith("." + t) or k == t)
    if not prefixes:
        return tensors
    prefix, _ = prefixes.most_common(1)[0]
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def rename_weight_norm(tensors: dict[str, torch.Tensor], target_keys: list[str]) -> dict[str, torch.Tensor]:
    """Map old ``weight_g``/``weight_v`` weight-norm names onto ``parametrizations.weight.original0/1`` or back."""
    targets = set(target_keys)
    pairs = [(".weight_g", ".parametrizations.weight.original0"), (".weight_v", ".parametrizations.weight.original1")]
    renamed = {}
    for key, value in tensors.items():
        for old, new in pairs:
            if key.endswith(old) and key not in targets and key.removesuffix(old) + new in targets:
                key = key.removesuffix(old) + new
            elif key.endswith(new) and key not in targets and key.removesuffix(new) + old in targets:
                key = key.removesuffix(new) + old
        renamed[key] = value
    return renamed


@register_adapter
class StateDictAdapter(CheckpointAdapter):
    """A plain state dict of the encoder, or any checkpoint holding it under a prefix (Lightning's ``net.encoder.``).

    Also a torchaudio ``Wav2Vec2Model`` state dict (torchaudio's pipeline ``.pth`` files) for the wav2vec2 model.
    """

    name: ClassVar[str] = "state_dict"

    def detect(self, checkpoint: Any) -> bool:
        """Any mapping of tensors (checked last by ``auto``)."""
        return bool(tensors_of(checkpoint))

    def convert(self, checkpoint: Any, target_keys: list[str]) -> dict[str, torch.Tensor]:
        """Strip the common prefix and rename weight-norm tensors to the target's spelling."""
        return rename_weight_norm(strip_common_prefix(tensors_of(checkpoint), target_keys), target_keys)


def load_checkpoint_file(path: Path, key: str = CONFIG_KEY) -> Any:
    """Read ``path`` (torch pickle with ``weights_only=True``, or ``.safetensors``) without executing code."""
    if not path.is_file():
        raise PretrainedError(f"{key}: checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            safetensors_torch = importlib.import_module("safetensors.torch")  # optional: only HF checkpoints need it
        except ImportError as exc:
            raise PretrainedError(f"{key}: {path} is a safetensors file; `pip install safetensors` to read it") from exc
        load_file: Callable[[str], dict[str, torch.Tensor]] = safetensors_torch.load_file
        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors here
        raise PretrainedError(f"{key}: {path} is not a readable torch checkpoint: {exc}") from exc


def resolve_adapter(checkpoint: Any, fmt: str, path: Path, key: str = CONFIG_KEY) -> CheckpointAdapter:
    """The adapter named ``fmt``, or the first registered one that detects the layout when ``fmt == "auto"``."""
    if fmt != "auto":
        if fmt not in ADAPTERS:
            raise PretrainedError(f"{key}_format: unknown checkpoint format {fmt!r}; registered: {sorted(ADAPTERS)}")
        return ADAPTERS[fmt]()
    candidates = [cls() for name, cls in ADAPTERS.items() if name != StateDictAdapter.name]
    candidates.append(StateDictAdapter())  # the generic layout is the fallback
    for adapter in candidates:
        if adapter.detect(checkpoint):
            return adapter
    raise PretrainedError(f"{key}: {path} holds no tensors in a known layout; registered formats: {sorted(ADAPTERS)}")


def load_pretrained(
    module: nn.Module, path: str | Path, fmt: str = "auto", *, key: str = CONFIG_KEY, architecture: str = ""
) -> CheckpointAdapter:
    """Load the checkpoint at ``path`` into ``module`` (strict: every key, every shape); return the adapter used.

    Raises:
        PretrainedError: the file is missing or unreadable, holds another architecture (missing/unexpected keys,
            the first few named), or a tensor's shape differs (the key and both shapes named).
    """
    file = Path(path).expanduser()
    checkpoint = load_checkpoint_file(file, key)
    adapter = resolve_adapter(checkpoint, fmt, file, key)
    expected = module.state_dict()
    state = adapter.convert(checkpoint, list(expected))
    what = f"{key}={file} ({adapter.name} format)"
    arch = f" for {architecture}" if architecture else ""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise PretrainedError(
            f"{what}: not a checkpoint of this encoder{arch} (wrong architecture?): "
            f"missing key(s) {missing[:_SHOWN_KEYS]}{' ...' if len(missing) > _SHOWN_KEYS else ''}, "
            f"unexpected key(s) {unexpected[:_SHOWN_KEYS]}{' ...' if len(unexpected) > _SHOWN_KEYS else ''}"
        )
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise PretrainedError(
                f"{what}: shape mismatch at key '{name}': checkpoint {tuple(state[name].shape)}, "
                f"encoder{arch} {tuple(tensor.shape)}"
            )
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return adapter
