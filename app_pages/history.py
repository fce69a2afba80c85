"""History page: this browser session's jobs (or a signed-in API key's), newest first, with progress, downloads,
cancel and delete; on a studio without API keys, also the jobs run on the command line.

The jobs are read from the job store, so they are still here after a reload (the
session id is in the address) and after a server restart. Signing in with one of
the studio's API keys shows that key's jobs, those a script sent to the HTTP API
included, and the pages make new jobs for it until sign-out or a reload.
"""

from __future__ import annotations

import streamlit as st

from avatar.service.jobs import get_service
from avatar.service.keys import LOCAL_OWNER, keys_from_env
from ui.history import draw_history
from ui.links import page_link
from ui.session import job_owner, sign_in, sign_out, signed_in

st.title("History")
if signed_in():
    st.caption("The jobs of the API key you signed in with, newest first: those sent to the HTTP API and those made "
               "on these pages since you signed in.")
    st.button("Sign out", key="history_sign_out", on_click=sign_out, help="Back to this browser session's own jobs.")
else:
    st.caption("Your jobs in this browser session, newest first. Bookmark this address to come back to them.")
    if keys_from_env():
        with st.expander("Sign in with an API key"):
            with st.form("history_sign_in", border=False, clear_on_submit=True):
                key = st.text_input("API key", type="password", key="history_key")
                if st.form_submit_button("Sign in"):
                    if sign_in(key):
                        st.rerun()
                    st.error("That is not one of this studio's API keys; check it, or ask whoever runs the studio.")

service, owner = get_service(), job_owner()
# A studio without API keys is one person's: what they ran on the command line (`avatar talk`, `avatar dub`,
# `avatar shift`, `avatar video ...`, `avatar jobs submit`) is theirs too. With keys, the machine is shared and those
# stay private.
show_local = not signed_in() and not keys_from_env()
local = show_local and bool(service.list(LOCAL_OWNER, 1))
if not service.list(owner, 1) and not local:
    st.info("No jobs yet: make a video on the Talking Avatar page and it will appear here.")
    page_link("app_pages/talking_avatar.py", "Talking Avatar page", icon=":material/record_voice_over:")
draw_history(service, owner, f"history_pages_{owner}")  # each owner pages on its own (sign-in switches owners)
if local:
    st.subheader("From the command line")
    st.caption("Jobs run on this machine with `avatar talk`, `avatar dub`, `avatar shift`, `avatar video ...` or "
               "`avatar jobs`, newest first.")
    draw_history(service, LOCAL_OWNER, "history_pages_local")
