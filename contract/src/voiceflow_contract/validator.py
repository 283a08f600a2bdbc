"""The contract validator: every rule is a named check with a status, what was measured and the limit.

``validate_model_contract`` never raises because a model is bad; it returns a :class:`ValidationReport` whose failed
checks name the broken rules. Hostile files are handled defensively: the size is checked before anything is read, the
model is parsed from bytes (external-data references are refused, so a model cannot make us read other files), absurd
declared dimensions are refused before a session runs, every ONNX / ONNX Runtime exception becomes a failed check,
and every inference run is bounded in time (``run_timeout_s``): a graph that never finishes (e.g. a ``Loop`` with an
astronomic trip count) is terminated and fails its rule instead of hanging the caller.

The runtime probes feed the tensor the model *declares* (its dtype and fixed dims), so each defect is reported once, by
the rule that names it: a float64 input fails ``input.dtype`` and not also every runtime check.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from voiceflow_contract import __version__
from voiceflow_contract.hashing import sha256_bytes
from voiceflow_contract.schemas.report import CheckResult, CheckStatus, LatencyStats, ValidationReport
from voiceflow_contract.spec import ModelContract, Profile, load_contract

if TYPE_CHECKING:
    import onnx

VALIDATOR_VERSION = __version__
PROTOBUF_LIMIT_BYTES = 2**31 - 1  # a single ONNX protobuf cannot exceed 2 GiB
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
MAX_RANK = 32  # numpy arrays hold at most 64 axes; no contract tensor needs more than a few
RUN_TIMEOUT_S = 60.0  # longest single inference run; a 1 s window takes milliseconds on any contract-sized model

Array = npt.NDArray[Any]
ProgressCallback = Callable[[int, int], None]

# Every rule, in the order it runs. Optional outputs add ``output.<name>`` after output.rank.
BASE_RULES: tuple[str, ...] = (
    "file.exists",
    "file.size",
    "file.readable",
    "onnx.parse",
    "onnx.external_data",
    "onnx.checker",
    "graph.declared_dims",
    "input.name",
    "input.dtype",
    "input.rank",
    "input.length",
    "input.batch_dynamic",
    "output.name",
    "output.dtype",
    "output.rank",
)
RUNTIME_RULES: tuple[str, ...] = (
    "runtime.session",
    # runtime.batch_<n> for each configured batch size goes here
    "output.num_speakers",
    "output.finite",
    "output.softmax",
    "latency.p99",
)


def rule_names(contract: ModelContract | None = None) -> list[str]:
    """All rule names a report for ``contract`` contains, in order."""
    contract = contract or load_contract()
    optional = [f"output.{spec.name}" for spec in contract.optional_outputs]
    batches = [f"runtime.batch_{b}" for b in contract.validation.batch_sizes]
    return [*BASE_RULES, *optional, RUNTIME_RULES[0], *batches, *RUNTIME_RULES[1:]]


@dataclass
class _Checks:
    """Collects CheckResults; rules never reached are filled in as SKIPPED with the reason they were blocked."""

    results: dict[str, CheckResult] = field(default_factory=dict)
    blocked_by: str | None = None
    sha256: str = ""  # kept here so a crash mid-pipeline still reports which bytes were judged
    session_providers: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        status: CheckStatus,
        message: str = "",
        measured: Any = None,
        limit: Any = None,
        unit: str | None = None,
    ) -> bool:
        self.results[name] = CheckResult(
            name=name, status=status, measured=measured, limit=limit, unit=unit, message=_short(message)
        )
        return status is not CheckStatus.FAILED

    def ok(
        self, name: str, message: str = "", measured: Any = None, limit: Any = None, unit: str | None = None
    ) -> bool:
        return self.add(name, CheckStatus.PASSED, message, measured, limit, unit)

    def fail(self, name: str, message: str, measured: Any = None, limit: Any = None, unit: str | None = None) -> bool:
        return self.add(name, CheckStatus.FAILED, message, measured, limit, unit)

    def check(
        self,
        name: str,
        passed: bool,
        message: str,
        measured: Any = None,
        limit: Any = None,
        unit: str | None = None,
    ) -> bool:
        return self.add(name, CheckStatus.PASSED if passed else CheckStatus.FAILED, message, measured, limit, unit)

    def skip(self, name: str, message: str, measured: Any = None, limit: Any = None, unit: str | None = None) -> None:
        self.add(name, CheckStatus.SKIPPED, message, measured, limit, unit)

    def block(self, reason: str) -> None:
        """Stop the pipeline: every rule not yet recorded is SKIPPED with ``reason``."""
        if self.blocked_by is None:
            self.blocked_by = reason

    def ordered(self, names: Sequence[str]) -> list[CheckResult]:
        reason = f"not run: {self.blocked_by}" if self.blocked_by else "not run"
        out = [self.results.get(n) or CheckResult(name=n, status=CheckStatus.SKIPPED, message=reason) for n in names]
        out.extend(r for n, r in self.results.items() if n not in names)
        return out


def _short(message: str, limit: int = 400) -> str:
    """One-line, bounded message: ORT errors can be pages long and must not bloat the report."""
    flat = " ".join(str(message).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass
class _Tensor:
    """A graph input/output as declared: numpy dtype name (or ONNX name) and dims (int, symbolic str or None)."""

    name: str
    elem_type: int
    dtype: str
    shape: list[int | str | None]


@dataclass
class _Graph:
    """What the runtime stage needs from the static checks."""

    input: _Tensor
    primary: _Tensor
    outputs: dict[str, _Tensor]
    probe_dtype: Any  # numpy dtype the model declares for its input (fed to it as such)


def _text(value: str | bytes) -> str:
    """Protobuf hands back bytes for names that are not valid UTF-8 (hostile files); make them printable."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _onnx_type_name(elem: int) -> str:
    """ONNX's name for an element type, or ``unknown(<n>)`` for values no ONNX version defines."""
    import onnx

    try:
        return str(onnx.TensorProto.DataType.Name(elem)).lower()
    except ValueError:
        return f"unknown({elem})"


