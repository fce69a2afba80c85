"""Addresses and links in a real Chromium: every page answers to its own path, links between pages keep the session
(`?s=`) and stay in the same tab, and the Models page shows its whole catalog."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from avatar.models.catalog import CATALOG

pytestmark = pytest.mark.browser

SESSION = "5e55105e55105e55105e55105e55105e"
PATHS = [("", "Talking Avatar"), ("talking_avatar", "Talking Avatar"), ("dub", "Dub a video"), ("inpainting", "Inpainting"),
         ("object_shift", "Object Shift"), ("video_tools", "Video Tools"), ("history", "History"), ("models", "Models")]


def _where(url: str) -> tuple[str, str | None]:
    parts = urlparse(url)
    return parts.path.strip("/"), parse_qs(parts.query).get("s", [None])[0]


@pytest.mark.parametrize("path,title", PATHS)
def test_every_page_answers_to_its_own_path(page, streamlit_server, path, title):
    page.goto(f"{streamlit_server}/{path}")
    page.get_by_role("heading", name=title, exact=True).first.wait_for()
    page.get_by_test_id("stSidebarUserContent").get_by_text("Device:").wait_for()  # the script ran past the page
    assert page.get_by_text("Page not found").count() == 0
    where, session = _where(page.url)
    assert where == path and session  # the address keeps the path and gains the session


def test_the_models_link_on_video_tools_keeps_the_session_in_the_same_tab(page, streamlit_server):
    page.goto(f"{streamlit_server}/video_tools?s={SESSION}")
    link = page.get_by_role("link", name="Models page").first
    link.wait_for()
    assert link.get_attribute("target") in (None, "", "_self")  # not a new tab
    assert _where(link.get_attribute("href")) == ("models", SESSION)  # even opened in a new tab on purpose

    link.click()
    page.get_by_role("heading", name="Models", exact=True).wait_for()
    assert page.context.pages == [page]
    assert _where(page.url) == ("models", SESSION)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    page.get_by_role("heading", name="History", exact=True).wait_for()
    assert _where(page.url) == ("history", SESSION)


def test_the_empty_history_links_to_the_talking_avatar_page_in_the_same_session(page, streamlit_server):
    page.goto(f"{streamlit_server}/history?s={SESSION[::-1]}")
    page.get_by_text("No jobs yet").wait_for()
    page.get_by_role("link", name="Talking Avatar page").click()
    page.get_by_text("Pick a portrait, give it a voice").wait_for()
    assert page.context.pages == [page]
    assert _where(page.url) == ("", SESSION[::-1])


@pytest.mark.parametrize("width", [1400, 390])
def test_the_models_table_shows_every_model_without_a_scroll_of_its_own(page, streamlit_server, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{streamlit_server}/models")
    table = page.get_by_test_id("stTable")
    table.wait_for()
    ids = [cell.strip() for cell in table.locator("tbody tr td:first-child, tbody tr th:first-child").all_inner_texts()]
    assert ids == list(CATALOG)
    scroller = table.locator("table").locator("xpath=..")
    height, shown = scroller.evaluate("e => [e.scrollHeight, e.clientHeight]")
    assert height <= shown + 1  # every row is on the page, none hidden inside the table
    used_for = table.get_by_text(CATALOG["xtts-v2"].feature).first
    assert used_for.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # wrapped, not cut off
