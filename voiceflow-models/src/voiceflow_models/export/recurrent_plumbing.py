"""Shape plumbing around an exported LSTM stack, removed: fewer graph nodes per window at batch 1.

The dynamo export of ``nn.LSTM(num_layers=3, batch_first=True)`` wraps each ONNX LSTM node in shape arithmetic that
ONNX Runtime's optimiser keeps (GE2E: 64 nodes, 28 of them this plumbing; each costs a kernel launch per window):

* zero initial states built per call (``Expand`` of a zero constant to ``[layers, batch, hidden]``, ``Split``): an
  LSTM without ``initial_h`` / ``initial_c`` starts from zeros, so the inputs are dropped;
* between layers, ``Y [T, 1, B, H]`` -> ``Transpose(0, 2, 1, 3)`` -> ``Reshape`` to 3-D (the new shape computed from
  ``Shape``/``Gather``/``Slice``/``Mul``/``Concat``): the same tensor as ``Squeeze(Y, 1)``;
* the last layer's hidden state picked as ``Gather(Concat(Y_h of every layer), last)``: ``Squeeze(Y_h, 0)``;
* ``Expand`` feeding the divisor of a ``Div`` / ``Mul``: broadcasting does it.

Each rewrite is matched on its exact pattern; nodes no output needs any more are dropped. ``optimize_model`` keeps the
result only if its outputs equal the input graph's (parity check), so an unmatched graph is left as it was.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

RECURRENT_OPS = ("LSTM", "GRU", "DynamicQuantizeLSTM")
_PASS_THROUGH = ("Split", "Expand", "Identity", "Reshape", "Unsqueeze")


class _Graph:
    """The graph with producer and initializer lookups."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.producer = {out: node for node in graph.node for out in node.output}
        self.inits = {init.name: init for init in graph.initializer}
        self.added: list[onnx.NodeProto] = []

    def is_zero(self, name: str, depth: int = 0) -> bool:
        """Whether ``name`` is all zeros by construction (a zero constant through shape-only ops)."""
        if name in self.inits:
            return not np.any(numpy_helper.to_array(self.inits[name]))
        node = self.producer.get(name)
        if node is None or depth > 4:
            return False
        if node.op_type in _PASS_THROUGH:
            return self.is_zero(node.input[0], depth + 1)
        if node.op_type == "ConstantOfShape":
            value = [a for a in node.attribute if a.name == "value"]
            return not value or not np.any(numpy_helper.to_array(value[0].t))
        return False

    def squeeze(self, source: str, axis: int, output: str, name: str) -> None:
        axes = f"{name}_axes"
        self.graph.initializer.append(numpy_helper.from_array(np.array([axis], dtype=np.int64), axes))
        self.added.append(helper.make_node("Squeeze", [source, axes], [output], name=name))


def _attr(node: onnx.NodeProto, name: str) -> list[int] | int | None:
    for a in node.attribute:
        if a.name == name:
            return list(a.ints) if a.ints else a.i
    return None


def _drop_zero_states(g: _Graph, rnns: list[onnx.NodeProto]) -> int:
    dropped = 0
    for node in rnns:
        for k in (5, 6):  # initial_h, initial_c
            if len(node.input) > k and node.input[k] and g.is_zero(node.input[k]):
                node.input[k] = ""
                dropped += 1
    return dropped


def _chain_layers(g: _Graph, rnns: list[onnx.NodeProto]) -> int:
    outputs = {node.output[0] for node in rnns if node.output and node.output[0]}
    chained = 0
    for node in rnns:
        reshape = g.producer.get(node.input[0])
        if reshape is None or reshape.op_type != "Reshape":
            continue
        transpose = g.producer.get(reshape.input[0])
        if transpose is None or transpose.op_type != "Transpose" or transpose.input[0] not in outputs:
            continue
        if _attr(transpose, "perm") != [0, 2, 1, 3]:
            continue
        squeezed = f"{node.input[0]}_squeezed"
        g.squeeze(transpose.input[0], 1, squeezed, f"{node.name}_input_squeeze")
        node.input[0] = squeezed
        chained += 1
    return chained


def _last_hidden(g: _Graph) -> int:
    replaced = 0
    for node in list(g.graph.node):
        if node.op_type != "Gather" or node.input[1] not in g.inits:
            continue
        concat = g.producer.get(node.input[0])
        if concat is None or concat.op_type != "Concat" or (_attr(concat, "axis") or 0) != 0:
            continue
        if (_attr(node, "axis") or 0) != 0:
            continue
        index = numpy_helper.to_array(g.inits[node.input[1]])
        if index.ndim != 0 or int(index) not in (-1, len(concat.input) - 1):
            continue
        source = g.producer.get(concat.input[-1])
        if source is None or source.op_type not in RECURRENT_OPS or concat.input[-1] != source.output[1]:
            continue
        g.graph.node.remove(node)
        g.squeeze(concat.input[-1], 0, node.output[0], f"{node.name}_squeeze")
        replaced += 1
    return replaced


def _broadcast_divisors(g: _Graph) -> int:
    replaced = 0
    for node in g.graph.node:
        if node.op_type != "Expand":
            continue
        users = [u for u in g.graph.node if node.output[0] in u.input]
        if users and all(u.op_type in ("Div", "Mul") and list(u.input).index(node.output[0]) == 1 for u in users):
            for user in users:
                user.input[1] = node.input[0]
            replaced += 1
    return replaced


def _prune_and_sort(graph: onnx.GraphProto) -> None:
    """Drop nodes no graph output needs, order the rest topologically, drop unused initializers."""
    producer = {out: node for node in graph.node for out in node.output}
    live: set[int] = set()
    stack = [o.name for o in graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in live:
            continue
        live.add(id(node))
        stack.extend(i for i in node.input if i)
    pending = [n for n in graph.node if id(n) in live]
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    ordered: list[onnx.NodeProto] = []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError("recurrent_plumbing: the graph has a cycle or a missing input")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
    used = {i for node in ordered for i in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def prune_recurrent_plumbing(input_path: Path, output_path: Path) -> dict[str, int]:
    """Write ``input_path`` without the plumbing (module docstring) to ``output_path``; returns what was rewritten
    (all zeros: nothing matched, the graph is copied as it was)."""
    model = onnx.load(str(input_path))
    before = len(model.graph.node)
    g = _Graph(model.graph)
    rnns = [node for node in model.graph.node if node.op_type in RECURRENT_OPS]
    counts = {
        "zero_states": _drop_zero_states(g, rnns),
        "layer_chains": _chain_layers(g, rnns),
        "last_hidden": _last_hidden(g),
        "broadcast_divisors": _broadcast_divisors(g),
    }
    model.graph.node.extend(g.added)
    _prune_and_sort(model.graph)
    counts["nodes_removed"] = before - len(model.graph.node)
    onnx.save(model, str(output_path))
    return counts