def _tensor(value_info: Any) -> _Tensor:
    import onnx

    tensor_type = value_info.type.tensor_type
    elem = int(tensor_type.elem_type)
    try:
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(elem).name)
    except (KeyError, ValueError, TypeError):
        dtype = _onnx_type_name(elem)
    dims: list[int | str | None] = []
    if tensor_type.HasField("shape"):
        for dim in tensor_type.shape.dim:
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                dims.append(_text(dim.dim_param))
            else:
                dims.append(None)
    return _Tensor(_text(value_info.name), elem, dtype, dims)


def _fmt_shape(shape: Sequence[int | str | None]) -> list[int | str]:
    return [d if d is not None else "?" for d in shape]


# ---------------------------------------------------------------------------------------------------- file + parse
def _check_file(checks: _Checks, path: Path, profile: Profile, contract: ModelContract) -> bytes | None:
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


def _check_parse(checks: _Checks, data: bytes) -> onnx.ModelProto | None:
    """onnx.parse, onnx.external_data (checked first: the checker would follow the references), onnx.checker."""
    import onnx
    from onnx.external_data_helper import uses_external_data

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

    external = [_text(t.name) for t in model.graph.initializer if uses_external_data(t)]
    if external:
        # Refused rather than resolved: a location like ../../etc/passwd must never be read on a model's behalf.
        checks.fail(
            "onnx.external_data",
            f"{len(external)} tensors reference external data files (e.g. {external[0]!r}); "
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


# ---------------------------------------------------------------------------------------------------- graph (static)
def _check_graph(
    checks: _Checks, model: onnx.ModelProto, contract: ModelContract, num_speakers: int | None
) -> _Graph | None:
    """Declared dims, input.* and output.* rules; returns what the runtime stage needs, or None when it cannot run."""
    import onnx

    settings = contract.validation
    initializers = {_text(init.name) for init in model.graph.initializer}
    inputs = [_tensor(vi) for vi in model.graph.input if _text(vi.name) not in initializers]
    outputs = {tensor.name: tensor for tensor in map(_tensor, model.graph.output)}

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
            elements = math.prod(_probe_shape(graph_input, largest_batch, contract.window_samples))
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
        "input.rank", len(model_input.shape) == spec.rank, f"shape {_fmt_shape(model_input.shape)}",
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
    primary: _Tensor | None
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
        f"shape {_fmt_shape(primary.shape)}; expected {out_spec.shape}",
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
            "; ".join(problems) or f"shape {_fmt_shape(tensor.shape)}",
            f"{tensor.dtype} {_fmt_shape(tensor.shape)}",
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
    return _Graph(model_input, primary, outputs, probe_dtype)


# ---------------------------------------------------------------------------------------------------- runtime
def _probe_shape(tensor: _Tensor, batch: int, window: int) -> list[int]:
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


def _as_model_dtype(audio: Array, dtype: Any) -> Array:
    """Audio in [-1, 1] cast to the model's declared input dtype (integers scaled to 16-bit PCM range)."""
    np_dtype = np.dtype(dtype)
    if np_dtype.kind in "iu":
        info = np.iinfo(np_dtype)
        return np.clip(np.round(audio * 32767.0), info.min, info.max).astype(np_dtype)
    if np_dtype.kind == "b":
        return audio > 0
    return audio.astype(np_dtype)


def _probes(shape: list[int], dtype: Any, seed: int = 0) -> dict[str, Array]:
    """Named batch-1 probe inputs: random speech-like noise, silence and a full-scale (clipping) signal."""
    rng = np.random.default_rng(seed)
    size = tuple(shape)
    random = np.clip(np.asarray(rng.normal(0.0, 0.1, size=size)), -1.0, 1.0)
    signs = np.sign(np.asarray(rng.normal(size=size)))
    loud = np.where(signs == 0, 1.0, signs)
    return {
        "random": _as_model_dtype(random, dtype),
        "silence": _as_model_dtype(np.zeros(shape), dtype),
        "loud": _as_model_dtype(loud, dtype),
    }


def _choose_providers(profile: Profile, providers: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(providers to use, providers available). Default: CUDA first for a GPU profile when present, else CPU."""
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    available = list(ort.get_available_providers())
    if providers:
        return [p for p in providers if p in available] or [CPU_PROVIDER], available
    if profile.device == "gpu" and CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER], available
    return [CPU_PROVIDER], available


def _make_session(data: bytes, threads: int, providers: list[str]) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings about unused initializers are noise here
    # ORT prints its provider-fallback banner to stdout on a failed load; keep stdout clean for --json.
    with contextlib.redirect_stdout(io.StringIO()):
        session = ort.InferenceSession(data, sess_options=options, providers=providers)
    session.disable_fallback()  # a failing run is a failed rule, not a reason to retry on other providers
    return session


class RunTimeoutError(RuntimeError):
    """An inference run exceeded the validator's time bound and was terminated."""


class _BoundedSession:
    """An ONNX Runtime session whose every ``run`` is terminated after ``timeout_s`` (RunOptions.terminate).

    One watchdog thread per session (not a timer per run) so that latency measurements carry no timer overhead; each
    run gets its own RunOptions, so a late terminate can never hit the next run.
    """

    def __init__(self, session: Any, timeout_s: float) -> None:
        self._session = session
        self.timeout_s = timeout_s
        self._current: tuple[float, Any] | None = None
        self._closed = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="validator-run-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        poll = min(0.05, self.timeout_s / 4)
        while not self._closed.wait(poll):
            current = self._current
            if current is not None and time.monotonic() > current[0]:
                current[1].terminate = True

    def run(self, output_names: Any, feed: dict[str, Array]) -> Any:
        import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

        options = ort.RunOptions()
        options.log_severity_level = 4  # the terminate is reported as a failed check; ORT's own log line is noise
        self._current = (time.monotonic() + self.timeout_s, options)
        try:
            return self._session.run(output_names, feed, options)
        except Exception as exc:
            if options.terminate:
                raise RunTimeoutError(
                    f"inference did not finish within {self.timeout_s:g} s and was terminated "
                    "(a graph that loops or computes far too much)"
                ) from exc
            raise
        finally:
            self._current = None

    def get_outputs(self) -> Any:
        return self._session.get_outputs()

    def get_providers(self) -> Any:
        return self._session.get_providers()

    def close(self) -> None:
        self._closed.set()


def _run(session: Any, input_name: str, audio: Array) -> dict[str, Array]:
    names = [o.name for o in session.get_outputs()]
    values = session.run(None, {input_name: audio})
    return {name: np.asarray(value) for name, value in zip(names, values, strict=False)}


@dataclass
class _RuntimeResult:
    """Primary-output rows and every output, per probe name, for the value checks."""

    outputs: dict[str, dict[str, Array]] = field(default_factory=dict)
    num_speakers: int | None = None
    embedding_dim: int | None = None


def _check_batches(
    checks: _Checks, session: Any, graph: _Graph, contract: ModelContract, result: _RuntimeResult
) -> bool:
    """runtime.batch_<n>: the model really runs at each batch size and returns [n, ...] on every output."""
    window = contract.window_samples
    batch_one_ok = False
    for batch in contract.validation.batch_sizes:
        rule = f"runtime.batch_{batch}"
        shape = _probe_shape(graph.input, batch, window)
        audio = _probes(shape, graph.probe_dtype, seed=batch)["random"]
        expected = [batch, *_fmt_shape(graph.primary.shape[1:])]
        try:
            outs = _run(session, graph.input.name, audio)
        except RunTimeoutError as exc:  # one hung run is enough: the other batch sizes would hang as long
            checks.fail(rule, f"inference at batch {batch} failed: {exc}", measured="timeout", limit=expected)
            break
        except Exception as exc:  # any ORT failure (shape mismatch, kernel error, bad alloc) is this rule failing
            checks.fail(rule, f"inference at batch {batch} failed: {exc}", measured="error", limit=expected)
            continue
        primary = outs.get(graph.primary.name)
        if primary is None:
            checks.fail(rule, f"output {graph.primary.name!r} missing at runtime", measured=list(outs), limit=expected)
            continue
        wrong = [f"{n} {list(v.shape)}" for n, v in outs.items() if v.ndim == 0 or v.shape[0] != batch]
        fixed_mismatch = [
            axis
            for axis, dim in enumerate(graph.primary.shape)
            if axis > 0 and isinstance(dim, int) and axis < primary.ndim and primary.shape[axis] != dim
        ]
        if wrong or fixed_mismatch:
            detail = f"outputs without batch {batch} first: {wrong}" if wrong else f"axes {fixed_mismatch} differ"
            checks.fail(rule, detail, measured=list(primary.shape), limit=expected)
            continue
        checks.ok(rule, f"input {shape} -> {graph.primary.name} {list(primary.shape)}", list(primary.shape), expected)
        result.outputs[f"batch_{batch}"] = outs
        if batch == 1:
            batch_one_ok = True
    return batch_one_ok or any(r.startswith("batch_") for r in result.outputs)


def _check_values(
    checks: _Checks,
    session: Any,
    graph: _Graph,
    contract: ModelContract,
    result: _RuntimeResult,
    num_speakers: int | None,
) -> None:
    """output.num_speakers, output.finite and output.softmax on random, silent and loud probes (batch 1)."""
    shape = _probe_shape(graph.input, 1, contract.window_samples)
    for probe, audio in _probes(shape, graph.probe_dtype).items():
        try:
            result.outputs[probe] = _run(session, graph.input.name, audio)
        except Exception as exc:  # a model that fails on silence or clipping fails the finiteness rule
            checks.fail("output.finite", f"inference on the {probe} probe failed: {exc}", measured="error", limit=0)
            checks.skip("output.softmax", "not run: output.finite failed")
            break

    # ---- num_speakers: the declared dim when fixed, else what the model returned
    meta = contract.metadata
    primary_shapes = [o[graph.primary.name].shape for o in result.outputs.values() if graph.primary.name in o]
    declared = graph.primary.shape[1] if len(graph.primary.shape) == 2 else None
    if len(graph.primary.shape) != 2 or not primary_shapes or len(primary_shapes[0]) != 2:
        checks.skip("output.num_speakers", "not run: the output is not [batch, num_speakers] (see output.rank)")
    else:
        measured = declared if isinstance(declared, int) else int(primary_shapes[0][1])
        result.num_speakers = measured
        wanted = num_speakers if num_speakers is not None else meta.num_speakers
        if isinstance(wanted, int):
            checks.check(
                "output.num_speakers",
                measured == wanted and measured >= meta.min_num_speakers,
                f"model scores {measured} speakers; {wanted} required",
                measured,
                wanted,
                "speakers",
            )
        else:
            checks.check(
                "output.num_speakers",
                measured >= meta.min_num_speakers,
                f"model scores {measured} speakers (contract: dynamic, at least {meta.min_num_speakers})",
                measured,
                f">= {meta.min_num_speakers}",
                "speakers",
            )
    for opt in contract.optional_outputs:
        for outs in result.outputs.values():
            value = outs.get(opt.name)
            if value is not None and value.ndim == 2:
                result.embedding_dim = int(value.shape[1])
                break

    if "output.finite" in checks.results:  # a probe failed to run
        return

    # ---- finite: every output on every probe
    bad: list[str] = []
    total_bad = 0
    for probe, outs in result.outputs.items():
        for name, value in outs.items():
            if np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.complexfloating):
                count = int(value.size - np.count_nonzero(np.isfinite(value)))
                if count:
                    total_bad += count
                    bad.append(f"{name} on {probe}: {count} NaN/Inf")
    finite = checks.check(
        "output.finite",
        not bad,
        "; ".join(bad) or f"all outputs finite on probes {list(result.outputs)}",
        total_bad,
        0,
        "values",
    )

    # ---- softmax: rows in [0, 1] summing to 1
    tol = contract.validation.softmax_tolerance
    if contract.output.activation != "softmax":
        checks.skip("output.softmax", "the contract does not require a softmax output")
        return
    if not finite:
        checks.skip("output.softmax", "not run: output.finite failed")
        return
    rows = [
        outs[graph.primary.name].astype(np.float64)
        for outs in result.outputs.values()
        if graph.primary.name in outs and outs[graph.primary.name].ndim >= 1
    ]
    if not rows or not all(np.issubdtype(r.dtype, np.floating) for r in rows):
        checks.skip("output.softmax", "not run: no floating-point primary output")
        return
    sums = np.concatenate([r.sum(axis=-1).ravel() for r in rows])
    low = float(min(r.min() for r in rows))
    high = float(max(r.max() for r in rows))
    deviation = float(np.max(np.abs(sums - 1.0)))
    in_range = low >= -tol and high <= 1.0 + tol
    checks.check(
        "output.softmax",
        in_range and deviation <= tol,
        f"values in [{low:.4g}, {high:.4g}], row sums within {deviation:.3g} of 1"
        + ("" if in_range else "; values must lie in [0, 1]"),
        round(deviation, 6),
        tol,
        "|row sum - 1|",
    )


def _measure_latency(
    session: Any,
    graph: _Graph,
    contract: ModelContract,
    runs: int,
    warmup: int,
    on_run: ProgressCallback | None,
) -> list[float]:
    """Warm-up, then ``runs`` timed batch-1 inferences; milliseconds per run (perf_counter)."""
    audio = _probes(_probe_shape(graph.input, 1, contract.window_samples), graph.probe_dtype, seed=7)["random"]
    feed = {graph.input.name: audio}
    for _ in range(warmup):
        session.run(None, feed)
    timings: list[float] = []
    for index in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        timings.append((time.perf_counter() - start) * 1000.0)
        if on_run is not None:
            on_run(index + 1, runs)
    return timings


def _check_latency(
    checks: _Checks,
    session: Any,
    graph: _Graph,
    contract: ModelContract,
    profile: Profile,
    *,
    threads: int,
    runs: int,
    session_providers: list[str],
    available: list[str],
    on_run: ProgressCallback | None,
) -> LatencyStats | None:
    """latency.p99 against the profile's budget; SKIPPED (numbers still recorded) when a GPU profile has no GPU."""
    warmup = min(contract.validation.latency_warmup_runs, max(runs, 1))
    try:
        timings = _measure_latency(session, graph, contract, runs, warmup, on_run)
    except Exception as exc:  # the model ran for the probes but fails under repetition: still a failed rule
        checks.fail("latency.p99", f"timed inference failed: {exc}", measured="error", limit=profile.p99_ms, unit="ms")
        return None
    values = np.asarray(timings)
    stats = LatencyStats(
        p50_ms=round(float(np.percentile(values, 50)), 4),
        p99_ms=round(float(np.percentile(values, 99)), 4),
        mean_ms=round(float(values.mean()), 4),
        runs=runs,
        warmup_runs=warmup,
        intra_op_threads=threads,
        provider=session_providers[0],
    )
    summary = f"p50 {stats.p50_ms} ms, p99 {stats.p99_ms} ms over {runs} runs, {threads} intra-op thread(s)"
    if profile.device == "gpu" and session_providers[0] != CUDA_PROVIDER:
        checks.skip(
            "latency.p99",
            f"profile {profile.name} is a GPU budget but {CUDA_PROVIDER} is unavailable (providers: {available}); "
            f"CPU numbers recorded, not compared: {summary}",
            measured=stats.p99_ms,
            limit=profile.p99_ms,
            unit="ms",
        )
    else:
        checks.check(
            "latency.p99",
            stats.p99_ms <= profile.p99_ms,
            f"{summary} on {session_providers[0]} (profile {profile.name})",
            stats.p99_ms,
            profile.p99_ms,
            "ms",
        )
    return stats


def _host_info(threads: int, available: list[str], session_providers: list[str]) -> dict[str, str]:
    import onnx
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    try:
        affinity = str(len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        affinity = str(os.cpu_count() or 0)
    return {
        "cpu_count": str(os.cpu_count() or 0),
        "cpu_affinity": affinity,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "available_providers": ",".join(available),
        "session_providers": ",".join(session_providers),
        "intra_op_threads": str(threads),
        "execution_mode": "ORT_SEQUENTIAL",
    }


# ---------------------------------------------------------------------------------------------------- entry point
def validate_model_contract(
    path: str | Path,
    contract: ModelContract | None = None,
    profile: str | Profile | None = None,
    *,
    num_speakers: int | None = None,
    threads: int = 1,
    providers: Sequence[str] | None = None,
    latency_runs: int | None = None,
    measure_latency: bool = True,
    on_latency_run: ProgressCallback | None = None,
    run_timeout_s: float = RUN_TIMEOUT_S,
) -> ValidationReport:
    """Check the ONNX model at ``path`` against the contract and ``profile``'s budgets.

    Args:
        path: the model.onnx file.
        contract: the contract (default: the packaged model_contract.yaml).
        profile: a profile name or object (default: the contract's default profile). An unknown name raises
            ContractError: that is a caller error, not a bad model.
        num_speakers: the speaker count the model states (metadata.json); checked against the output when given.
        threads: ONNX Runtime intra-op threads (recorded in the report).
        providers: execution providers to try (default: CUDA first for a GPU profile when present, else CPU).
        latency_runs: timed runs for latency.p99 (default: the contract's ``latency_timed_runs``).
        measure_latency: False skips latency.p99 (reported as SKIPPED).
        on_latency_run: progress callback ``(done, total)`` during the timed runs.
        run_timeout_s: longest single inference run; a run past it is terminated and fails its rule.

    Returns:
        The report; ``report.passed`` is False when any rule failed. Never raises because of the model.
    """
    contract = contract or load_contract()
    chosen = profile if isinstance(profile, Profile) else contract.profile(profile)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    runs = latency_runs if latency_runs is not None else contract.validation.latency_timed_runs
    if runs < 1:
        raise ValueError(f"latency_runs must be >= 1, got {runs}")
    if not run_timeout_s > 0:
        raise ValueError(f"run_timeout_s must be > 0, got {run_timeout_s}")

    model_path = Path(path)
    checks = _Checks()
    session_providers, available = _choose_providers(chosen, providers)
    latency: LatencyStats | None = None
    runtime = _RuntimeResult()
    sha = ""

    try:
        sha, latency = _run_rules(
            checks,
            model_path,
            contract,
            chosen,
            runtime,
            num_speakers=num_speakers,
            threads=threads,
            runs=runs,
            measure_latency=measure_latency,
            session_providers=session_providers,
            available=available,
            on_latency_run=on_latency_run,
            run_timeout_s=run_timeout_s,
        )
    except Exception as exc:  # a validator bug must still produce a failed report, never crash the caller
        checks.fail("validator.error", f"unexpected {type(exc).__name__}: {exc}", measured="error", limit="none")
        checks.block("validator.error")

    results = checks.ordered(rule_names(contract))
    return ValidationReport(
        model_path=str(model_path),
        model_sha256=sha or checks.sha256,
        contract_name=contract.name,
        contract_version=contract.version,
        profile=chosen.name,
        passed=not any(r.status is CheckStatus.FAILED for r in results),
        checks=results,
        latency=latency,
        num_speakers=runtime.num_speakers,
        embedding_dim=runtime.embedding_dim,
        created_at=datetime.now(UTC),
        validator_version=VALIDATOR_VERSION,
        host=_host_info(threads, available, checks.session_providers or session_providers),
    )


def _run_rules(
    checks: _Checks,
    model_path: Path,
    contract: ModelContract,
    chosen: Profile,
    runtime: _RuntimeResult,
    *,
    num_speakers: int | None,
    threads: int,
    runs: int,
    measure_latency: bool,
    session_providers: list[str],
    available: list[str],
    on_latency_run: ProgressCallback | None,
    run_timeout_s: float = RUN_TIMEOUT_S,
) -> tuple[str, LatencyStats | None]:
    """Every rule in order; returns (sha256, latency). Rules not reached are filled in by the caller."""
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    sha = ""
    latency: LatencyStats | None = None
    data = _check_file(checks, model_path, chosen, contract)
    if data is not None:
        sha = checks.sha256 = sha256_bytes(data)
        model = _check_parse(checks, data)
        graph = _check_graph(checks, model, contract, num_speakers) if model is not None else None
        session = None
        if graph is not None:
            try:
                session = _BoundedSession(_make_session(data, threads, session_providers), run_timeout_s)
            except Exception as exc:  # ORT raises Fail/InvalidGraph/NotImplemented... for bad models
                checks.fail("runtime.session", f"ONNX Runtime cannot load the model: {exc}", measured=False, limit=True)
                checks.block("runtime.session failed")
            else:
                session_providers = checks.session_providers = list(session.get_providers())
                checks.ok("runtime.session", f"onnxruntime {ort.__version__} on {session_providers}", True, True)
        if session is not None and graph is not None:
            try:
                if _check_batches(checks, session, graph, contract, runtime):
                    _check_values(checks, session, graph, contract, runtime, num_speakers)
                    if measure_latency:
                        latency = _check_latency(
                            checks,
                            session,
                            graph,
                            contract,
                            chosen,
                            threads=threads,
                            runs=runs,
                            session_providers=session_providers,
                            available=available,
                            on_run=on_latency_run,
                        )
                    else:
                        checks.skip("latency.p99", "latency measurement disabled (--no-latency)", limit=chosen.p99_ms)
                else:
                    checks.block("the model runs at no batch size")
            finally:
                session.close()
    return sha, latency


__all__ = ["BASE_RULES", "RUNTIME_RULES", "VALIDATOR_VERSION", "rule_names", "validate_model_contract"]
