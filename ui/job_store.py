"""The app's check that the job database can be used before any page touches it."""

from __future__ import annotations

import streamlit as st


def require_job_store() -> None:
    """Open the job service; when its database is damaged or lost, say so (the sentence names the file and the
    repair command) and draw nothing else."""
    from avatar.errors import AvatarError
    from avatar.service.jobs import get_service

    try:
        get_service()
    except AvatarError as exc:
        st.error(str(exc))
        st.stop()
