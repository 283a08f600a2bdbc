"""Models: the DiarizationModel interface, FastCNN/Sophisticated shapes and sizes, signatures, ONNX export (dynamo)."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from voiceflow_models.models.base import DiarizationModel
from voiceflow_models.models.fast_cnn import FastCNN, LogMelFrontEnd
from voiceflow_models.models.sophisticated import PRESETS, Sophisticated, decimation_response_db


class _Head(torch.nn.Module):
    """The contract's outputs (softmax + embedding) around a network, for export tests."""

    def __init__(self, net: DiarizationModel) -> None:
        super().__init__()
        self.net = net

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, embedding = self.net(audio)
        return torch.softmax(logits, dim=-1), embedding


def export_dynamo(net: DiarizationModel, path) -> ort.InferenceSession:
    """Export exactly as the brief prescribes (dynamo, opset 18, batch-2 example, dynamic batch, one file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Head(net.eval()),
            (torch.randn(2, 48000) * 0.1,),
            str(path),
            dynamo=True,
            external_data=False,
            opset_version=18,
            input_names=["audio"],
            output_names=["speaker_embeddings", "embedding"],
            dynamic_shapes={"audio": {0: torch.export.Dim("batch_size")}},
            verbose=False,
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def fast_cnn() -> FastCNN:
    torch.manual_seed(0)
    return FastCNN(num_speakers=40).eval()


def test_fast_cnn_shapes_and_attributes(fast_cnn):
    logits, embedding = fast_cnn(torch.randn(3, 48000) * 0.1)
    assert logits.shape == (3, 40)
    assert embedding.shape == (3, fast_cnn.embedding_dim)
    assert (fast_cnn.sample_rate, fast_cnn.window_samples) == (48000, 48000)
    assert (fast_cnn.arch_type, fast_cnn.arch_name, fast_cnn.profile) == ("cnn", "fast-cnn", "cpu-realtime")
    assert torch.isfinite(logits).all() and torch.isfinite(embedding).all()


def test_fast_cnn_parameter_count_is_about_2_3m(fast_cnn):
    params = fast_cnn.count_parameters()
    assert 2.3e6 * 0.85 <= params <= 2.3e6 * 1.15, params
    # The fixed DFT/mel buffers are not parameters.
    assert fast_cnn.count_parameters(trainable_only=False) == params
    assert "frontend.dft" in dict(fast_cnn.named_buffers())


def test_fast_cnn_is_gain_invariant_and_handles_silence(fast_cnn):
    audio = torch.randn(2, 48000) * 0.1
    a, _ = fast_cnn(audio)
    b, _ = fast_cnn(audio * 4.0)
    # The front end removes the window's mean log level, so a gain change barely moves the output.
    assert torch.allclose(a, b, atol=1e-3)
    silent, emb = fast_cnn(torch.zeros(1, 48000))
    assert torch.isfinite(silent).all() and torch.isfinite(emb).all()


def test_log_mel_front_end_matches_torchaudio_shape():
    front = LogMelFrontEnd()
    out = front(torch.randn(2, 48000))
    assert out.shape == (2, 64, front.num_frames(48000))
    assert front.num_frames(48000) == 99


def test_sophisticated_tiny_shapes():
    torch.manual_seed(0)
    net = Sophisticated(num_speakers=5, embedding_dim=32, size="tiny").eval()
    logits, embedding = net(torch.randn(2, 48000) * 0.1)
    assert logits.shape == (2, 5) and embedding.shape == (2, 32)
    assert (net.arch_type, net.arch_name, net.profile) == ("wav2vec2", "sophisticated", "gpu-large")
    assert net.count_parameters() < 500_000


def test_sophisticated_base_is_wav2vec2_base_sized():
    net = Sophisticated(num_speakers=40, size="base")
    # wav2vec2-base's encoder is 94.4M parameters; the pooling/embedding/classifier add well under 1M.
    assert 94e6 <= net.count_parameters() <= 96e6
    assert set(PRESETS) == {"tiny", "small", "base"}


def test_decimation_filter_passes_speech_band_and_stops_aliases():
    assert decimation_response_db(1000.0) > -0.5
    assert decimation_response_db(6000.0) > -1.0
    # What would fold back into the 16 kHz band must be attenuated.
    assert decimation_response_db(9000.0) < -40.0
    assert decimation_response_db(16000.0) < -40.0


def test_invalid_configuration_is_rejected_with_named_rule():
    with pytest.raises(ValueError, match="num_speakers"):
        FastCNN(num_speakers=1)
    with pytest.raises(ValueError, match="channels, kernels and strides"):
        FastCNN(channels=[8, 8], kernels=[3], strides=[1, 1])
    with pytest.raises(ValueError, match="size must be one of"):
        Sophisticated(size="huge")
    net = FastCNN(num_speakers=2, channels=[8], kernels=[3], strides=[1], embedding_dim=8)
    with pytest.raises(ValueError, match=r"shape \[batch, 48000\]"):
        net.check_input(torch.zeros(2, 16000))
    with pytest.raises(ValueError, match="float32"):
        net.check_input(torch.zeros(2, 48000, dtype=torch.float64))


def test_layer_signature_tracks_architecture_not_weights():
    torch.manual_seed(0)
    a = FastCNN(num_speakers=10)
    torch.manual_seed(1)
    b = FastCNN(num_speakers=10)
    assert a.layer_signature() == b.layer_signature()
    assert len(a.layer_signature()) == 64
    assert FastCNN(num_speakers=11).layer_signature() != a.layer_signature()
    wider = FastCNN(num_speakers=10, channels=[192, 256, 320, 384, 448, 576])
    assert wider.layer_signature() != a.layer_signature()
    assert a.architecture_config()["channels"] == [192, 256, 320, 384, 448, 512]
    assert FastCNN(**a.architecture_config()).layer_signature() == a.layer_signature()
    assert a.num_layers() == 8  # 6 convs + embedding + classifier


def test_fast_cnn_exports_with_dynamo_and_matches_torch(fast_cnn, tmp_path):
    session = export_dynamo(fast_cnn, tmp_path / "fast.onnx")
    assert [i.name for i in session.get_inputs()] == ["audio"]
    assert [o.name for o in session.get_outputs()] == ["speaker_embeddings", "embedding"]
    for batch in (1, 3):
        audio = torch.randn(batch, 48000) * 0.1
        with torch.no_grad():
            ref_probs, ref_emb = _Head(fast_cnn)(audio)
        probs, emb = session.run(None, {"audio": audio.numpy()})
        assert probs.shape == (batch, 40)
        np.testing.assert_allclose(probs, ref_probs.numpy(), atol=1e-5)
        np.testing.assert_allclose(emb, ref_emb.numpy(), atol=1e-3, rtol=1e-3)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # No timing assertion here (tests never depend on machine speed): latency is measured by voiceflow-benchmark and
    # checked against the profile's budget by the contract validator.


def test_sophisticated_tiny_exports_with_dynamo(tmp_path):
    torch.manual_seed(0)
    net = Sophisticated(num_speakers=4, embedding_dim=16, size="tiny").eval()
    session = export_dynamo(net, tmp_path / "soph.onnx")
    audio = torch.randn(3, 48000) * 0.1
    with torch.no_grad():
        ref_probs, _ = _Head(net)(audio)
    probs, emb = session.run(None, {"audio": audio.numpy()})
    assert probs.shape == (3, 4) and emb.shape == (3, 16)
    np.testing.assert_allclose(probs, ref_probs.numpy(), atol=1e-5)


def test_lit_module_rejects_bad_batches_and_margin_loss_runs():
    from functools import partial

    from voiceflow_models.models.lit_module import AAMSoftmaxHead, DiarizationLitModule

    torch.manual_seed(0)
    net = Sophisticated(num_speakers=3, embedding_dim=16, size="tiny")
    module = DiarizationLitModule(net=net, optimizer=partial(torch.optim.AdamW, lr=1e-3), aam_margin=0.2)
    audio = torch.randn(2, 48000) * 0.1
    loss, preds, _ = module.model_step((audio, torch.tensor([0, 2])), train=True)
    assert loss.ndim == 0 and torch.isfinite(loss) and preds.shape == (2,)
    loss.backward()
    assert net.encoder.encoder.transformer.layers[0].attention.k_proj.weight.grad is not None
    assert module.training_step((audio[:1], torch.tensor([0])), 0) is None  # one-window remainder batch: skipped
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        module.model_step((audio, torch.tensor([0, 3])))
    with pytest.raises(ValueError, match="a batch must be"):
        module.model_step(audio)
    with pytest.raises(ValueError, match="eval_vector"):
        DiarizationLitModule(net=net, optimizer=torch.optim.AdamW, eval_vector="logits")
    with pytest.raises(ValueError, match="aam margin"):
        AAMSoftmaxHead(margin=2.0)
    # The margin lowers the target logit: cos(theta + m) < cos(theta).
    head = AAMSoftmaxHead(margin=0.3, scale=1.0)
    emb, weight = torch.tensor([[1.0, 0.2]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    plain = torch.nn.functional.linear(torch.nn.functional.normalize(emb), torch.nn.functional.normalize(weight))
    margin = head(emb, weight, torch.tensor([0]))
    assert margin[0, 0] < plain[0, 0] and torch.isclose(margin[0, 1], plain[0, 1])


def test_warmup_cosine_schedule_and_resume_with_more_steps():
    from voiceflow_models.models.schedulers import WarmupCosineLR

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    total = {"steps": 10}
    scheduler = WarmupCosineLR(optimizer, total_steps=lambda: total["steps"], warmup_fraction=0.2, final_lr_ratio=0.0)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0)  # warm-up over 2 steps
    assert lrs[2] == pytest.approx(1.0) and lrs[-1] < 0.05
    state = scheduler.state_dict()
    assert not any(callable(v) for v in state.values())
    # Resume into a twice-longer run: the schedule stretches instead of failing.
    total["steps"] = 20
    resumed = WarmupCosineLR(optimizer, total_steps=lambda: total["steps"], warmup_fraction=0.2, final_lr_ratio=0.0)
    resumed.load_state_dict(state)
    resumed.step()
    assert 0.4 < optimizer.param_groups[0]["lr"] < 0.9
    with pytest.raises(ValueError, match="warmup_fraction"):
        WarmupCosineLR(optimizer, total_steps=5, warmup_fraction=1.0)
