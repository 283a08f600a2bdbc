"""Frame decoding, streaming resampling and the session state machine (real ONNX Runtime, no server)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.signal import resample_poly
from ws_helpers import conversation, der

from voiceflow_contract.diarization import parse_rttm
from voiceflow_inference.config import Settings
from voiceflow_inference.lifecycle.loader import LoadedModel, load_model
from voiceflow_inference.streaming.audio import AudioFormatError, Encoding, FrameDecoder, StreamResampler
from voiceflow_inference.streaming.diarization_session import DiarizationSession, SessionOptions
from voiceflow_inference.streaming.messages import StartMessage


def _chunks(data: bytes, rng: np.random.Generator, max_len: int) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = int(rng.integers(0, max_len))
        out.append(data[i : i + n])
        i += n
    return out


@pytest.mark.parametrize("encoding", list(Encoding))
def test_decoder_carries_partial_samples_across_frames(encoding: Encoding) -> None:
    rng = np.random.default_rng(1)
    x = (rng.uniform(-1, 1, 5000)).astype(np.float32)
    data = x.astype("<f4").tobytes() if encoding is Encoding.PCM_F32LE else (x * 32767).astype("<i2").tobytes()
    decoder = FrameDecoder(encoding)
    pieces = [decoder.decode(chunk) for chunk in _chunks(data, rng, 37)]  # odd sizes split samples everywhere
    got = np.concatenate(pieces)
    whole = FrameDecoder(encoding).decode(data)
    assert decoder.pending_bytes == 0
    np.testing.assert_array_equal(got, whole)
    tol = 0 if encoding is Encoding.PCM_F32LE else 2 / 32768
    np.testing.assert_allclose(got, x, atol=tol)


def test_decoder_reports_trailing_partial_sample() -> None:
    decoder = FrameDecoder(Encoding.PCM_F32LE)
    assert decoder.decode(b"\x00\x00\x80\x3f\x00\x00").tolist() == [1.0]
    assert decoder.pending_bytes == 2
    assert decoder.decode(b"\x80\x3f").tolist() == [1.0]
    assert decoder.pending_bytes == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_decoder_refuses_non_finite_samples(bad: float) -> None:
    decoder = FrameDecoder(Encoding.PCM_F32LE)
    decoder.decode(np.zeros(3, dtype="<f4").tobytes())
    with pytest.raises(AudioFormatError) as err:
        decoder.decode(np.array([0.1, bad], dtype="<f4").tobytes())
    assert err.value.code == "non_finite_audio"
    assert "sample 4" in err.value.message  # position in the stream, not the frame


def test_decoder_refuses_samples_far_out_of_range() -> None:
    decoder = FrameDecoder(Encoding.PCM_F32LE)
    assert decoder.decode(np.array([1.5, -60.0], dtype="<f4").tobytes()).size == 2  # loud but plausible
    with pytest.raises(AudioFormatError) as err:
        decoder.decode(np.array([0.0, 32767.0], dtype="<f4").tobytes())
    assert err.value.code == "audio_out_of_range" and "sample 3" in err.value.message


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000, 96000, 192000])
def test_chunked_resampling_equals_whole_signal(rate: int) -> None:
    rng = np.random.default_rng(rate)
    x = (rng.standard_normal(rate * 2 + 7) * 0.3).astype(np.float32)
    g = np.gcd(rate, 48000)
    whole = resample_poly(x.astype(np.float64), 48000 // g, rate // g)
    resampler = StreamResampler(rate)
    out, i = [], 0
    while i < x.size:
        n = int(rng.integers(0, 2500))
        out.append(resampler.push(x[i : i + n]))
        i += n
    out.append(resampler.flush())
    got = np.concatenate(out)
    assert got.size == whole.size == -(-x.size * 48000 // rate)
    np.testing.assert_allclose(got, whole, atol=1e-5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rate=st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 192000]),
    encoding=st.sampled_from(list(Encoding)),
    cuts=st.lists(st.integers(min_value=0, max_value=40000), max_size=12),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_framing_gives_the_same_48k_stream(rate: int, encoding: Encoding, cuts: list[int], seed: int) -> None:
    """Property: however the byte stream is cut into frames, decode + resample yields the whole-signal result."""
    x = (np.random.default_rng(seed).standard_normal(rate // 4 + 3) * 0.2).astype(np.float32)
    data = x.astype("<f4").tobytes() if encoding is Encoding.PCM_F32LE else (x * 32767).astype("<i2").tobytes()
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    decoder, resampler = FrameDecoder(encoding), StreamResampler(rate)
    out = [resampler.push(decoder.decode(data[a:b])) for a, b in itertools.pairwise(bounds)]
    out.append(resampler.flush())
    whole_in = FrameDecoder(encoding).decode(data)
    g = np.gcd(rate, 48000)
    expected = resample_poly(whole_in.astype(np.float64), 48000 // g, rate // g) if rate != 48000 else whole_in
    np.testing.assert_allclose(np.concatenate(out), expected, atol=1e-5)


@pytest.mark.parametrize("rate", [7999, 192001])
def test_resampler_refuses_rates_out_of_range(rate: int) -> None:
    with pytest.raises(AudioFormatError) as err:
        StreamResampler(rate)
    assert err.value.code == "unsupported_sample_rate"


@pytest.fixture(scope="module")
def band_model(band_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    settings = Settings(registry_url=str(tmp_path_factory.mktemp("reg")), warmup_runs=1)
    return load_model(band_model_path, settings, name="band", version="1.0.0", source="watch")


def hyp_segments(final: object) -> list[object]:
    return list(final.segments)  # type: ignore[attr-defined]


def _stream(session: DiarizationSession, data: bytes, rng: np.random.Generator, max_len: int) -> list[object]:
    windows: list[object] = []
    for chunk in _chunks(data, rng, max_len):
        windows += session.process(chunk)
    more, final = session.finish()
    return [*windows, *more, final]


@pytest.mark.parametrize(("rate", "encoding"), [(16000, Encoding.PCM_S16LE), (48000, Encoding.PCM_F32LE)])
def test_session_diarizes_a_conversation(band_model: LoadedModel, rate: int, encoding: Encoding) -> None:
    conv = conversation(rate, seed=3)
    data = (
        conv.audio.astype("<f4").tobytes()
        if encoding is Encoding.PCM_F32LE
        else np.clip(conv.audio * 32768, -32768, 32767).astype("<i2").tobytes()
    )
    session = DiarizationSession("s1", StartMessage(sample_rate=rate, encoding=encoding, hop_s=0.5), band_model)
    *windows, final = _stream(session, data, np.random.default_rng(0), 9001)
    starts = [w.start for w in windows]  # type: ignore[attr-defined]
    assert starts == sorted(starts) and starts[:3] == [0.0, 0.5, 1.0]
    assert len(windows) == final.windows == 1 + int(np.ceil((conv.duration - 1.0) / 0.5))  # type: ignore[attr-defined]
    assert windows[-1].end == pytest.approx(conv.duration, abs=1e-3)  # type: ignore[attr-defined]
    assert any(not w.speech and w.speaker is None and w.probabilities is None for w in windows)  # type: ignore[attr-defined]
    assert final.model_version == "1.0.0"  # type: ignore[attr-defined]
    hyp = [(s.start, s.end, s.speaker) for s in final.segments]  # type: ignore[attr-defined]
    score = der(conv.turns, hyp, conv.duration)
    print(f"session DER at {rate} Hz {encoding.value}: {score:.3f}")
    assert score < 0.25
    parsed = parse_rttm(final.rttm)["stream"]  # type: ignore[attr-defined]
    assert [(round(s.start, 3), s.speaker) for s in parsed] == [
        (round(s.start, 3), s.speaker) for s in hyp_segments(final)
    ]


def test_session_length_limit_truncates_and_flags(band_model: LoadedModel) -> None:
    session = DiarizationSession(
        "s2", StartMessage(sample_rate=16000), band_model, options=SessionOptions(max_session_s=1.5)
    )
    session.process(np.zeros(16000, dtype="<f4").tobytes())
    assert not session.limit_reached
    session.process(np.zeros(16000, dtype="<f4").tobytes())
    assert session.limit_reached
    assert session.duration == pytest.approx(1.5)


def test_short_stream_gives_one_padded_window(band_model: LoadedModel) -> None:
    conv = conversation(48000, seed=1)
    session = DiarizationSession("s3", StartMessage(), band_model)
    assert session.process(conv.audio[: 48000 // 3].astype("<f4").tobytes()) == []
    windows, final = session.finish()
    assert len(windows) == 1 and windows[0].start == 0.0 and windows[0].end == pytest.approx(1 / 3, abs=1e-4)
    assert final.duration == pytest.approx(1 / 3, abs=1e-4)


def test_long_session_keeps_bounded_buffers(band_model: LoadedModel) -> None:
    """Two minutes of audio in 0.1 s frames: the ring buffer and resampler history stay small."""
    session = DiarizationSession("s4", StartMessage(sample_rate=44100, hop_s=1.0), band_model)
    frame = (np.random.default_rng(0).standard_normal(4410) * 1e-4).astype("<f4").tobytes()  # quiet: VAD skips it
    peak = 0
    for _ in range(1200):
        session.process(frame)
        peak = max(peak, session._buf.size, session.resampler._buf.size)
    assert session.windows_done == 119
    assert peak < 2 * 48000
