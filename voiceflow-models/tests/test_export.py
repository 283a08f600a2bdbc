"""Export: contract-shaped ONNX, parity with PyTorch at batch 1 and 8, loud failures, CLI, contract validator."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from voiceflow_models.export import to_onnx, validate_contract
from voiceflow_models.export.parity import ParityError, compare, ort_runner


def test_export_has_contract_io_and_dynamic_batch(tiny_onnx):
    session = ort.InferenceSession(str(tiny_onnx.path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "audio" and inp.type == "tensor(float)"
    assert isinstance(inp.shape[0], str) and inp.shape[1] == 48000  # symbolic batch, fixed window
    assert [o.name for o in session.get_outputs()] == ["speaker_embeddings", "embedding"]
    for batch in (1, 8):
        probs, emb = session.run(
            None, {"audio": np.random.default_rng(batch).normal(0, 0.1, (batch, 48000)).astype("f")}
        )
        assert probs.shape == (batch, 4) and emb.shape == (batch, 16)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    opsets = {o.domain: o.version for o in onnx.load(str(tiny_onnx.path)).opset_import}
    assert opsets.get("", opsets.get("ai.onnx")) == 18
    assert not tiny_onnx.path.with_suffix(".onnx.data").exists()  # external_data=False: one self-contained file


def test_parity_is_reported_and_bounded(tiny_onnx):
    parity = tiny_onnx.parity
    assert parity.passed and parity.max_abs_diff <= 1e-4
    seen = {(c.input, c.batch_size, c.output) for c in parity.cases}
    for kind in ("random", "silence"):
        for batch in (1, 8):
            assert {(kind, batch, "speaker_embeddings"), (kind, batch, "embedding")} <= seen
    assert json.loads(json.dumps(tiny_onnx.to_dict()))["parity"]["max_abs_diff"] == parity.max_abs_diff


def test_parity_failure_is_loud_and_names_the_output(tiny_onnx):
    reference = ort_runner(tiny_onnx.path)

    def perturbed(audio):
        out = reference(audio)
        return {**out, "embedding": out["embedding"] + 1e-3}

    report = compare(reference, perturbed, tolerance=1e-4)
    assert not report.passed
    with pytest.raises(ParityError, match="embedding"):
        report.raise_if_failed("test")


def test_export_stamps_architecture_metadata(tiny_onnx, tiny_network):
    meta = to_onnx.read_onnx_metadata(tiny_onnx.path)
    assert meta["architecture_type"] == "cnn" and meta["architecture_name"] == "tiny-cnn"
    assert meta["num_speakers"] == "4" and meta["embedding_dim"] == "16"
    assert meta["params"] == str(sum(p.numel() for p in tiny_network.parameters()))


class _OneOutput(nn.Module):
    sample_rate = window_samples = 48_000

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return audio[:, :2]


def test_export_refuses_a_network_outside_the_interface(tmp_path):
    with pytest.raises(to_onnx.ExportError, match=r"\(logits, embedding\)"):
        to_onnx.export_onnx(_OneOutput(), tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_export_cli_from_checkpoint_without_embedding(tmp_path, capsys, fast_factory, checkpoint_writer):
    ckpt = checkpoint_writer(fast_factory(0), tmp_path / "last.ckpt")
    out = tmp_path / "cli.onnx"
    rc = to_onnx.main(
        ["--checkpoint", str(ckpt), "--output", str(out), "--no-embedding", "--report", str(tmp_path / "r.json")]
    )
    assert rc == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["speaker_embeddings"]
    assert json.loads((tmp_path / "r.json").read_text())["parity"]["passed"] is True
    assert "parity max abs diff" in " ".join(capsys.readouterr().err.split())


def test_export_cli_help_and_missing_checkpoint(tmp_path):
    with pytest.raises(SystemExit) as exc:
        to_onnx.main(["--help"])
    assert exc.value.code == 0
    assert to_onnx.main(["--checkpoint", str(tmp_path / "nope.ckpt")]) == 2


def test_exported_model_passes_the_contract_validator(tiny_onnx, tmp_path):
    report_path = tmp_path / "validation_report.json"
    assert (
        validate_contract.main(["--model", str(tiny_onnx.path), "--report", str(report_path), "--latency-runs", "20"])
        == 0
    )
    report = json.loads(report_path.read_text())
    assert report["passed"] is True and report["model_sha256"]


def test_validator_cli_fails_naming_the_rule(tmp_path, capsys):
    from onnx import TensorProto, helper

    # A 16 kHz model: wrong window length, and its output is not a softmax over >= 2 speakers.
    graph = helper.make_graph(
        [helper.make_node("Identity", ["audio"], ["speaker_embeddings"])],
        "bad",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch_size", 16000])],
        [helper.make_tensor_value_info("speaker_embeddings", TensorProto.FLOAT, ["batch_size", 16000])],
    )
    bad = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(bad))
    report_path = tmp_path / "report.json"
    assert validate_contract.main(["--model", str(bad), "--report", str(report_path), "--no-latency"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "input.length" in out
    assert json.loads(report_path.read_text())["passed"] is False
