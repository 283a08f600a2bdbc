"""GE2E: the in-graph front end and encoder against Resemblyzer's own pipeline, and the ONNX file against both.

Reference path (resemblyzer 0.1.4, what ``VoiceEncoder.embed_utterance`` does before its partial-utterance slicing):
``librosa.resample(48 kHz -> 16 kHz)`` (soxr), ``resemblyzer.audio.normalize_volume(wav, -30, increase_only=True)``,
``resemblyzer.audio.wav_to_mel_spectrogram`` (librosa mel power), ``VoiceEncoder.forward`` with its packaged weights.
Ours: the same 48 kHz window through :class:`GE2E` (FIR decimation, gain, DFT-conv mel power, the same LSTM weights).
The only step that differs is the resampler, so the mel is compared on identical 16 kHz input (exact up to float
rounding) and the embedding end to end (cosine >= 0.999).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voiceflow_contract.spec import EMBEDDING_OUTPUT, INPUT_NAME, PROBABILITIES_OUTPUT, SAMPLE_RATE, WINDOW_SAMPLES
from voiceflow_models.data.synthesis.synthesizer import synthesize_speech
from voiceflow_models.data.synthesis.voices import make_voice
from voiceflow_models.models.ge2e import GE2E, resemblyzer_weights
from voiceflow_models.models.ge2e_frontend import ENCODER_SAMPLE_RATE, Ge2eMelFrontEnd

librosa = pytest.importorskip("librosa", reason="parity reference: pip install 'voiceflow-models[test]'")
resemblyzer_audio = pytest.importorskip("resemblyzer.audio", reason="needs resemblyzer + webrtcvad (test extra)")
resemblyzer = pytest.importorskip("resemblyzer")


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    """1 s speech windows of three synthetic voices, plus a quiet copy (the gain path) and a loud one (no gain)."""
    rng = np.random.default_rng(0)
    out = []
    for voice_id in range(3):
        audio = synthesize_speech(make_voice(0, voice_id), rng, min_duration_s=2.5).audio.astype(np.float32)
        out.append(audio[SAMPLE_RATE // 2 : SAMPLE_RATE // 2 + WINDOW_SAMPLES])
    out.append(out[0] * 0.02)
    out.append(np.clip(out[1] * 8.0, -1.0, 1.0))
    return np.stack(out)


@pytest.fixture(scope="module")
def net() -> GE2E:
    torch.manual_seed(0)
    return GE2E(num_speakers=4).eval()


@pytest.fixture(scope="module")
def reference_encoder():
    return resemblyzer.VoiceEncoder("cpu", verbose=False, weights_fpath=resemblyzer_weights())


def reference_embedding(encoder, window: np.ndarray) -> np.ndarray:
    wav = librosa.resample(window, orig_sr=SAMPLE_RATE, target_sr=ENCODER_SAMPLE_RATE)
    wav = resemblyzer_audio.normalize_volume(wav, -30, increase_only=True)
    mel = resemblyzer_audio.wav_to_mel_spectrogram(wav)
    with torch.no_grad():
        return encoder(torch.from_numpy(mel)[None])[0].numpy()


def test_mel_matrix_and_mel_power_match_librosa(windows):
    frontend = Ge2eMelFrontEnd()
    reference_fb = librosa.filters.mel(sr=ENCODER_SAMPLE_RATE, n_fft=400, n_mels=40)  # [40, 201]
    np.testing.assert_allclose(frontend.mel.numpy().T, reference_fb, rtol=1e-4, atol=1e-7)
    wav = librosa.resample(windows[0], orig_sr=SAMPLE_RATE, target_sr=ENCODER_SAMPLE_RATE).astype(np.float32)
    reference = resemblyzer_audio.wav_to_mel_spectrogram(wav)  # [frames, 40], mel power (not log)
    with torch.no_grad():
        ours = frontend.mel_power(torch.from_numpy(wav)[None])[0].numpy()
    assert ours.shape == reference.shape == (101, 40)
    assert np.abs(ours - reference).max() <= 1e-4 * np.abs(reference).max()


def test_volume_normalisation_matches_resemblyzer(windows):
    frontend = Ge2eMelFrontEnd()
    wav = librosa.resample(windows[3], orig_sr=SAMPLE_RATE, target_sr=ENCODER_SAMPLE_RATE).astype(np.float32)
    expected = resemblyzer_audio.normalize_volume(wav, -30, increase_only=True)
    ours = (torch.from_numpy(wav)[None] * frontend.gain(torch.from_numpy(wav)[None]))[0].numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-7)


def test_embedding_matches_resemblyzer_forward(net, windows, reference_encoder):
    with torch.no_grad():
        logits, ours = net(torch.from_numpy(windows))
    assert logits.shape == (len(windows), 4) and ours.shape == (len(windows), 256)
    np.testing.assert_allclose(ours.norm(dim=-1).numpy(), 1.0, atol=1e-5)
    for i, window in enumerate(windows):
        reference = reference_embedding(reference_encoder, window)
        cosine = float(ours[i].numpy() @ reference / np.linalg.norm(reference))
        assert cosine >= 0.999, f"window {i}: cosine {cosine:.5f} vs resemblyzer"


def test_onnx_matches_torch_and_passes_the_contract(net, windows, tmp_path):
    from voiceflow_contract.runtime import create_session
    from voiceflow_contract.validator import validate_model_contract
    from voiceflow_models.export.to_onnx import export_onnx

    result = export_onnx(net, tmp_path / "ge2e.onnx", check_parity=False)  # parity is checked below, on speech
    assert result.outputs == [PROBABILITIES_OUTPUT, EMBEDDING_OUTPUT]
    assert result.size_bytes < 50e6
    session = create_session(result.path, intra_op_threads=1)
    probs, embedding = session.run([PROBABILITIES_OUTPUT, EMBEDDING_OUTPUT], {INPUT_NAME: windows})
    with torch.no_grad():
        logits, expected = net(torch.from_numpy(windows))
    cosine = (embedding * expected.numpy()).sum(-1) / np.linalg.norm(embedding, axis=-1)
    assert cosine.min() >= 0.9999
    np.testing.assert_allclose(probs, torch.softmax(logits, -1).numpy(), atol=1e-4)
    report = validate_model_contract(result.path, profile="cpu-realtime", measure_latency=False)
    assert report.passed, [(c.name, c.message) for c in report.failed_checks]


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="embedding_dim"):
        GE2E(num_speakers=4, embedding_dim=192, pretrained=None)
    with pytest.raises(ValueError, match="num_speakers"):
        GE2E(num_speakers=1, pretrained=None)


def test_architecture_config_rebuilds_without_the_weights_file(net):
    config = net.architecture_config()
    assert config["pretrained"] is None and config["num_speakers"] == 4
    rebuilt = GE2E(**config)
    rebuilt.load_state_dict(net.state_dict())
    assert rebuilt.layer_signature() == net.layer_signature()
