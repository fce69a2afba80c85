"""The History page in a real Chromium: a job made on a page is listed, survives a reload, and downloads."""

from __future__ import annotations

import av
import pytest

pytestmark = pytest.mark.browser


def test_a_video_made_on_the_page_is_in_history_after_a_reload(page, streamlit_server, tmp_path):
    page.goto(streamlit_server)
    page.get_by_text("Pick a portrait, give it a voice").wait_for()
    text = page.get_by_label("What should the avatar say?")
    text.fill("Find me again in the history.")
    text.press("Control+Enter")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("video").wait_for(timeout=180_000)
    assert "s=" in page.url  # the session id is in the address

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    page.get_by_role("heading", name="History").wait_for()
    row = page.get_by_text("says “Find me again in the history.”")
    row.wait_for()
    address = page.url
    assert "s=" in address

    page.reload()  # a new browser session on the same address: the same jobs
    page.get_by_text("says “Find me again in the history.”").wait_for()
    assert page.get_by_text("Done", exact=True).first.is_visible()
    page.screenshot(path=str(tmp_path / "history.png"), full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="video.mp4").first.click()
    saved = tmp_path / "history.mp4"
    download_info.value.save_as(str(saved))
    with av.open(str(saved)) as container:
        assert next(container.decode(video=0)).width > 0 and container.streams.audio

    page.get_by_role("button", name="Delete").first.click()
    page.get_by_text("No jobs yet").wait_for()
