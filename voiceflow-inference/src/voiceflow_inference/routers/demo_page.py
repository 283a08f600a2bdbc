"""`GET /demo`: a browser page that streams the microphone (or a file) over `/ws/diarize` and draws the live timeline.

Static HTML + JS (static/demo.html, no build step). Mounted only when the config key `demo_page` is true (development;
off in staging and production unless enabled).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = Path(__file__).resolve().parents[1] / "static" / "demo.html"

router = APIRouter(tags=["demo"])


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/demo", response_class=HTMLResponse, summary="Live diarization in the browser (config demo_page)")
async def demo_page() -> HTMLResponse:
    """The demo page: microphone or file -> /ws/diarize -> live speaker timeline and final RTTM."""
    return HTMLResponse(_page())
