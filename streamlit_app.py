"""Avatar Studio in the browser: `streamlit run streamlit_app.py`.

The entry point only declares the pages and draws the shared sidebar; every page
is a thin layer over a function in the `avatar` package.
"""

import streamlit as st

from ui.session import session_id
from ui.sidebar import render_sidebar

st.set_page_config(page_title="Avatar Studio", page_icon=":material/record_voice_over:", layout="wide")

PAGES = [
    st.Page("app_pages/talking_avatar.py", title="Talking Avatar", icon=":material/record_voice_over:", url_path="talking_avatar", default=True),
    st.Page("app_pages/inpainting.py", title="Inpainting", icon=":material/brush:", url_path="inpainting"),
    st.Page("app_pages/object_shift.py", title="Object Shift", icon=":material/open_with:", url_path="object_shift"),
    st.Page("app_pages/video_tools.py", title="Video Tools", icon=":material/movie:", url_path="video_tools"),
    st.Page("app_pages/history.py", title="History", icon=":material/history:", url_path="history"),
    st.Page("app_pages/models.py", title="Models", icon=":material/inventory_2:", url_path="models"),
]

page = st.navigation(PAGES)
session_id()  # every page's address carries the session (?s=...), so a reload finds its jobs again
render_sidebar()
page.run()
