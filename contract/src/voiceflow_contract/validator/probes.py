"""Probe inputs: the tensors the validator feeds a model, shaped and typed as the model itself declares its input.

Feeding the declared dtype and fixed dims means each defect is reported once, by the rule that names it: a float64
input fails ``input.dtype`` and not also every runtime check.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from voiceflow_contract.onnx_io import TensorInfo

Array = npt.NDArray[Any]


def probe_shape(tensor: TensorInfo, batch: int, window: int) -> list[int]:
    """The tensor the model declares, at ``batch``: fixed dims as declared, symbolic ones filled from the contract."""
    shape: list[int] = []
    for axis, dim in enumerate(tensor.shape):
        if axis == 0:
            shape.append(batch)
        elif isinstance(dim, int):
            shape.append(dim)
        else:
            shape.append(window if axis == 1 else 1)
    return shape


def as_model_dtype(audio: Array, dtype: Any) -> Array:
    """Audio in [-1, 1] cast to the model's declared input dtype (integers scaled to 16-bit PCM range)."""
    np_dtype = np.dtype(dtype)
    if np_dtype.kind in "iu":
        info = np.iinfo(np_dtype)
        return np.clip(np.round(audio * 32767.0), info.min, info.max).astype(np_dtype)
    if np_dtype.kind == "b":
        return audio > 0
    return audio.astype(np_dtype)


def probes(shape: list[int], dtype: Any, seed: int = 0) -> dict[str, Array]:
    """Named batch-1 probe inputs: random speech-like noise, silence and a full-scale (clipping) signal."""
    rng = np.random.default_rng(seed)
    size = tuple(shape)
    random = np.clip(np.asarray(rng.normal(0.0, 0.1, size=size)), -1.0, 1.0)
    signs = np.sign(np.asarray(rng.normal(size=size)))
    loud = np.where(signs == 0, 1.0, signs)
    return {
        "random": as_model_dtype(random, dtype),
        "silence": as_model_dtype(np.zeros(shape), dtype),
        "loud": as_model_dtype(loud, dtype),
    }


__all__ = ["Array", "as_model_dtype", "probe_shape", "probes"]
