"""Plain records shared by the synthetic and real-corpus data code."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from voiceflow_contract.diarization import Segment, to_rttm


@dataclass
class Conversation:
    """A multi-speaker recording (mono float32 audio) with its reference turns."""

    uri: str
    audio: np.ndarray  # float32 [samples]
    sample_rate: int
    segments: list[Segment]  # reference speaker turns, seconds
    speakers: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.audio) / self.sample_rate

    @property
    def rttm(self) -> str:
        """The reference as RTTM text."""
        return to_rttm(self.segments, self.uri)

    def as_item(self) -> dict[str, object]:
        """Dict form used by the conversation dataset (torch tensors are added by the dataset)."""
        return {
            "uri": self.uri,
            "audio": self.audio,
            "sample_rate": self.sample_rate,
            "segments": list(self.segments),
            "rttm": self.rttm,
        }
