"""`opentelemetry` (VOICEFLOW_OPENTELEMETRY): off by default, FastAPI's native OpenTelemetry records nothing even with
a global tracer provider installed; on, every request becomes a span. Each case runs in its own interpreter, because
OpenTelemetry's global provider can be set only once per process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import httpx
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sys.path.insert(0, sys.argv[3])
    from ws_helpers import serve_in_thread

    from voiceflow_inference.app import create_app
    from voiceflow_inference.config import load_settings

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    work = Path(sys.argv[1])
    settings = load_settings(
        "development",
        registry_url=str(work / "registry"),  # empty: the server is not ready, /health still answers
        cache_dir=work / "cache",
        watch_dir=None,
        poll_interval_s=0,
        opentelemetry=sys.argv[2] == "on",
    )
    with serve_in_thread(create_app(settings)) as base:
        for _ in range(3):
            assert httpx.get(base + "/health", timeout=10).status_code == 200
    print(len([s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.SERVER]))
    """
)


@pytest.mark.parametrize(("switch", "spans"), [("off", 0), ("on", 3)])
def test_opentelemetry_is_off_unless_switched_on(tmp_path: Path, switch: str, spans: int) -> None:
    helpers = Path(__file__).resolve().parents[1] / "streaming"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), switch, str(helpers)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip().splitlines()[-1]) == spans, proc.stdout
