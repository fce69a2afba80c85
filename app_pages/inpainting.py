"""Inpainting page: mark an area (brush, mask file, text or box) and fill it.

The mask is made here, as a preview; the fill is an `inpaint` job (it waits its
turn for the GPU, is found again when the page is opened again and is listed on History).
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from avatar.edit.classical import CLASSICAL_ALGORITHMS
from avatar.edit.inpaint import InpaintOptions, inpaint_methods
from avatar.edit.masks import fit_mask, load_mask, mask_from_box, mask_from_brush, mask_overlay
from avatar.edit.text_mask import DEFAULT_THRESHOLD, mask_from_text
from avatar.errors import AvatarError
from avatar.media import IMAGE_EXTENSIONS, load_image
from avatar.service.jobs import get_service
from ui.results import EditResult, edit_result, show_before_after, submit_edit
from ui.session import job_owner

CANVAS_WIDTH = 640
IMAGE_TYPES = [e.lstrip(".") for e in IMAGE_EXTENSIONS]
JOB_KEY = "inpaint_job"
WORKING = "Filling..."


def _show(shown: EditResult, title: str) -> None:
    show_before_after(service, owner, shown, title, "Before",
                      f"After ({shown.manifest['engine']}, {shown.manifest['seconds']:.1f} s)", "inpainted.png")


st.title("Inpainting")
st.caption("Mark an area of a picture and fill it: Stable Diffusion when installed, OpenCV always.")

service, owner = get_service(), job_owner()
upload = st.file_uploader("Picture (PNG, JPEG or WebP)", type=IMAGE_TYPES, key="inpaint_upload")
if upload is None:
    st.info("Upload a picture to start.")
    if (earlier := edit_result(service, owner, JOB_KEY, "inpaint", False, None, WORKING)) is not None:
        _show(earlier, "Your last result")
    st.stop()
try:
    image = load_image(upload)
except AvatarError as exc:
    st.error(str(exc))
    st.stop()
height, width = image.shape[:2]
upload_id = getattr(upload, "file_id", upload.name)


def _brush_mask() -> np.ndarray | None:
    """Strokes painted on a canvas over a preview of the picture."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception:  # the component cannot register outside a running server (e.g. in tests)
        st.warning("The brush canvas is unavailable here; upload a mask, describe the object or use a box.")
        return None
    scale = min(1.0, CANVAS_WIDTH / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    brush = st.slider("Brush size", 5, 80, 30, key="inpaint_brush")
    canvas = st_canvas(
        stroke_width=brush,
        stroke_color="rgba(255, 0, 0, 0.6)",
        background_image=Image.fromarray(image).resize(size),
        width=size[0],
        height=size[1],
        drawing_mode="freedraw",
        return_image_data=True,
        key=f"inpaint_canvas_{upload_id}",
    )
    strokes = canvas.image_data
    return None if strokes is None else mask_from_brush(strokes, image)


# 1. Mask -----------------------------------------------------------------------
st.subheader("1. Mark the area to fill")
how = st.radio("Mask from", ["Brush", "Upload a mask", "Describe it", "Box"], horizontal=True, key="inpaint_mask_by")
mask = None
try:
    if how == "Brush":
        mask = _brush_mask()
    elif how == "Upload a mask":
        mask_upload = st.file_uploader("Mask (white or painted = fill)", type=IMAGE_TYPES, key="inpaint_mask_upload")
        if mask_upload is not None:
            mask, notice = fit_mask(load_mask(mask_upload), image)
            if notice:
                st.info(notice)
    elif how == "Describe it":
        prompt = st.text_input("What to fill", placeholder="the cup", key="inpaint_select_prompt")
        threshold = st.slider("Match threshold", 0.05, 0.95, DEFAULT_THRESHOLD, 0.05, key="inpaint_threshold")
        if prompt.strip():
            with st.spinner("Looking for it..."):
                selection = mask_from_text(image, prompt, threshold=threshold)
            mask = selection.mask
            if selection.notice:
                st.warning(selection.notice)
    else:
        st.caption(f"The picture is {width}x{height} pixels.")
        cols = st.columns(4)
        box = (
            cols[0].number_input("Box left (x0)", 0, width - 1, width // 4, key="inpaint_x0"),
            cols[1].number_input("Box top (y0)", 0, height - 1, height // 4, key="inpaint_y0"),
            cols[2].number_input("Box right (x1)", 1, width, 3 * width // 4, key="inpaint_x1"),
            cols[3].number_input("Box bottom (y1)", 1, height, 3 * height // 4, key="inpaint_y1"),
        )
        if st.checkbox("Only the object inside the box (GrabCut)", value=True, key="inpaint_grabcut"):
            mask = mask_from_box(image, box)
        else:
            mask = np.zeros((height, width), bool)
            mask[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])] = True
except AvatarError as exc:
    st.error(str(exc))
    mask = None

if mask is not None and not mask.any():
    st.info("The mask is empty so far: paint, upload or describe the area to fill.")
    mask = None
if mask is not None:
    st.image(mask_overlay(image, mask), caption=f"Area to fill: {100 * mask.mean():.1f}% of the picture", width=min(480, width))

# 2. Method ---------------------------------------------------------------------
st.subheader("2. Fill")
methods = inpaint_methods()
labels = {(c.label if c.installed else f"{c.label} (not installed)"): c for c in methods}
default = next(i for i, c in enumerate(methods) if c.installed)
choice = labels[st.selectbox("Method", list(labels), index=default, key="inpaint_method")]
if not choice.installed:
    st.warning(choice.note)

options = InpaintOptions()
if choice.id == "classical":
    names = {text: name for name, text in CLASSICAL_ALGORITHMS.items()}
    options.classical_algorithm = names[st.selectbox("Classical method", list(names), key="inpaint_classical")]
else:
    options.prompt = st.text_input("Prompt (what to paint; empty = continue the background)", key="inpaint_prompt")
    options.negative_prompt = st.text_input("Negative prompt", key="inpaint_negative")
    with st.expander("Diffusion options"):
        cols = st.columns(3)
        options.seed = int(cols[0].number_input("Seed", 0, 2**31 - 1, 0, key="inpaint_seed"))
        options.steps = int(cols[1].slider("Steps", 5, 60, options.steps, key="inpaint_steps"))
        options.guidance = float(cols[2].slider("Guidance", 0.0, 15.0, options.guidance, 0.5, key="inpaint_guidance"))
        options.strength = float(cols[0].slider("Strength", 0.05, 1.0, options.strength, 0.05, key="inpaint_strength"))
        options.mask_blur = int(cols[1].slider("Mask blur (px)", 0, 32, options.mask_blur, key="inpaint_blur"))
        options.only_masked = cols[2].checkbox("Only the masked area", key="inpaint_only_masked",
                                               help="Paint a padded crop around the mask at full model resolution.")
        options.masked_padding = int(cols[2].number_input("Padding (px)", 0, 256, options.masked_padding, key="inpaint_padding"))

submitted = False
if st.button("Fill", type="primary", disabled=mask is None or not choice.installed):
    params = {"method": choice.id, **{name: getattr(options, name) for name in (
        "prompt", "negative_prompt", "seed", "steps", "guidance", "strength", "mask_blur", "only_masked",
        "masked_padding", "classical_algorithm")}}
    submitted = submit_edit(service, owner, JOB_KEY, upload, "inpaint", params, mask)

# 3. Result ---------------------------------------------------------------------
if (shown := edit_result(service, owner, JOB_KEY, "inpaint", submitted, upload_id, WORKING)) is not None:
    _show(shown, "3. Before and after")
