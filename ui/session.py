"""Per-browser-session state shared by the pages: the session's own job folder root.

Each browser session gets a random id; its jobs go to outputs/<id>/..., so one user
never sees another's uploads or results.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import streamlit as st

from avatar import config


def session_id() -> str:
    """A random id for this browser session, created on first use."""
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = secrets.token_hex(8)
    return st.session_state["session_id"]


def saved_upload(upload, stem: str) -> Path:
    """An upload written into this session's folder, for options that take a path; rewritten only when it changes."""
    suffix = Path(upload.name).suffix.lower()
    folder = config.outputs_dir() / session_id() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}{suffix}"
    data = upload.getvalue()
    if not path.is_file() or path.stat().st_size != len(data) or path.read_bytes() != data:
        path.write_bytes(data)
    return path
