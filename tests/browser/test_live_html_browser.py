"""README's live HTML example, as a user would embed it: served from another origin, it opens a WebRTC session with a
real `avatar serve` in Chromium, shows the idle avatar with sound, speaks a typed sentence and stops."""

from __future__ import annotations

import functools
import http.server
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.test_api import KEY_A, Server

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    """The ```html block of README's live section."""
    blocks = re.findall(r"```html\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1, "README holds one HTML example"
    return blocks[0]


@pytest.fixture
def example_site(tmp_path):
    """A static site on its own port (another origin than the API's), serving README's example as index.html."""
    site = tmp_path / "site"
    site.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield site, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _stats(page) -> dict:
    """Frames decoded and audio packets received so far on the example's connection (its global `pc`)."""
    return page.evaluate("""async () => {
        const out = {frames: 0, audioPackets: 0, audioEnergy: 0};
        (await pc.getStats()).forEach((s) => {
            if (s.type === "inbound-rtp" && s.kind === "video") out.frames = s.framesDecoded || 0;
            if (s.type === "inbound-rtp" && s.kind === "audio") {
                out.audioPackets = s.packetsReceived || 0; out.audioEnergy = s.totalAudioEnergy || 0; }
        });
        return out; }""")


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {seconds:g} s")


def test_the_readme_example_shows_the_avatar_speaking_from_another_site(browser, example_site, tmp_path):
    site, origin = example_site
    server = Server(tmp_path, AVATAR_CORS_ORIGINS=origin, AVATAR_LIVE_SESSIONS="1").start()
    try:
        html = readme_example()
        html = html.replace('"http://localhost:8000"', f'"{server.url}"').replace('"your-api-key"', f'"{KEY_A}"')
        (site / "index.html").write_text(html)
        context = browser.new_context()
        page = context.new_page()
        problems: list[str] = []
        page.on("dialog", lambda dialog: (problems.append(dialog.message), dialog.dismiss()))
        try:
            page.goto(f"{origin}/index.html")
            _wait(lambda: page.evaluate("() => typeof session === 'string'") or problems, 30, "the session's start")
            assert not problems, problems
            idle = _wait(lambda: (s := _stats(page))["frames"] >= 25 and s["audioPackets"] > 0 and s, 30,
                         "a second of idle video with its sound track")
            page.fill("#text", "Hello from a page of your own.")
            page.press("#text", "Enter")
            session = page.evaluate("() => session")
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY_A}"}) as api:
                spoken = _wait(lambda: api.get(f"/v1/live/{session}").json()["transcript"], 30, "the sentence")
                assert spoken[0]["text"] == "Hello from a page of your own."
                _wait(lambda: _stats(page)["audioEnergy"] > idle["audioEnergy"] + 1e-4, 15, "speech in the sound")
                page.click("#stop")
                _wait(lambda: not api.get(f"/v1/live/{session}").json()["speaking"], 10, "the stop")
                _wait(lambda: (s := _stats(page))["frames"] > idle["frames"] + 25
                      and s["audioPackets"] > idle["audioPackets"], 15, "frames and sound going on after the stop")
                assert page.evaluate("() => avatar.videoWidth") == 512
                assert not problems, problems
                page.close()  # the example ends its session when the page goes
                _wait(lambda: api.get(f"/v1/live/{session}").status_code == 404, 15, "the session's end")
        finally:
            context.close()
    finally:
        server.stop()

