"""Section 5, hot reload: reloads under mixed REST + WebSocket load (failed requests, p99 ratio, swap latency), then
reload cycles for the RSS growth."""

from __future__ import annotations

from pathlib import Path

from voiceflow_bench.config import P99_RATIO_TARGET, RSS_GROWTH_TARGET
from voiceflow_bench.recorder import Recorder, finite
from voiceflow_bench.serving.reload_load import hot_reload_under_load
from voiceflow_bench.serving.server import ServerProcess
from voiceflow_bench.serving.stats import Row, at_most


def hot_reload(rec: Recorder, server: ServerProcess, model_path: Path, watch_dir: Path) -> None:
    """Reloads under mixed load, then reload cycles for the RSS."""
    c = rec.config
    result = hot_reload_under_load(
        url=server.url,
        ws_url=server.ws_url,
        port=server.port,
        model_path=model_path,
        watch_dir=watch_dir,
        rss=server.rss_mb,
        steady_s=c.steady_s,
        reload_s=c.reload_s,
        reloads=c.reloads,
        total_cycles=c.reload_cycles,
        rate_per_worker=10.0,
        progress=lambda text: rec.describe(f"hot reload: {text}"),
    )
    rec.raw["hot_reload"] = result.to_dict()
    rss = result.rss_mb
    settled = rss[-1] / rss[c.reloads - 1] - 1.0 if len(rss) > c.reloads >= 1 else float("nan")
    ratio = result.p99_ratio
    rec.add(
        Row(
            "hot reload",
            f"failed requests ({c.reloads} reloads in {c.reload_s:g} s)",
            float(result.failed_requests),
            "requests",
            "0",
            at_most(result.failed_requests, 0),
            f"{result.total_requests} REST + WebSocket requests; {result.failed_reloads} reloads not seen serving",
        ),
        Row(
            "hot reload",
            "p99 during reloads / steady p99",
            finite(ratio),
            "ratio",
            f"<= {P99_RATIO_TARGET:g}",
            at_most(ratio, P99_RATIO_TARGET),
            f"steady p99 {result.steady.p99_ms:.1f} ms, during {result.during.p99_ms:.1f} ms",
        ),
        Row(
            "hot reload",
            "swap latency p50 (file swap -> new version serving)",
            result.swap.p50_ms,
            "ms",
            "info",
            "info",
            f"p99 {result.swap.p99_ms:.0f} ms over {result.swap.n} swaps",
        ),
        Row(
            "hot reload",
            f"RSS growth, cycle {len(result.rss_mb)} vs cycle 1",
            finite(result.rss_growth * 100, 2),
            "%",
            f"< {RSS_GROWTH_TARGET * 100:g}",
            at_most(result.rss_growth, RSS_GROWTH_TARGET - 1e-12),
            f"{result.rss_mb[0]:.0f} -> {result.rss_mb[-1]:.0f} MiB" if result.rss_mb else "no cycle completed",
        ),
        Row(
            "hot reload",
            f"RSS growth without load, cycle {c.reloads} -> {len(result.rss_mb)}",
            finite(settled * 100, 2),
            "%",
            "info",
            "info",
            "after the loaded versions (keep_versions) and allocator pools have filled: a leak keeps growing here",
        ),
    )
