"""Per-browser-session state shared by the pages: who this session is, and its own upload folder.

Each browser session gets a random id, kept in the page address (`?s=<id>`), so a
reload or a restarted server finds the same session again: its jobs (owner
`session:<id>`) and its folder outputs/<id>/. One user never sees another's
uploads or results unless given the address; the id is 128 random bits, so it
cannot be guessed.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import streamlit as st

from avatar import config

URL_KEY = "s"
_STATE_KEY = "session_id"
_VALID_ID = re.compile(r"[0-9a-f]{16,64}")  # also a safe folder name: no dots, no slashes


def session_id() -> str:
    """This browser session's id: from the address first, then the session state, else a new one.

    The id is written back to the address whenever it is missing there (a first
    visit, or a page switch that dropped the query string), so the address the user
    reloads or bookmarks always carries it.
    """
    given = st.query_params.get(URL_KEY)
    if isinstance(given, str) and _VALID_ID.fullmatch(given):
        current = given
    else:
        current = st.session_state.get(_STATE_KEY) or secrets.token_hex(16)
    st.session_state[_STATE_KEY] = current
    if given != current:
        st.query_params[URL_KEY] = current
    return current


SIGNED_IN_KEY = "signed_in_owner"


def job_owner() -> str:
    """Who owns the jobs this session makes and sees: the API key it signed in with on the History page (its
    owner "key:<hash>", shared with the key's API jobs), else the session itself ("session:<id>")."""
    return st.session_state.get(SIGNED_IN_KEY) or f"session:{session_id()}"


def sign_in(key: str) -> bool:
    """Use an API key's jobs from now on in this browser session; False when it is not one of AVATAR_API_KEYS.

    Only the owner name derived from the key's hash is kept, never the key; a reload forgets it (the session's own
    jobs stay reachable through the address)."""
    from avatar.service.keys import hashes_from_env, key_owner

    owner = key_owner(key, hashes_from_env())
    if owner is not None:
        st.session_state[SIGNED_IN_KEY] = owner
    return owner is not None


def sign_out() -> None:
    st.session_state.pop(SIGNED_IN_KEY, None)


def signed_in() -> bool:
    return bool(st.session_state.get(SIGNED_IN_KEY))


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
