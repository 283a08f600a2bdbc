"""Any corpus given as audio files + RTTM references (AMI, VoxConverse, DIHARD-like layouts).

Audio files are matched to RTTM ``uri`` by file stem: ``<uri>.wav`` or ``<uri>.<anything>.wav`` (AMI's
``ES2002a.Mix-Headset.wav``), searched recursively under the audio directory. Every sample rate is resampled to 48 kHz.
The corpus gives evaluation conversations and, for training, single-speaker regions cut into windows.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceflow_contract.diarization import Segment, parse_rttm
from voiceflow_models.data.audio_io import TARGET_SAMPLE_RATE, audio_info, read_audio
from voiceflow_models.data.records import Conversation

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class Recording:
    """One recording of the corpus: its audio file and reference turns."""

    uri: str
    audio_path: Path
    segments: tuple[Segment, ...]


def exclusive_regions(segments: list[Segment] | tuple[Segment, ...]) -> list[Segment]:
    """Parts of each segment where no other speaker talks (for clean single-speaker training windows)."""
    points = sorted({s.start for s in segments} | {s.end for s in segments})
    out: list[Segment] = []
    for a, b in itertools.pairwise(points):
        active = {s.speaker for s in segments if s.start < b and s.end > a}
        if len(active) == 1:
            speaker = next(iter(active))
            if out and out[-1].speaker == speaker and abs(out[-1].end - a) < 1e-9:
                out[-1] = Segment(out[-1].start, b, speaker)
            else:
                out.append(Segment(a, b, speaker))
    return out


class RttmCorpus:
    """Recordings found under ``audio_dir`` with references from ``rttm_dir`` (all ``*.rttm``, recursively).

    Recordings whose audio is missing are skipped (listed in ``missing``); ``uris`` restricts to a subset.
    """

    def __init__(self, audio_dir: str | Path, rttm_dir: str | Path, uris: list[str] | None = None) -> None:
        self.audio_dir = Path(audio_dir)
        self.rttm_dir = Path(rttm_dir)
        if not self.audio_dir.is_dir():
            raise FileNotFoundError(f"audio_dir: not a directory: {self.audio_dir}")
        if not self.rttm_dir.is_dir():
            raise FileNotFoundError(f"rttm_dir: not a directory: {self.rttm_dir}")
        references: dict[str, list[Segment]] = {}
        self.rttm_files = sorted(self.rttm_dir.rglob("*.rttm"))
        for file in self.rttm_files:
            for uri, segs in parse_rttm(file.read_text()).items():
                references.setdefault(uri, []).extend(segs)
        audio_index: dict[str, Path] = {}
        for file in sorted(self.audio_dir.rglob("*")):
            if file.suffix.lower() in AUDIO_EXTENSIONS and file.is_file():
                audio_index.setdefault(file.stem, file)
                audio_index.setdefault(file.stem.split(".")[0], file)
        wanted = set(uris) if uris is not None else None
        self.recordings: list[Recording] = []
        self.missing: list[str] = []
        for uri in sorted(references):
            if wanted is not None and uri not in wanted:
                continue
            path = audio_index.get(uri)
            if path is None:
                self.missing.append(uri)
                continue
            self.recordings.append(Recording(uri, path, tuple(sorted(references[uri]))))
        if not self.recordings:
            raise FileNotFoundError(
                f"no recording of {self.rttm_dir} has audio under {self.audio_dir} (missing: {self.missing[:5]})"
            )

    def __len__(self) -> int:
        return len(self.recordings)

    def conversation(self, index: int, sample_rate: int = TARGET_SAMPLE_RATE) -> Conversation:
        """Recording ``index`` as a conversation (whole file read, resampled)."""
        rec = self.recordings[index]
        audio = read_audio(rec.audio_path, target_sr=sample_rate)
        speakers = sorted({s.speaker for s in rec.segments})
        return Conversation(rec.uri, audio, sample_rate, list(rec.segments), speakers)

    def conversations(self, sample_rate: int = TARGET_SAMPLE_RATE) -> Iterator[Conversation]:
        """Every recording as a conversation."""
        for i in range(len(self.recordings)):
            yield self.conversation(i, sample_rate)

    def fingerprint(self) -> str:
        """sha256 over the RTTM contents and the audio names and sizes (audio itself is not hashed: corpora are big)."""
        digest = hashlib.sha256()
        for file in self.rttm_files:
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
        for rec in self.recordings:
            digest.update(f"{rec.uri}:{rec.audio_path.name}:{rec.audio_path.stat().st_size}".encode())
        return digest.hexdigest()


class CorpusSpeakerSource:
    """Training windows from a corpus: each speaker's exclusive regions of at least ``min_region_s`` seconds.

    Speakers are named ``<uri>/<label>`` unless ``global_speakers`` (labels shared across recordings, e.g. AMI ids).
    Windows are read from disk per item (only the needed span) and resampled to 48 kHz.
    """

    def __init__(
        self,
        corpus: RttmCorpus,
        min_region_s: float = 1.0,
        global_speakers: bool = False,
        sample_rate: int = TARGET_SAMPLE_RATE,
        max_speakers: int | None = None,
        part: str = "all",
    ) -> None:
        if part not in ("all", "train", "heldout"):
            raise ValueError(f"part: must be all, train or heldout; got {part!r}")
        regions: dict[str, list[tuple[Path, float, float]]] = {}
        for rec in corpus.recordings:
            for seg in exclusive_regions(rec.segments):
                if seg.duration >= min_region_s:
                    name = seg.speaker if global_speakers else f"{rec.uri}/{seg.speaker}"
                    regions.setdefault(name, []).append((rec.audio_path, seg.start, seg.end))
        names = sorted(regions, key=lambda n: (-sum(e - s for _, s, e in regions[n]), n))
        if max_speakers is not None:
            names = names[:max_speakers]
        if not names:
            raise ValueError(f"corpus has no single-speaker region of at least {min_region_s} s")
        self._speakers = sorted(names)
        self._regions = [held_out_split(regions[n], part, min_region_s) for n in self._speakers]
        self.sample_rate = sample_rate
        self.min_region_s = min_region_s

    @property
    def speakers(self) -> list[str]:
        """Speaker names in label order."""
        return list(self._speakers)

    def window(self, speaker: int, rng: np.random.Generator, window_samples: int) -> np.ndarray:
        """A random window inside one of the speaker's regions (zero-padded if the region is shorter)."""
        regions = self._regions[speaker]
        lengths = np.array([e - s for _, s, e in regions])
        path, start, end = regions[int(rng.choice(len(regions), p=lengths / lengths.sum()))]
        window_s = window_samples / self.sample_rate
        offset = float(rng.uniform(start, max(start, end - window_s)))
        audio = read_audio(path, offset, offset + window_s, self.sample_rate)[:window_samples]
        if audio.size < window_samples:
            audio = np.pad(audio, (0, window_samples - audio.size))
        return audio.astype(np.float32)


def held_out_split(
    regions: list[tuple[Path, float, float]], part: str, min_region_s: float
) -> list[tuple[Path, float, float]]:
    """Regions of a speaker for ``part``: every 5th region (at least one) is held out; a single region is split 80/20
    in time when both parts stay at least ``min_region_s`` long (otherwise both parts use it)."""
    if part == "all":
        return regions
    if len(regions) >= 2:
        held = set(range(4, len(regions), 5)) or {len(regions) - 1}
        return [r for i, r in enumerate(regions) if (i in held) == (part == "heldout")]
    path, start, end = regions[0]
    cut = start + 0.8 * (end - start)
    if cut - start >= min_region_s and end - cut >= min_region_s:
        return [(path, start, cut)] if part == "train" else [(path, cut, end)]
    return regions


def recording_duration_s(path: Path) -> float:
    """Length of an audio file in seconds."""
    sr, frames = audio_info(path)
    return frames / sr
