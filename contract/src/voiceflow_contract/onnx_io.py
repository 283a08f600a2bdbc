"""Reading an ONNX graph's declared inputs and outputs: the one place that walks ``ValueInfoProto`` shapes.

The validator, the semantic-version rules and publish all ask the same question (name, element type, dims) of a
file that may be hostile, so names that are not valid UTF-8 and element types no ONNX version defines are turned
into printable values here instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import onnx

Dim = int | str | None  # fixed size, symbolic name, or unknown


def text(value: str | bytes) -> str:
    """Protobuf hands back bytes for names that are not valid UTF-8 (hostile files); make them printable."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def onnx_type_name(elem_type: int) -> str:
    """ONNX's name for an element type (``float``), or ``unknown(<n>)`` for values no ONNX version defines."""
    try:
        return str(onnx.TensorProto.DataType.Name(elem_type)).lower()
    except ValueError:
        return f"unknown({elem_type})"


def dtype_name(elem_type: int) -> str:
    """Numpy spelling of an ONNX element type (``float32``), falling back to the ONNX name."""
    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type).name)
    except (KeyError, ValueError, TypeError):
        return onnx_type_name(elem_type)


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output as declared: name, ONNX element type, numpy dtype name and dims."""

    name: str
    elem_type: int
    dtype: str
    shape: tuple[Dim, ...]

    @property
    def rank(self) -> int:
        """Number of declared dimensions."""
        return len(self.shape)

    def dim(self, axis: int) -> Dim:
        """The declared size of ``axis`` (None when the axis is absent or unknown)."""
        return self.shape[axis] if -self.rank <= axis < self.rank else None


def tensor_info(value_info: Any) -> TensorInfo:
    """:class:`TensorInfo` of one ``onnx.ValueInfoProto``."""
    tensor_type = value_info.type.tensor_type
    elem = int(tensor_type.elem_type)
    dims: list[Dim] = []
    if tensor_type.HasField("shape"):
        for d in tensor_type.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param"):
                dims.append(text(d.dim_param))
            else:
                dims.append(None)
    return TensorInfo(text(value_info.name), elem, dtype_name(elem), tuple(dims))


def graph_inputs(model: onnx.ModelProto) -> list[TensorInfo]:
    """The graph's real inputs, in order (initializers listed as inputs by old exporters are left out)."""
    initializers = {text(init.name) for init in model.graph.initializer}
    return [tensor_info(vi) for vi in model.graph.input if text(vi.name) not in initializers]


def graph_outputs(model: onnx.ModelProto) -> list[TensorInfo]:
    """The graph's outputs, in order."""
    return [tensor_info(vi) for vi in model.graph.output]


def default_opset(model: onnx.ModelProto) -> int:
    """The model's default-domain (``ai.onnx``) opset version, 0 when it imports none."""
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


__all__ = [
    "Dim",
    "TensorInfo",
    "default_opset",
    "dtype_name",
    "graph_inputs",
    "graph_outputs",
    "onnx_type_name",
    "tensor_info",
    "text",
]
