"""Links from one page of the app to another that keep the browser session and stay in the same tab.

A markdown link (`[Models page](/models)`) opens a new tab, and a tab opened
without `?s=` is a new session: its History shows no jobs. `page_link` draws
Streamlit's own page link instead, which switches pages inside the app, in the
same tab and the same session, and whose address carries `?s=<id>` (so opening
it in a new tab on purpose keeps the session as well).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ui.session import URL_KEY, session_id

PROJECT_DIR = Path(__file__).resolve().parent.parent


def session_query() -> dict[str, str]:
    """The query string every address inside the app carries: this browser session's id."""
    return {URL_KEY: session_id()}


def page_href(page: str) -> str:
    """The address of one of the app's pages (`app_pages/models.py` -> `/models?s=<id>`), for text that cannot hold a
    page link; the url paths in streamlit_app.py are the files' names."""
    return f"/{Path(page).stem}?{URL_KEY}={session_id()}"


def page_link(page: str, label: str, icon: Optional[str] = None, help: Optional[str] = None) -> None:
    """A link to another page of the app (`page` as in streamlit_app.py, e.g. "app_pages/models.py") that keeps the
    session and opens in the same tab.

    A page run on its own (one file under AppTest) has no other pages to switch to; there the link is a plain one
    to the page's address, with the session.
    """
    try:
        st.page_link(str(PROJECT_DIR / page), label=label, icon=icon, help=help, query_params=session_query())
    except StreamlitPageNotFoundError:
        st.markdown(f"[{label}]({page_href(page)})", help=help)
