"""The browser demo at /demo in a real headless Chromium (Debian `chromium`, driven by Playwright): the fake
microphone plays a two-speaker WAV this test writes, the page streams it over /ws/diarize, the live timeline shows
both speakers and the final RTTM appears. Also: a chosen file, and /demo is off unless `demo_page` is true.

Set VOICEFLOW_DOCS_IMAGES=1 to copy the microphone screenshot to docs/images/demo-page.png.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

# The streaming tests' helpers (band model, synthetic two-speaker conversation, uvicorn in a thread).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "streaming"))
from ws_helpers import conversation, serve_in_thread, write_band_model, ws_settings

from voiceflow_inference.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMAGE = Path(__file__).resolve().parents[3] / "docs" / "images" / "demo-page.png"
pytestmark = pytest.mark.timeout(240)


def _app(root: Path, model: Path, *, demo_page: bool) -> Any:
    return create_app(ws_settings(root, model).model_copy(update={"demo_page": demo_page}))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_band_model(tmp_path_factory.mktemp("band") / "model.onnx")


@pytest.fixture(scope="module")
def talk_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "two-speakers.wav"
    sf.write(str(path), conversation(48000, seed=2).audio, 48000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model: Path) -> Iterator[str]:
    with serve_in_thread(_app(tmp_path_factory.mktemp("server"), model, demo_page=True)) as base:
        yield base


def _browser(fake_audio: Path) -> Any:
    if not CHROMIUM.is_file():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium; `make setup` installs it as root)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup)")
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_audio}",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ]
    return playwright_api, args


def test_demo_page_is_off_unless_enabled(tmp_path: Path, model: Path) -> None:
    with serve_in_thread(_app(tmp_path, model, demo_page=False)) as base:
        assert httpx.get(f"{base}/demo").status_code == 404


def test_demo_page_served_when_enabled(server: str) -> None:
    page = httpx.get(f"{server}/demo")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/ws/diarize" in page.text and "AudioWorklet" in page.text


def test_microphone_timeline_in_chromium(server: str, talk_wav: Path, tmp_path: Path) -> None:
    api, args = _browser(talk_wav)
    with api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 560})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server}/demo")
            page.click("#mic")
            # The fake microphone plays the conversation in real time: A for 4 s, then B (at 5 s). The live rows are
            # the online guesses (a window straddling a turn may open a short-lived extra speaker).
            live = "document.querySelector('#timeline').dataset"
            page.wait_for_function(f"Number({live}.speakers) >= 2 && Number({live}.windows) >= 30", timeout=90_000)
            page.click("#stop")
            page.wait_for_selector('#rttm[data-ready="true"]', timeout=60_000)
            rows = page.eval_on_selector_all("#timeline .row", "rows => rows.map(r => r.dataset.speaker)")
            assert rows[:2] == ["spk0", "spk1"]
            assert page.locator('#timeline .row[data-speaker="spk1"] .seg').count() > 3
            final_rows = page.eval_on_selector_all("#final .row", "rows => rows.map(r => r.dataset.speaker)")
            assert final_rows == ["spk0", "spk1"]
            rttm = page.inner_text("#rttm")
            assert "SPEAKER browser 1" in rttm and " spk1 " in rttm
            shot = tmp_path / "demo-page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    if os.environ.get("VOICEFLOW_DOCS_IMAGES") == "1":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)


def test_chosen_file_in_chromium(server: str, talk_wav: Path) -> None:
    api, args = _browser(talk_wav)
    with api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            page = browser.new_page()
            page.goto(f"{server}/demo")
            page.set_input_files("#file", str(talk_wav))
            page.wait_for_selector('#rttm[data-ready="true"]', timeout=60_000)
            assert int(page.get_attribute("#timeline", "data-speakers") or 0) >= 2
            assert page.get_attribute("#final", "data-speakers") == "2"
            assert page.get_attribute("#rttm", "data-segments") == "4"
        finally:
            browser.close()


def test_demo_page_config_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceflow_inference.config import load_settings

    monkeypatch.delenv("VOICEFLOW_DEMO_PAGE", raising=False)
    assert load_settings("development").demo_page is True
    assert load_settings("staging").demo_page is False
    assert load_settings("production", admin_token=None).demo_page is False
    monkeypatch.setenv("VOICEFLOW_DEMO_PAGE", "true")
    assert load_settings("production").demo_page is True
