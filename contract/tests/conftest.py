"""Shared fixtures: small ONNX models built with onnx.helper (no torch), one good model and one per broken rule.

The good model is a real (tiny) network over the contract's I/O: audio [B, 48000] is reshaped to [B, S, 48000/S],
averaged per speaker slot, scaled, and softmaxed into speaker_embeddings [B, S]; the same trick gives an embedding.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import settings
from onnx import TensorProto, helper, numpy_helper

# Property tests draw the same examples on every run (`make test` must not flake on a fresh clone);
# HYPOTHESIS_PROFILE=explore draws new ones (e.g. with `make chaos`).
settings.register_profile("voiceflow", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "voiceflow"))


OPSET = 18
IR_VERSION = 10


def build_model(
    path: Path,
    *,
    input_name: str = "audio",
    output_name: str = "speaker_embeddings",
    input_len: int = 48000,
    input_dtype: int = TensorProto.FLOAT,
    batch: int | str = "batch_size",
    num_speakers: int | str = 2,
    declared_speakers: int | str | None = None,
    activation: str = "softmax",
    output_rank: int = 2,
    embedding_dim: int | None = 16,
    embedding_rank: int = 2,
    extra_outputs: tuple[str, ...] = (),
    pad_bytes: int = 0,
    external_data: bool = False,
) -> Path:
    """Write one ONNX model to ``path`` and return it. Every knob breaks (or changes) exactly one aspect."""
    speakers = num_speakers if isinstance(num_speakers, int) else 2
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def const(name: str, values: Any, dtype: Any = np.int64) -> str:
        inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    nodes.append(helper.make_node("Cast", ["audio_in"], ["x"], to=TensorProto.FLOAT))
    current = "x"
    # speaker scores: [B, L] -> [B, (T,) S, L/S] -> mean -> [B, (T,) S]
    if output_rank == 3:
        shape = const("score_shape", [0, 4, speakers, -1])
        axes = const("score_axes", [3])
    else:
        shape = const("score_shape", [0, speakers, -1])
        axes = const("score_axes", [2])
    nodes.append(helper.make_node("Reshape", [current, shape], ["slots"]))
    nodes.append(helper.make_node("ReduceMean", ["slots", axes], ["means"], keepdims=0))
    nodes.append(helper.make_node("Mul", ["means", const("scale", [50.0], np.float32)], ["logits"]))
    if activation == "softmax":
        nodes.append(helper.make_node("Softmax", ["logits"], [output_name], axis=-1))
    elif activation == "none":  # raw logits: finite, but rows neither in [0, 1] nor summing to 1
        nodes.append(helper.make_node("Identity", ["logits"], [output_name]))
    elif activation == "nan":  # Log of a negative number: NaN that a softmax happily propagates
        nodes.append(helper.make_node("Sub", ["logits", const("ten", [1000.0], np.float32)], ["neg"]))
        nodes.append(helper.make_node("Log", ["neg"], ["nan"]))
        nodes.append(helper.make_node("Softmax", ["nan"], [output_name], axis=-1))
    elif activation == "crash":  # a data-dependent out-of-range Gather: loads fine, raises on every loud-enough input
        nodes.append(helper.make_node("Abs", ["x"], ["abs"]))
        nodes.append(helper.make_node("ReduceMax", ["abs"], ["peak"], keepdims=0))
        nodes.append(helper.make_node("Mul", ["peak", const("big", 1e6, np.float32)], ["scaled"]))
        nodes.append(helper.make_node("Cast", ["scaled"], ["index"], to=TensorProto.INT64))
        nodes.append(helper.make_node("Gather", [const("table", [0.0, 1.0, 2.0], np.float32), "index"], ["picked"]))
        nodes.append(helper.make_node("Add", ["logits", "picked"], ["shifted"]))
        nodes.append(helper.make_node("Softmax", ["shifted"], [output_name], axis=-1))
    elif activation == "custom":  # an operator no runtime implements: loads in onnx, not in ONNX Runtime
        nodes.append(helper.make_node("NoSuchOp", ["logits"], [output_name], domain="com.voiceflow.test"))
    else:
        raise ValueError(activation)

    declared = declared_speakers if declared_speakers is not None else num_speakers
    out_dims: list[int | str] = [batch, 4, declared] if output_rank == 3 else [batch, declared]
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_dims)]

    if embedding_dim is not None:
        emb_shape = [0, embedding_dim, -1] if embedding_rank == 2 else [0, embedding_dim, 1, -1]
        nodes.append(helper.make_node("Reshape", [current, const("emb_shape", emb_shape)], ["emb_slots"]))
        emb_axes = const("emb_axes", [2] if embedding_rank == 2 else [3])
        nodes.append(helper.make_node("ReduceMean", ["emb_slots", emb_axes], ["embedding"], keepdims=0))
        emb_dims: list[int | str] = [batch, embedding_dim] if embedding_rank == 2 else [batch, embedding_dim, 1]
        outputs.append(helper.make_tensor_value_info("embedding", TensorProto.FLOAT, emb_dims))
    for extra in extra_outputs:  # e.g. a speaker-count head: a backward-compatible new output
        nodes.append(helper.make_node("ReduceMax", [output_name, const(f"{extra}_axes", [1])], [extra], keepdims=1))
        outputs.append(helper.make_tensor_value_info(extra, TensorProto.FLOAT, [batch, 1]))
    if pad_bytes:  # an (unused) initializer that makes the file big without making it slow
        rng = np.random.default_rng(0)
        inits.append(numpy_helper.from_array(rng.standard_normal(pad_bytes // 4).astype(np.float32), "padding"))

    # The Cast input has the declared dtype; rename so the graph input keeps its contract name.
    nodes[0].input[0] = input_name
    graph = helper.make_graph(
        nodes,
        "voiceflow-test",
        [helper.make_tensor_value_info(input_name, input_dtype, [batch, input_len])],
        outputs,
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    if activation == "custom":
        opsets.append(helper.make_opsetid("com.voiceflow.test", 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="voiceflow-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    if external_data:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, size_threshold=0)
    else:
        onnx.save_model(model, str(path))
    return path


# name -> build_model kwargs; the validator tests map each to the rule it must fail.
MODEL_VARIANTS: dict[str, dict[str, Any]] = {
    "good": {},
    "good_no_embedding": {"embedding_dim": None},
    "good_dynamic_speakers": {"declared_speakers": "num_speakers"},
    "three_speakers": {"num_speakers": 3},
    "speaker_count_head": {"extra_outputs": ("speaker_count",)},
    "wrong_length": {"input_len": 16000},
    "float64_input": {"input_dtype": TensorProto.DOUBLE},
    "int16_input": {"input_dtype": TensorProto.INT16},
    "fixed_batch": {"batch": 1},
    "raw_logits": {"activation": "none"},
    "nan_output": {"activation": "nan"},
    "rank3_output": {"output_rank": 3},
    "bad_embedding": {"embedding_rank": 3},
    "wrong_input_name": {"input_name": "waveform"},
    "wrong_output_name": {"output_name": "probs"},
    "huge_declared_dim": {"declared_speakers": 100_000_000},
    "one_speaker": {"num_speakers": 1},
    "oversize": {"pad_bytes": 2_000_000},
}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one model per variant (built once per session), plus corrupt and external-data files."""
    root = tmp_path_factory.mktemp("onnx-models")
    for name, kwargs in MODEL_VARIANTS.items():
        build_model(root / f"{name}.onnx", **kwargs)
    good = (root / "good.onnx").read_bytes()
    (root / "truncated.onnx").write_bytes(good[: len(good) // 2])
    (root / "random_bytes.onnx").write_bytes(np.random.default_rng(1).bytes(4096))
    (root / "empty.onnx").write_bytes(b"")
    build_model(root / "external" / "model.onnx", external_data=True)
    return root


@pytest.fixture(scope="session")
def model_path(model_dir: Path) -> Callable[[str], Path]:
    """``model_path("good")`` -> the built model's path."""

    def get(name: str) -> Path:
        path = model_dir / f"{name}.onnx"
        if not path.exists() and name != "missing":
            raise KeyError(name)
        return path

    return get


@pytest.fixture(scope="session")
def onnx_builder() -> Callable[..., Path]:
    """The raw builder: ``onnx_builder(path, **knobs)``."""
    return build_model


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., Path]:
    """Build a one-off model in the test's tmp dir: ``build("name", num_speakers=3)``."""

    def make(name: str, **kwargs: Any) -> Path:
        return build_model(tmp_path / f"{name}.onnx", **kwargs)

    return make


@pytest.fixture(scope="session", autouse=True)
def _quiet_ort() -> None:
    os.environ.setdefault("ORT_LOGGING_LEVEL", "3")
