"""The declared inputs and outputs of a served ONNX file, read without loading its weights.

``onnx.load`` parses the whole ModelProto, initializers included: for a 362 MB model that is hundreds of MB in the
serving process for a question about a few names and dims. Here the file is memory-mapped and the protobuf wire
format walked down to ``ModelProto.graph``; only the graph's ``input`` and ``output`` ValueInfoProtos (a few bytes
each) are parsed, by onnx, and turned into :class:`~voiceflow_contract.onnx_io.TensorInfo` by the one ONNX I/O
helper. Initializer names are read (to leave out initializers old exporters list as inputs); their data never is.
The file has passed the contract validator before it is served; a malformed one raises ValueError.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path

import onnx

from voiceflow_contract.onnx_io import TensorInfo, tensor_info, text

# Field numbers in onnx.proto3.
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT, _GRAPH_SPARSE_INITIALIZER = 5, 11, 12, 15
_TENSOR_NAME = 8
_SPARSE_VALUES = 1
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5

Span = tuple[int, int]  # [start, end) offsets of a message in the mapped file


def _varint(buf: mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated or malformed varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: mmap.mmap, span: Span) -> Iterator[tuple[int, Span | None]]:
    """``(field number, payload span)`` of one message; the span is None for scalar fields (skipped)."""
    pos, end = span
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, pos = _varint(buf, pos, end)
            yield field, None
        elif wire in (_FIXED64, _FIXED32):
            pos += 8 if wire == _FIXED64 else 4
            yield field, None
        elif wire == _LENGTH_DELIMITED:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise ValueError("a field runs past the end of its message")
            yield field, (pos, pos + length)
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    if pos != end:
        raise ValueError("a field runs past the end of its message")


def _sub(buf: mmap.mmap, span: Span, number: int) -> list[Span]:
    return [payload for field, payload in _fields(buf, span) if field == number and payload is not None]


def _tensor_name(buf: mmap.mmap, span: Span) -> str:
    names = _sub(buf, span, _TENSOR_NAME)
    return text(buf[names[-1][0] : names[-1][1]]) if names else ""


def declared_graph_io(path: str | Path) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """The graph's real inputs (initializers left out) and its outputs, in order, as declared in ``path``."""
    inputs: list[TensorInfo] = []
    outputs: list[TensorInfo] = []
    initializers: set[str] = set()
    with Path(path).open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        graphs = _sub(buf, (0, len(buf)), _MODEL_GRAPH)
        if not graphs:
            raise ValueError(f"{Path(path).name} has no graph")
        for graph in graphs:  # protobuf merges repeated occurrences of a message field
            for field, payload in _fields(buf, graph):
                if payload is None:
                    continue
                if field == _GRAPH_INITIALIZER:
                    initializers.add(_tensor_name(buf, payload))
                elif field == _GRAPH_SPARSE_INITIALIZER:
                    initializers.update(_tensor_name(buf, values) for values in _sub(buf, payload, _SPARSE_VALUES))
                elif field in (_GRAPH_INPUT, _GRAPH_OUTPUT):
                    info = tensor_info(onnx.ValueInfoProto.FromString(buf[payload[0] : payload[1]]))
                    (inputs if field == _GRAPH_INPUT else outputs).append(info)
    return [i for i in inputs if i.name not in initializers], outputs


__all__ = ["declared_graph_io"]
