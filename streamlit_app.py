"""Avatar Studio in the browser: `streamlit run streamlit_app.py`.

The entry point only declares the pages and draws the shared sidebar; every page
is a thin layer over a function in the `avatar` package.
"""

from pathlib import Path

import streamlit as st

from ui.job_store import require_job_store
from ui.loading import import_page_modules
from ui.session import session_id
from ui.sidebar import prepare_registry, render_sidebar

st.set_page_config(page_title="Avatar Studio", page_icon=":material/record_voice_over:", layout="wide")

HERE = Path(__file__).resolve().parent
PAGES = {  # title: (file, icon, url path)
    "Talking Avatar": ("app_pages/talking_avatar.py", ":material/record_voice_over:", "talking_avatar"),
    "Dub a video": ("app_pages/dub.py", ":material/interpreter_mode:", "dub"),
    "Live": ("app_pages/live.py", ":material/videocam:", "live"),
    "Inpainting": ("app_pages/inpainting.py", ":material/brush:", "inpainting"),
    "Object Shift": ("app_pages/object_shift.py", ":material/open_with:", "object_shift"),
    "Video Tools": ("app_pages/video_tools.py", ":material/movie:", "video_tools"),
    "History": ("app_pages/history.py", ":material/history:", "history"),
    "Models": ("app_pages/models.py", ":material/inventory_2:", "models"),
}

# The default page answers only to the root address, yet still reserves its own url path: a typed or bookmarked
# /talking_avatar would be "Page not found". So the default reserves a path no link uses, and the same page,
# hidden from the menu, answers to /talking_avatar.
DEFAULT, DEFAULT_RESERVED_PATH = "Talking Avatar", "home"
pages = [st.Page(file, title=title, icon=icon, url_path=DEFAULT_RESERVED_PATH if title == DEFAULT else path,
                 default=title == DEFAULT)
         for title, (file, icon, path) in PAGES.items()]
file, icon, path = PAGES[DEFAULT]
pages.append(st.Page(file, title=DEFAULT, icon=icon, url_path=path, visibility="hidden"))

page = st.navigation(pages)
require_job_store()  # a damaged or lost job database: its one sentence on every page, not a traceback
session_id()  # every page's address carries the session (?s=...), so a reload finds its jobs again
sidebar = st.sidebar.empty()
render_sidebar(sidebar, wait_for_registry=False)  # at once, without waiting for PyTorch on a fresh server
import_page_modules(HERE / PAGES[page.title][0], page.title)  # "Opening ..." while a first load imports
try:
    page.run()
finally:  # also when the page stopped early (st.stop draws nothing after it)
    prepare_registry()  # PyTorch and the device, on a thread, once the page is on the screen
render_sidebar(sidebar)  # again, with the device and what the page's job loaded
