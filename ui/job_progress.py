"""One long task on a page: a progress bar, and a clear error instead of a traceback."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from avatar.errors import AvatarError
from avatar.progress import Progress


@contextmanager
def job_progress(result_key: str) -> Iterator[Progress]:
    """Yield a `progress(stage, fraction)` callback drawing a bar.

    An `AvatarError` raised in the block is shown with `st.error`, the bar is
    removed, and the previous result under `result_key` is dropped, so a stale
    result is never shown as the answer to the failed request.
    """
    bar = st.progress(0.0, text="Starting...")
    try:
        yield lambda stage, fraction: bar.progress(fraction, text=stage.capitalize())
        bar.progress(1.0, text="Done")
    except AvatarError as exc:
        bar.empty()
        st.session_state.pop(result_key, None)
        st.error(str(exc))
