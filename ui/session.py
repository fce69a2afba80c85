"""Per-browser-session state shared by the pages: the session's own job folder root.

Each browser session gets a random id; its jobs go to outputs/<id>/..., so one user
never sees another's uploads or results.
"""

from __future__ import annotations

import secrets

import streamlit as st


def session_id() -> str:
    """A random id for this browser session, created on first use."""
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = secrets.token_hex(8)
    return st.session_state["session_id"]
