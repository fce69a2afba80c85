"""Showing an image tool's result: notices, before and after side by side, download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st


def show_before_after(
    title: str, before: np.ndarray, before_caption: str, after_path: Path, after_caption: str,
    file_name: str, notices: list[str],
) -> None:
    """The result block shared by the image pages."""
    st.subheader(title)
    for notice in notices:
        st.info(notice)
    left, right = st.columns(2)
    left.image(before, caption=before_caption, width="stretch")
    right.image(str(after_path), caption=after_caption, width="stretch")
    st.download_button("Download result (PNG)", data=after_path.read_bytes(), file_name=file_name, mime="image/png")
