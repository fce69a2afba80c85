"""The Video Tools page's "Face enhancement" tab: an image or a video in, its face restored (an `enhance` job).

The options' defaults, choices and help come from `EnhanceOptions`; a missing model
is named with its install command before the job is queued (the job's own check,
shown as st.error).
"""

from __future__ import annotations

import json
from typing import Any, Callable

import streamlit as st

from avatar.enhance.options import EnhanceOptions, is_image
from avatar.media import IMAGE_EXTENSIONS
from avatar.video.io import VIDEO_EXTENSIONS
from ui.history import page_job, recall_last_job, result_download
from ui.options import option_widgets
from ui.results import show_video

JOB_KEY = "enhance_job"
MODELS = ("gfpgan-1.4", "realesrgan-x2", "realesrgan-x4")


def enhance_tab(service, owner: str, registry, submit: Callable[..., bool]) -> None:
    """The tab's body: the upload, the options, the button and the result."""
    missing = [model for model in MODELS if not registry.is_installed(model)]
    if "gfpgan-1.4" in missing:
        st.info("Face enhancement needs GFPGAN v1.4 (`gfpgan-1.4`), which is not installed: import the published "
                "GFPGANv1.4.pth with `avatar models import gfpgan-1.4 PATH`.")
    upload = st.file_uploader("Image or video", key="enhance_file",
                              type=[e.lstrip(".") for e in (*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS)])
    params: dict[str, Any] = option_widgets(EnhanceOptions, key_prefix="enhance_option_")
    st.caption("On a CPU a face takes about 4 s per frame: a 10 s video at 25 fps takes about 20 minutes.")
    submitted = False
    if st.button("Enhance", type="primary", key="enhance_run"):
        if upload is None:
            st.error("Upload an image or a video first.")
        else:
            field = "image" if is_image(upload.name) else "video"
            submitted = submit(JOB_KEY, "enhance", params, {field: upload.getvalue()}, {field: upload.name})
    _show_result(service, owner, submitted)


def _show_result(service, owner: str, submitted: bool) -> None:
    recall_last_job(service, owner, JOB_KEY, "enhance")
    job = page_job(service, owner, JOB_KEY, submitted, "Enhancing...", "Nothing was enhanced")
    if job is None:
        return
    manifest_path = service.result_file(owner, job.id, "manifest.json")
    if manifest_path is None:
        return
    manifest = json.loads(manifest_path.read_text())
    shape, name = manifest["output"], manifest["output"]["file"]
    path = service.result_file(owner, job.id, name)
    if path is None:
        return
    timings = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in manifest["timings_s"].items())
    if name.endswith(".png"):
        st.image(str(path), width=min(shape["width"], 640))
        result_download(st, service, owner, job, name, "Download PNG", "enhanced.png", key="enhance_download")
        st.caption(f"{shape['width']}x{shape['height']}; "
                   f"{'face enhanced' if manifest['face_found'] else 'no face found: left as it was'}; {timings}")
        return
    show_video(st, path, shape["width"], shape["height"])
    result_download(st, service, owner, job, name, "Download MP4", "enhanced.mp4", key="enhance_download")
    lost = manifest["enhancement"]["faces_lost"]
    st.caption(f"{shape['frames']} frames, {shape['width']}x{shape['height']}; real-time factor {manifest['rtf']}; "
               f"{timings}" + (f"; frames without a face (left as they were): {lost}" if lost else ""))
