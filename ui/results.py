"""Showing an image tool's result: the job that made it, notices, before and after side by side, download."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import streamlit as st
from PIL import Image

from avatar.errors import AvatarError
from avatar.service.jobs import JobService
from ui.history import page_job


@dataclass
class EditResult:
    """A finished image-tool job: its picture and its manifest."""

    path: Path
    manifest: dict[str, Any]


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def submit_edit(service: JobService, owner: str, key: str, upload, kind: str, params: dict[str, Any],
                mask: np.ndarray) -> bool:
    """Submit an image tool's job for the uploaded picture and a selected mask; remember it under `key` with the
    upload it was made for. A refused request shows its sentence. True when queued."""
    st.session_state.pop(key, None)
    try:
        job = service.submit(owner, kind, params, {"image": upload.getvalue(), "mask": png_bytes(mask.astype(np.uint8) * 255)},
                             {"image": upload.name, "mask": "mask.png"})
    except AvatarError as exc:
        st.error(str(exc))
        return False
    st.session_state[key], st.session_state[f"{key}_upload"] = job.id, getattr(upload, "file_id", upload.name)
    return True


def edit_result(service: JobService, owner: str, key: str, submitted: bool, upload_id: str,
                working: str) -> Optional[EditResult]:
    """The finished job under `key` for this upload (followed to its end first), or None."""
    if st.session_state.get(f"{key}_upload") != upload_id:
        return None  # made for another picture
    job = page_job(service, owner, key, submitted, working, "Nothing was made")
    if job is None:
        return None
    path, manifest = service.result_file(owner, job.id, "result.png"), service.result_file(owner, job.id, "manifest.json")
    if path is None or manifest is None:
        return None
    return EditResult(path, json.loads(manifest.read_text()))


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
