"""The Talking Avatar page in a real Chromium against `streamlit run`."""

from __future__ import annotations

from urllib.parse import urljoin

import av
import pytest

pytestmark = pytest.mark.browser


def test_default_avatar_sentence_generate_and_fetch_video(page, streamlit_server, tmp_path):
    page.goto(streamlit_server)
    page.get_by_text("Pick a portrait, give it a voice").wait_for()
    page.get_by_text("Astronaut", exact=True).first.click()
    text = page.get_by_label("What should the avatar say?")
    text.fill("Hello from the browser test.")
    text.press("Control+Enter")
    page.get_by_role("button", name="Generate", exact=True).click()

    video = page.locator("video")
    video.wait_for(timeout=180_000)
    source = video.get_attribute("src")
    assert source
    response = page.request.get(urljoin(streamlit_server + "/", source))
    assert response.ok
    path = tmp_path / "fetched.mp4"
    path.write_bytes(response.body())
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        audio = container.streams.audio[0]
        video_seconds = float(stream.duration * stream.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
    assert 1.0 < video_seconds < 6.0
    assert abs(video_seconds - audio_seconds) <= 1 / 25 + 0.03
    assert page.get_by_role("button", name="Download MP4").is_visible()
    assert page.get_by_role("button", name="Download captions (SRT)").is_visible()
    page.screenshot(path=str(tmp_path / "talking_avatar.png"), full_page=True)


@pytest.mark.parametrize("path,title", [("models", "Models"), ("inpainting", "Inpainting")])
def test_deep_links_open_inside_the_app(page, streamlit_server, path, title):
    page.goto(f"{streamlit_server}/{path}")
    page.get_by_role("heading", name=title).first.wait_for()
    sidebar = page.get_by_test_id("stSidebarNav")
    for name in ("Talking Avatar", "Inpainting", "Object Shift", "Models"):
        assert sidebar.get_by_text(name, exact=True).is_visible()
