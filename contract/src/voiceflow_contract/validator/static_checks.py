"""Static checks: the file, its parse, and the graph's declared inputs and outputs, before any session runs.

Hostile files are handled defensively: the size is checked before anything is read, the model is parsed from bytes
(external-data references are refused, so a model cannot make us read other files), and absurd declared dimensions
are refused before a session allocates for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from voiceflow_contract.onnx_io import TensorInfo, graph_inputs, graph_outputs, text
from voiceflow_contract.spec import ModelContract, Profile
from voiceflow_contract.validator.graph_walk import external_tensors
from voiceflow_contract.validator.probes import probe_shape
from voiceflow_contract.validator.rules import Checks

PROTOBUF_LIMIT_BYTES = 2**31 - 1  # a single ONNX protobuf cannot exceed 2 GiB
MAX_RANK = 32  # numpy arrays hold at most 64 axes; no contract tensor needs more than a few


@dataclass
class GraphFacts:
    """What the runtime stage needs from the static checks."""

    input: TensorInfo
    primary: TensorInfo
    outputs: dict[str, TensorInfo]
    probe_dtype: Any  # numpy dtype the model declares for its input (fed to it as such)


def fmt_shape(shape: Sequence[int | str | None]) -> list[int | str]:
    """Declared dims for a message: unknown dims as ``?``."""
    return [d if d is not None else "?" for d in shape]


def check_file(checks: Checks, path: Path, profile: Profile, contract: ModelContract) -> bytes | None:
    """file.exists, file.size (before reading a byte), file.readable; returns the bytes or None."""
    if not path.exists():
        checks.fail("file.exists", f"no file at {path}", measured=False, limit=True)
        checks.block("file.exists failed")
        return None
    if not path.is_file():
        checks.fail("file.exists", f"{path} is not a regular file", measured=False, limit=True)
        checks.block("file.exists failed")
        return None
    checks.ok("file.exists", str(path), measured=True, limit=True)

    size = path.stat().st_size
    size_mb = round(size / 1e6, 3)
    budget = profile.model_size_mb
    hard_cap = min(budget * contract.validation.max_load_factor * 1e6, PROTOBUF_LIMIT_BYTES)
    if size > budget * 1e6:
        checks.fail(
            "file.size", f"{size_mb} MB exceeds profile {profile.name}'s {budget} MB budget", size_mb, budget, "MB"
        )
    else:
        checks.ok("file.size", f"{size} bytes", size_mb, budget, "MB")
    if size > hard_cap:
        checks.block(f"file is {size_mb} MB, over the {round(hard_cap / 1e6, 1)} MB load cap; not loaded")
        return None

    try:
        data = path.read_bytes()
    except OSError as exc:
        checks.fail("file.readable", f"cannot read {path}: {exc}", measured=False, limit=True)
        checks.block("file.readable failed")
        return None
    checks.ok("file.readable", f"{len(data)} bytes read", measured=True, limit=True)
    return data


def check_parse(checks: Checks, data: bytes) -> onnx.ModelProto | None:
    """onnx.parse, onnx.external_data (checked first: the checker would follow the references), onnx.checker."""
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf DecodeError and friends: the bytes are not an ONNX model
        checks.fail("onnx.parse", f"not an ONNX protobuf: {type(exc).__name__}: {exc}", measured=False, limit=True)
        checks.block("onnx.parse failed")
        return None
    if model.ir_version <= 0 or not model.HasField("graph"):
        checks.fail("onnx.parse", "parsed, but it has no ir_version or graph: not an ONNX model", False, True)
        checks.block("onnx.parse failed")
        return None
    opsets = {op.domain or "ai.onnx": int(op.version) for op in model.opset_import}
    checks.ok("onnx.parse", f"ir_version {model.ir_version}, opsets {opsets}", measured=True, limit=True)

    external = external_tensors(model)  # subgraphs, node attributes, sparse initializers and functions too
    if external:
        # Refused rather than resolved: a location like ../../etc/passwd must never be read on a model's behalf.
        checks.fail(
            "onnx.external_data",
            f"{len(external)} tensors reference external data files (e.g. {text(external[0])}); "
            "export a single self-contained file (external_data=False)",
            measured=len(external),
            limit=0,
        )
        checks.block("onnx.external_data failed")
        return None
    checks.ok("onnx.external_data", "all weights inside the file", measured=0, limit=0)

    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError, or C++ errors surfaced as RuntimeError
        checks.fail("onnx.checker", f"{type(exc).__name__}: {exc}", measured=False, limit=True)
    else:
        checks.ok("onnx.checker", "onnx.checker.check_model passed", measured=True, limit=True)
    return model


def check_graph(
    checks: Checks, model: onnx.ModelProto, contract: ModelContract, num_speakers: int | None
) -> GraphFacts | None:
    """Declared dims, input.* and output.* rules; returns what the runtime stage needs, or None when it cannot run."""
    settings = contract.validation
    inputs = graph_inputs(model)
    outputs = {tensor.name: tensor for tensor in graph_outputs(model)}

    # graph.declared_dims: refuse absurd sizes before any session allocates for them.
    too_big = [
        (t.name, d)
        for t in [*inputs, *outputs.values()]
        for d in t.shape
        if isinstance(d, int) and d > settings.max_declared_dim
    ]
    biggest = max((d for t in [*inputs, *outputs.values()] for d in t.shape if isinstance(d, int)), default=0)
    # Shapes no probe can be built for: a negative dim (ONNX dims are >= 0; dynamic axes are symbolic) or more axes
    # than a numpy array can hold. Refused here, so that no later rule crashes building a probe.
    unbuildable = [
        f"'{t.name}' declares the negative dimension {d} (use a symbolic dim_param for a dynamic axis)"
        for t in [*inputs, *outputs.values()]
        for d in t.shape
        if isinstance(d, int) and d < 0
    ] + [
        f"'{t.name}' has {len(t.shape)} axes (limit {MAX_RANK})"
        for t in [*inputs, *outputs.values()]
        if len(t.shape) > MAX_RANK
    ]
    if not too_big and not unbuildable and inputs:
        # Dims that are each plausible can still multiply into a probe no host can allocate.
        largest_batch = max(settings.batch_sizes)
        for graph_input in inputs:
            elements = math.prod(probe_shape(graph_input, largest_batch, contract.window_samples))
            if elements > settings.max_declared_dim:
                too_big.append((graph_input.name, elements))
    sane = not too_big and not unbuildable
    if unbuildable:
        checks.fail("graph.declared_dims", f"{unbuildable[0]}; not run", measured=biggest, limit=">= 0", unit="dims")
    elif too_big:
        name, dim = too_big[0]
        checks.fail(
            "graph.declared_dims",
            f"'{name}' would need {dim} elements (limit {settings.max_declared_dim} per tensor); not run",
            measured=biggest,
            limit=settings.max_declared_dim,
            unit="elements",
        )
    else:
        checks.ok("graph.declared_dims", "every declared dimension is plausible", biggest, settings.max_declared_dim)

    # ---- input
    spec = contract.input
    names = [t.name for t in inputs]
    if len(inputs) == 1 and inputs[0].name == spec.name:
        checks.ok("input.name", "", measured=names[0], limit=spec.name)
    elif not inputs:
        checks.fail("input.name", "the graph has no inputs", measured=[], limit=spec.name)
    else:
        checks.fail(
            "input.name",
            f"the contract requires exactly one input named {spec.name!r}; the graph has {names}",
            measured=[str(n) for n in names],
            limit=spec.name,
        )
    model_input = next((t for t in inputs if t.name == spec.name), inputs[0] if inputs else None)
    if model_input is None:
        checks.block("the graph has no input")
        return None
    dtype_message = f"input '{model_input.name}' is {model_input.dtype}; the contract requires {spec.dtype}"
    checks.check("input.dtype", model_input.dtype == spec.dtype, dtype_message, model_input.dtype, spec.dtype)
    rank_ok = checks.check(
        "input.rank", len(model_input.shape) == spec.rank, f"shape {fmt_shape(model_input.shape)}",
        len(model_input.shape), spec.rank,
    )  # fmt: skip
    length = model_input.shape[1] if len(model_input.shape) > 1 else None
    window = contract.window_samples
    if length == window:
        checks.ok("input.length", f"{window} samples = {contract.metadata.audio_duration} s", length, window, "samples")
    elif isinstance(length, int):
        checks.fail("input.length", f"the model expects {length} samples per window, not {window}", length, window)
    else:
        checks.fail(
            "input.length",
            f"the window length must be fixed at {window} samples, the model declares {length!r}",
            measured=str(length),
            limit=window,
            unit="samples",
        )
    batch = model_input.shape[0] if model_input.shape else None
    if isinstance(batch, int):
        checks.fail(
            "input.batch_dynamic",
            f"batch dimension is fixed at {batch}; export with a symbolic batch (dynamic_shapes, batch-2 example)",
            measured=batch,
            limit="symbolic",
        )
    elif not rank_ok and not model_input.shape:
        checks.fail("input.batch_dynamic", "the input has no dimensions at all", measured="none", limit="symbolic")
    else:
        checks.ok("input.batch_dynamic", "", measured=str(batch) if batch is not None else "?", limit="symbolic")

    # ---- primary output
    out_spec = contract.output
    primary: TensorInfo | None
    if out_spec.name in outputs:
        checks.ok("output.name", "", measured=out_spec.name, limit=out_spec.name)
        primary = outputs[out_spec.name]
    else:
        checks.fail(
            "output.name",
            f"no output named {out_spec.name!r}; the graph's outputs are {list(outputs)}",
            measured=list(outputs),
            limit=out_spec.name,
        )
        primary = next(iter(outputs.values()), None)  # keep probing the first output for the remaining rules
    if primary is None:
        checks.block("the graph has no output")
        return None
    dtype_message = f"output '{primary.name}' is {primary.dtype}; the contract requires {out_spec.dtype}"
    checks.check("output.dtype", primary.dtype == out_spec.dtype, dtype_message, primary.dtype, out_spec.dtype)
    checks.check(
        "output.rank",
        len(primary.shape) == out_spec.rank,
        f"shape {fmt_shape(primary.shape)}; expected {out_spec.shape}",
        len(primary.shape),
        out_spec.rank,
    )

    # ---- optional outputs (e.g. embedding): absent is fine; present must be well-formed.
    for opt in contract.optional_outputs:
        rule = f"output.{opt.name}"
        tensor = outputs.get(opt.name)
        if tensor is None:
            checks.skip(rule, "optional output not present")
            continue
        problems = []
        if tensor.dtype != opt.dtype:
            problems.append(f"dtype {tensor.dtype}, expected {opt.dtype}")
        if len(tensor.shape) != opt.rank:
            problems.append(f"rank {len(tensor.shape)}, expected {opt.rank}")
        checks.check(
            rule,
            not problems,
            "; ".join(problems) or f"shape {fmt_shape(tensor.shape)}",
            f"{tensor.dtype} {fmt_shape(tensor.shape)}",
            f"{opt.dtype} {opt.shape}",
        )

    if not sane:
        checks.block("graph.declared_dims failed")
        return None
    try:
        probe_dtype = onnx.helper.tensor_dtype_to_np_dtype(model_input.elem_type)
    except (KeyError, ValueError, TypeError):
        probe_dtype = np.dtype(np.float32)
    _ = num_speakers  # checked at runtime, where the count is known even for symbolic outputs
    return GraphFacts(model_input, primary, outputs, probe_dtype)


__all__ = ["MAX_RANK", "PROTOBUF_LIMIT_BYTES", "GraphFacts", "check_file", "check_graph", "check_parse", "fmt_shape"]
