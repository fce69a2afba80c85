"""Links between the pages keep the browser session (`?s=`) and switch pages inside the app (Streamlit's page links,
which open in the same tab), through the whole app as `streamlit run` runs it."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT_DIR

APP = str(PROJECT_DIR / "streamlit_app.py")
SESSION = "00112233445566778899aabbccddeeff"


def _app(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["s"] = SESSION
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _links(at: AppTest) -> list:
    return [link.proto for link in at.get("page_link")]


def test_video_tools_links_to_the_models_page_in_the_same_session():
    at = _app("app_pages/video_tools.py")
    links = [link for link in _links(at) if link.label == "Models page"]
    assert links, "a tool without its model links to the Models page"
    for link in links:
        assert link.page == "models" and link.query_string == f"s={SESSION}"
        assert link.page_script_hash and not link.external  # a switch inside the app: same tab, same session
    assert not any("](/" in m.value for m in [*at.markdown, *at.info, *at.caption])  # no markdown link (a new tab)


def test_empty_history_links_to_the_talking_avatar_page_in_the_same_session():
    at = _app("app_pages/history.py")
    (link,) = [link for link in _links(at) if link.label == "Talking Avatar page"]
    assert link.page == "" and link.query_string == f"s={SESSION}"  # the app's root address is Talking Avatar


def test_a_page_run_on_its_own_links_by_address_with_the_session():
    at = AppTest.from_file(str(PROJECT_DIR / "app_pages" / "history.py"), default_timeout=120)
    at.query_params["s"] = SESSION
    at.run()
    assert not at.exception
    assert f"[Talking Avatar page](/talking_avatar?s={SESSION})" in [m.value for m in at.markdown]
