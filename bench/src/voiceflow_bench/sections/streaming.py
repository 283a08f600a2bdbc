"""Section 4, streaming: the real-time factor of one /ws/diarize session and how many concurrent sessions stay real
time with a p99 window under the budget."""

from __future__ import annotations

from voiceflow_bench.config import WINDOW_P99_BUDGET_MS
from voiceflow_bench.recorder import Recorder, finite
from voiceflow_bench.serving.server import ServerProcess
from voiceflow_bench.serving.stats import Row, at_least, at_most
from voiceflow_bench.serving.streaming import realtime_capacity, realtime_factor


def streaming(rec: Recorder, server: ServerProcess, section: str = "streaming") -> None:
    """RTF of one session and concurrent real-time capacity (rows and raw results under ``section``)."""
    config = rec.config
    rtf, session = realtime_factor(server.ws_url, seconds=config.rtf_seconds)
    best, levels = realtime_capacity(
        server.ws_url,
        levels=config.capacity_levels,
        seconds=config.capacity_seconds,
        p99_budget_ms=WINDOW_P99_BUDGET_MS,
        min_windows=config.capacity_min_windows,
    )
    rec.raw[section] = {
        "rtf": rtf,
        "rtf_session": {"audio_s": session.audio_s, "wall_s": session.wall_s, "windows": session.windows},
        "rtf_errors": session.errors,
        "capacity": [level.to_dict() for level in levels],
        "max_realtime_sessions": best,
    }
    last = levels[-1]
    rec.add(
        Row(
            section,
            "real-time factor per /ws/diarize session",
            finite(rtf, 4),
            "x",
            "< 1",
            at_most(rtf, 0.999),
            f"{session.audio_s:g} s of audio sent as fast as possible, hop 0.5 s",
        ),
        Row(
            section,
            "max concurrent real-time sessions, p99 window < 10 ms",
            float(best),
            "sessions",
            ">= 1",
            at_least(best, 1),
            f"levels {[lv.sessions for lv in levels]}; at {last.sessions}: p99 {last.latency.p99_ms:.1f} ms, "
            f"{last.failed_sessions} failed (client shares the 2 cores)",
        ),
    )
