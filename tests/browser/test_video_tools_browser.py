"""The Video Tools page in a real browser: upload a small video, upscale it, download the result."""

from __future__ import annotations

from urllib.parse import urlparse

import av
import numpy as np
import pytest

from avatar.video_writer import Mp4Writer

pytestmark = pytest.mark.browser


def small_clip(path, frames: int = 12) -> None:
    """A 320x180 clip with a moving gradient (something for the upscaler to work on)."""
    ys, xs = np.mgrid[0:180, 0:320]
    with Mp4Writer(path, 320, 180, 12) as writer:
        for i in range(frames):
            writer.write(np.stack([(xs + 8 * i) % 256, ys, np.full_like(xs, 128)], axis=2).astype(np.uint8))


def test_video_tools_page_upscales_a_video(page, streamlit_server, tmp_path):
    small_clip(tmp_path / "clip.mp4")
    page.goto(streamlit_server)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Video Tools").click()
    page.get_by_role("heading", name="Video Tools").wait_for()
    assert urlparse(page.url).path.rstrip("/").endswith("/video_tools")  # the query keeps the session id
    # Without models, the generation tabs say how to install them.
    page.get_by_text("avatar models pull text2video-ms").first.wait_for()

    page.get_by_role("tab", name="Upscaling").click()
    # The uploader of the tab shown (hidden tabs keep theirs in the page).
    page.get_by_role("tabpanel").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(tmp_path / "clip.mp4"))
    page.get_by_text("clip.mp4").first.wait_for()
    page.get_by_role("button", name="Upscale").click()
    download_button = page.get_by_role("button", name="Download MP4")
    download_button.wait_for(timeout=120_000)
    page.get_by_text("made with lanczos+unsharp").first.wait_for()
    page.screenshot(path=str(tmp_path / "video_tools.png"), full_page=True)

    with page.expect_download() as download_info:
        download_button.click()
    saved = tmp_path / "upscaled.mp4"
    download_info.value.save_as(str(saved))
    with av.open(str(saved)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert sum(1 for _ in container.decode(stream)) == 12
