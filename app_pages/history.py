"""History page: this browser session's jobs, newest first, with progress, downloads, cancel and delete.

The jobs are read from the job store, so they are still here after a reload (the
session id is in the address) and after a server restart.
"""

from __future__ import annotations

import streamlit as st

from avatar.service.jobs import get_service
from ui.history import draw_job
from ui.session import job_owner

st.title("History")
st.caption("Your jobs in this browser session, newest first. Bookmark this address to come back to them.")

service, owner = get_service(), job_owner()
jobs = service.list(owner)
if not jobs:
    st.info("No jobs yet: make a video on the Talking Avatar page and it will appear here.")
for job in jobs:
    draw_job(service, owner, job)
