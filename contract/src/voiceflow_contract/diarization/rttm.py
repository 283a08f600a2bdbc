"""RTTM (Rich Transcription Time Marked) writing and parsing, SPEAKER lines only.

Line format (NIST RT-09, 10 space-separated fields)::

    SPEAKER <uri> <channel> <onset> <duration> <NA> <NA> <speaker> <NA> <NA>
"""

from __future__ import annotations

from collections.abc import Iterable

from voiceflow_contract.diarization.errors import DiarizationError
from voiceflow_contract.diarization.streaming import Segment


def _check_token(value: str, name: str) -> None:
    if not value or any(ch.isspace() for ch in value):
        raise DiarizationError(f"{name}: must be a non-empty string without whitespace for RTTM, got {value!r}")


def to_rttm(segments: Iterable[Segment], uri: str, channel: int = 1) -> str:
    """Render ``segments`` as RTTM SPEAKER lines for recording ``uri`` (sorted by start; empty string if none)."""
    _check_token(uri, "uri")
    lines = []
    for seg in sorted(segments, key=lambda s: (s.start, s.end, s.speaker)):
        _check_token(seg.speaker, "speaker")
        if not seg.end > seg.start or seg.start < 0:
            raise DiarizationError(f"segments: invalid segment {seg} (need 0 <= start < end)")
        lines.append(
            f"SPEAKER {uri} {channel} {seg.start:.3f} {seg.end - seg.start:.3f} <NA> <NA> {seg.speaker} <NA> <NA>"
        )
    return "".join(line + "\n" for line in lines)


def parse_rttm(text: str) -> dict[str, list[Segment]]:
    """Parse RTTM text into ``{uri: [Segment, ...]}`` (sorted by start); non-SPEAKER and comment lines are skipped.

    Raises DiarizationError naming the line number for a malformed SPEAKER line.
    """
    out: dict[str, list[Segment]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        fields = line.split()
        if fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise DiarizationError(f"rttm line {number}: expected at least 8 fields, got {len(fields)}: {raw!r}")
        try:
            onset = float(fields[3])
            duration = float(fields[4])
        except ValueError as exc:
            raise DiarizationError(f"rttm line {number}: onset/duration are not numbers: {raw!r}") from exc
        if onset < 0 or duration < 0:
            raise DiarizationError(f"rttm line {number}: negative onset or duration: {raw!r}")
        if duration == 0:
            continue
        out.setdefault(fields[1], []).append(Segment(round(onset, 6), round(onset + duration, 6), fields[7]))
    for segs in out.values():
        segs.sort()
    return out
