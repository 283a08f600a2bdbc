"""Where finalize puts a speaker change between two overlapping windows: midpoint, or the margin's zero crossing."""

from __future__ import annotations

import numpy as np
import pytest

from voiceflow_contract.diarization import DiarizationError, StreamingDiarizer
from voiceflow_contract.diarization.boundaries import margin_cuts
from voiceflow_contract.diarization.regions import Window, owned_spans

HOP = 0.5
A, B = np.eye(8)[0], np.eye(8)[1]


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _windows(units: list[np.ndarray], labels: list[int]) -> list[Window]:
    """1 s windows every HOP seconds, one per unit vector, with the given speaker labels."""
    return [Window(k * HOP, k * HOP + 1.0, True, u, lab) for k, (u, lab) in enumerate(zip(units, labels, strict=True))]


def _session(mix: float) -> tuple[list[np.ndarray], list[int]]:
    """Six windows of A then six of B; window 5 (the last A one) holds ``mix`` of B already."""
    units = [_unit(A)] * 5 + [_unit((1 - mix) * A + mix * B)] + [_unit(B)] * 6
    return units, [0] * 6 + [1] * 6


def test_a_symmetric_change_stays_half_way() -> None:
    units = [_unit(A)] * 6 + [_unit(B)] * 6
    windows = _windows(units, [0] * 6 + [1] * 6)
    cuts = margin_cuts(windows, np.array([w.label for w in windows]))
    centre_5, centre_6 = 5 * HOP + 0.5, 6 * HOP + 0.5
    assert list(cuts) == [5]
    assert cuts[5] == pytest.approx(0.5 * (centre_5 + centre_6))


@pytest.mark.parametrize("mix", [0.2, 0.35, 0.45])
def test_a_window_that_already_holds_the_next_speaker_moves_the_change_towards_its_centre(mix: float) -> None:
    windows = _windows(*_session(mix))
    labels = np.array([w.label for w in windows])
    cuts = margin_cuts(windows, labels)
    centre_5, centre_6 = 5 * HOP + 0.5, 6 * HOP + 0.5
    assert centre_5 < cuts[5] < 0.5 * (centre_5 + centre_6)
    more = margin_cuts(_windows(*_session(mix + 0.04)), labels)
    assert more[5] < cuts[5]  # more of B in the window: the change comes earlier


def test_a_window_labelled_a_that_leans_to_b_puts_the_change_at_its_centre() -> None:
    windows = _windows(*_session(0.7))  # labelled A (say by its neighbours) but closer to B
    spans = owned_spans(windows, margin_cuts(windows, np.array([w.label for w in windows])))
    by_index = {i: (lo, hi) for lo, hi, i in spans}
    assert by_index[5][1] == pytest.approx(5 * HOP + 0.5)
    assert by_index[6][0] == pytest.approx(5 * HOP + 0.5)


def test_no_cut_where_the_margin_rises_or_a_side_is_not_speech() -> None:
    units = [_unit(A)] * 5 + [_unit(B), _unit(A)] + [_unit(B)] * 5
    windows = _windows(units, [0] * 6 + [1] * 6)  # windows 5 and 6 labelled against their vectors: the margin rises
    assert margin_cuts(windows, np.array([w.label for w in windows])) == {}
    windows[6] = Window(windows[6].start, windows[6].end, False, None, -1)
    labels = np.array([w.label for w in windows])
    assert 5 not in margin_cuts(windows, labels) and 6 not in margin_cuts(windows, labels)


def test_owned_spans_keep_moved_borders_between_the_centres_and_tile_the_timeline() -> None:
    windows = _windows([_unit(A)] * 4, [0] * 4)
    spans = owned_spans(windows, {0: 0.0, 1: 1.1, 2: 99.0})
    assert [(round(lo, 6), round(hi, 6)) for lo, hi, _ in spans] == [(0.0, 0.5), (0.5, 1.1), (1.1, 2.0), (2.0, 2.5)]
    assert owned_spans(windows) == owned_spans(windows, {})


def _diarize(boundary: str, mix: float) -> list[tuple[float, float, str]]:
    units, _labels = _session(mix)
    diarizer = StreamingDiarizer(method="ahc", final_threshold=0.0, boundary=boundary)  # type: ignore[arg-type]
    for k, unit in enumerate(units):
        diarizer.push(k * HOP, k * HOP + 1.0, unit)
    return [(s.start, s.end, s.speaker) for s in diarizer.finalize()]


def test_finalize_with_the_margin_rule_moves_the_change_earlier_and_keeps_the_turns() -> None:
    midpoint, margin = _diarize("midpoint", 0.35), _diarize("margin", 0.35)
    assert [s[2] for s in midpoint] == [s[2] for s in margin] == ["spk0", "spk1"]
    assert midpoint[0][1] == pytest.approx(5 * HOP + 0.75)
    assert 5 * HOP + 0.5 < margin[0][1] < midpoint[0][1]
    assert margin[0][1] == margin[1][0]
    assert (margin[0][0], margin[1][1]) == (midpoint[0][0], midpoint[1][1])


def test_an_unknown_boundary_rule_is_refused_by_name() -> None:
    with pytest.raises(DiarizationError, match="boundary"):
        StreamingDiarizer(boundary="nearest")  # type: ignore[arg-type]
