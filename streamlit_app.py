"""Avatar Studio in the browser: `streamlit run streamlit_app.py`.

The entry point only declares the pages and draws the shared sidebar; every page
is a thin layer over a function in the `avatar` package.
"""

import streamlit as st

from ui.sidebar import render_sidebar

st.set_page_config(page_title="Avatar Studio", page_icon="🗣️", layout="wide")

PAGES = [
    st.Page("pages/talking_avatar.py", title="Talking Avatar", icon="🗣️", url_path="talking_avatar", default=True),
    st.Page("pages/inpainting.py", title="Inpainting", icon="🖌️", url_path="inpainting"),
    st.Page("pages/object_shift.py", title="Object Shift", icon="↔️", url_path="object_shift"),
    st.Page("pages/models.py", title="Models", icon="📦", url_path="models"),
]

page = st.navigation(PAGES)
render_sidebar()
page.run()
