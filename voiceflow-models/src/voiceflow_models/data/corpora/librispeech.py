"""LibriSpeech-style single-speaker folders (``<root>/<split>/<speaker>/<chapter>/*.flac``) as training speakers and
as simulated multi-speaker conversations with reference RTTM.

Each turn of a simulated conversation is one utterance, trimmed of leading/trailing silence; turns alternate between
speakers with pauses and occasional overlap, like the synthetic conversations.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from voiceflow_contract.diarization import Segment
from voiceflow_models.data.audio_io import TARGET_SAMPLE_RATE, read_audio
from voiceflow_models.data.records import Conversation
from voiceflow_models.data.synthesis.conversation import merge_segments

AUDIO_GLOBS = ("*.flac", "*.wav")


def split_dir(root: str | Path, split: str) -> Path:
    """``<root>/<split>``, also accepting a root that contains ``LibriSpeech/<split>`` (the archives' layout)."""
    base = Path(root)
    for candidate in (base / split, base / "LibriSpeech" / split):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"LibriSpeech split {split!r} not found under {base} (nor under {base / 'LibriSpeech'})")


def find_utterances(root: str | Path, split: str) -> dict[str, list[Path]]:
    """``{speaker_id: [audio files]}`` of a LibriSpeech split, speakers and files sorted."""
    base = split_dir(root, split)
    out: dict[str, list[Path]] = {}
    for speaker_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        files = sorted(f for pattern in AUDIO_GLOBS for f in speaker_dir.glob(f"*/{pattern}"))
        if files:
            out[speaker_dir.name] = files
    if not out:
        raise FileNotFoundError(f"no <speaker>/<chapter>/*.flac files under {base}")
    return out


def trim_silence(audio: np.ndarray, sample_rate: int, threshold_db: float = -40.0) -> tuple[int, int]:
    """(first, last) sample of the span whose 10 ms frames are within ``threshold_db`` of the loudest frame."""
    frame = max(1, sample_rate // 100)
    n = len(audio) // frame
    if n == 0:
        return 0, len(audio)
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-10
    level = 20 * np.log10(rms / rms.max())
    active = np.flatnonzero(level > threshold_db)
    if active.size == 0:
        return 0, len(audio)
    return int(active[0] * frame), int(min(len(audio), (active[-1] + 1) * frame))


def fingerprint(utterances: dict[str, list[Path]]) -> str:
    """sha256 over speakers, file names and sizes."""
    digest = hashlib.sha256()
    for speaker, files in sorted(utterances.items()):
        for f in files:
            digest.update(f"{speaker}/{f.parent.name}/{f.name}:{f.stat().st_size}".encode())
    return digest.hexdigest()


def simulate_conversation(
    utterances: dict[str, list[Path]],
    speakers: list[str],
    duration_s: float,
    seed: int,
    *,
    sample_rate: int = TARGET_SAMPLE_RATE,
    uri: str | None = None,
    overlap_prob: float = 0.15,
    max_overlap_s: float = 0.6,
    gap_s: tuple[float, float] = (0.15, 1.0),
    merge_gap_s: float = 0.3,
) -> Conversation:
    """A ``duration_s`` conversation of ``speakers`` built from their utterances (deterministic in ``seed``)."""
    if len(speakers) < 1:
        raise ValueError("speakers: need at least one speaker")
    unknown = [s for s in speakers if s not in utterances]
    if unknown:
        raise ValueError(f"speakers: not in the corpus: {unknown}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x11B2])
    total = round(duration_s * sample_rate)
    mix = np.zeros(total, dtype=np.float64)
    raw: list[Segment] = []
    t = float(rng.uniform(0.1, 0.8))
    turn = 0
    while t < duration_s - 0.5:
        speaker = speakers[turn % len(speakers)]
        files = utterances[speaker]
        audio = read_audio(files[int(rng.integers(len(files)))], target_sr=sample_rate)
        first, last = trim_silence(audio, sample_rate)
        audio = audio[first:last]
        start = round(t * sample_rate)
        stop = min(total, start + len(audio))
        mix[start:stop] += audio[: stop - start]
        end = t + len(audio) / sample_rate
        if min(end, duration_s) - t > 1e-3:
            raw.append(Segment(round(t, 3), round(min(end, duration_s), 3), speaker))
        if len(speakers) > 1 and rng.random() < overlap_prob:
            t = max(t + 0.5 * (end - t), end - float(rng.uniform(0.2, max_overlap_s)))
        else:
            t = end + float(rng.uniform(*gap_s))
        turn += 1
    peak = float(np.max(np.abs(mix))) if total else 0.0
    if peak > 0.99:
        mix *= 0.99 / peak
    return Conversation(
        uri=uri or f"libri_{seed}_{'_'.join(speakers)}",
        audio=mix.astype(np.float32),
        sample_rate=sample_rate,
        segments=merge_segments(raw, merge_gap_s),
        speakers=list(speakers),
    )


def held_out_files(files: list[Path], part: str) -> list[Path]:
    """Files of a speaker for ``part``: every 10th file (at least one when there are two or more) is held out."""
    if part == "all" or len(files) < 2:
        return files
    held = set(range(9, len(files), 10)) or {len(files) - 1}
    return [f for i, f in enumerate(files) if (i in held) == (part == "heldout")]


class LibriSpeechSpeakerSource:
    """Training windows from LibriSpeech speakers: a random utterance, a random window of its trimmed speech."""

    def __init__(
        self,
        utterances: dict[str, list[Path]],
        speakers: list[str] | None = None,
        sample_rate: int = TARGET_SAMPLE_RATE,
        part: str = "all",
    ) -> None:
        if part not in ("all", "train", "heldout"):
            raise ValueError(f"part: must be all, train or heldout; got {part!r}")
        self._speakers = sorted(speakers if speakers is not None else utterances)
        missing = [s for s in self._speakers if s not in utterances]
        if missing:
            raise ValueError(f"speakers: not in the corpus: {missing}")
        if not self._speakers:
            raise ValueError("speakers: need at least one speaker")
        self._files = [held_out_files(utterances[s], part) for s in self._speakers]
        self.sample_rate = sample_rate

    @property
    def speakers(self) -> list[str]:
        """Speaker ids in label order."""
        return list(self._speakers)

    def window(self, speaker: int, rng: np.random.Generator, window_samples: int) -> np.ndarray:
        """A random window of one of the speaker's utterances (zero-padded when the utterance is shorter)."""
        files = self._files[speaker]
        audio = read_audio(files[int(rng.integers(len(files)))], target_sr=self.sample_rate)
        first, last = trim_silence(audio, self.sample_rate)
        audio = audio[first:last]
        if audio.size <= window_samples:
            return np.pad(audio, (0, window_samples - audio.size)).astype(np.float32)
        offset = int(rng.integers(audio.size - window_samples + 1))
        return audio[offset : offset + window_samples].astype(np.float32)
