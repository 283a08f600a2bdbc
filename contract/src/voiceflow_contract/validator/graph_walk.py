"""Every tensor and node of a model, subgraphs included: the places a hostile file can hide things.

The top-level ``graph.initializer`` is not the only place weights live: a ``Constant`` node's tensor attribute, an
``If``/``Loop``/``Scan`` branch's own initializers, sparse initializers and model-local functions all carry tensors
(issue 12 finding 5: external data hidden there passed "all weights inside the file").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import onnx

# Ops whose output size is set by a runtime tensor: fed a computed (non-constant) shape they can allocate anything.
DATA_DEPENDENT_ALLOCATORS = frozenset({"ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Pad", "Upsample"})


def _nodes(nodes: Iterable[onnx.NodeProto]) -> Iterator[onnx.NodeProto]:
    for node in nodes:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _nodes(attr.g.node)
            for sub in attr.graphs:
                yield from _nodes(sub.node)


def iter_nodes(model: onnx.ModelProto) -> Iterator[onnx.NodeProto]:
    """Every node of the main graph, of every subgraph (node attributes, recursively) and of every local function."""
    yield from _nodes(model.graph.node)
    for function in model.functions:
        yield from _nodes(function.node)


def _graphs(model: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    yield model.graph
    for node in iter_nodes(model):
        for attr in node.attribute:
            if attr.HasField("g"):
                yield attr.g
            yield from attr.graphs


def _sparse(where: str, sparse: onnx.SparseTensorProto) -> Iterator[tuple[str, onnx.TensorProto]]:
    yield f"{where} (values)", sparse.values
    yield f"{where} (indices)", sparse.indices


def iter_tensors(model: onnx.ModelProto) -> Iterator[tuple[str, onnx.TensorProto]]:
    """(where, tensor) for every tensor stored in the model: initializers, sparse initializers and node attributes of
    the main graph, every subgraph and every local function."""
    for graph in _graphs(model):
        for tensor in graph.initializer:
            yield f"initializer {tensor.name!r} of graph {graph.name!r}", tensor
        for sparse in graph.sparse_initializer:
            yield from _sparse(f"sparse initializer of graph {graph.name!r}", sparse)
    for node in iter_nodes(model):
        for attr in node.attribute:
            where = f"attribute {attr.name!r} of {node.op_type} node {node.name!r}"
            if attr.HasField("t"):
                yield where, attr.t
            for tensor in attr.tensors:
                yield where, tensor
            if attr.HasField("sparse_tensor"):
                yield from _sparse(where, attr.sparse_tensor)
            for sparse in attr.sparse_tensors:
                yield from _sparse(where, sparse)


def external_tensors(model: onnx.ModelProto) -> list[str]:
    """Where each tensor that references external data lives (empty for a self-contained file)."""
    return [
        where
        for where, tensor in iter_tensors(model)
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0
    ]


def _constant_names(model: onnx.ModelProto) -> set[str]:
    names = {t.name for graph in _graphs(model) for t in graph.initializer}
    names.update(out for node in iter_nodes(model) if node.op_type == "Constant" for out in node.output)
    return names


def data_dependent_allocations(model: onnx.ModelProto) -> list[str]:
    """Allocation ops whose size input is computed at run time (not an initializer or Constant): reported, not refused
    (a real model may Expand to the batch size); the memory budget is what bounds them."""
    constants = _constant_names(model)
    found = []
    for node in iter_nodes(model):
        if node.op_type not in DATA_DEPENDENT_ALLOCATORS or not node.input:
            continue
        size_inputs = list(node.input) if node.op_type == "Range" else list(node.input[1:] or node.input[:1])
        if node.op_type == "ConstantOfShape":
            size_inputs = [node.input[0]]
        if any(name and name not in constants for name in size_inputs):
            found.append(f"{node.op_type} {node.name or node.output[0]!r}")
    return found


__all__ = ["DATA_DEPENDENT_ALLOCATORS", "data_dependent_allocations", "external_tensors", "iter_nodes", "iter_tensors"]
