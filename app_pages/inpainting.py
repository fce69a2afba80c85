"""Inpainting page: mark an area (brush, mask file, text or box) and fill it.

The mask is made here, as a preview; the fill is an `inpaint` job (it waits its
turn for the GPU, is found again when the page is opened again and is listed on History).
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from avatar.edit.inpaint import inpaint_methods, resolve_method
from avatar.edit.masks import fit_mask, load_mask, mask_from_box, mask_from_brush, mask_overlay
from avatar.edit.options import CLASSICAL_ALGORITHMS, InpaintOptions, MaskOptions
from avatar.edit.text_mask import mask_from_text
from avatar.errors import AvatarError
from avatar.media import IMAGE_EXTENSIONS, load_image
from avatar.options import params_of
from avatar.service.jobs import get_service
from ui import options as declared
from ui.box_picker import TOOLBAR_ROOM, box_picker, canvas_size, column_width
from ui.results import EditResult, edit_result, show_before_after, submit_edit
from ui.session import job_owner

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
    """Strokes painted on a canvas over a preview of the picture, scaled to fit the column (a phone's too)."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception:  # the component cannot register outside a running server (e.g. in tests)
        st.warning("The brush canvas is unavailable here; upload a mask, describe the object or use a box.")
        return None
    brush = st.slider("Brush size", 5, 80, 30, key="inpaint_brush")
    with st.container(gap=None):
        size = canvas_size(width, height, column_width("inpaint_brush_canvas"))  # as the box picker's canvas
        st.space(TOOLBAR_ROOM)  # the canvas's toolbar (undo, clear) shows above it, not over the slider
        canvas = st_canvas(
            stroke_width=brush,
            stroke_color="rgba(255, 0, 0, 0.6)",
            background_image=Image.fromarray(image).resize(size),
            width=size[0],
            height=size[1],
            drawing_mode="freedraw",
            return_image_data=True,
            key=f"inpaint_canvas_{upload_id}_{size[0]}",  # strokes are in canvas pixels: a new size starts afresh
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
        threshold = declared.slider(MaskOptions, "threshold", "Match threshold", step=0.05, key="inpaint_threshold")
        if prompt.strip():
            with st.spinner("Looking for it..."):
                selection = mask_from_text(image, prompt, threshold=threshold)
            mask = selection.mask
            if selection.notice:
                st.warning(selection.notice)
    else:
        box = box_picker(image, "inpaint", ident=upload_id, target="the area to fill")
        grabcut = st.checkbox("Only the object inside the box (GrabCut)", value=True, key="inpaint_grabcut")
        if box is not None:
            if grabcut:
                mask = mask_from_box(image, box)
            else:
                mask = np.zeros((height, width), bool)
                mask[box[1] : box[3], box[0] : box[2]] = True
except AvatarError as exc:
    st.error(str(exc))
    mask = None

if mask is not None and not mask.any():
    st.info("The mask is empty so far: paint, upload or describe the area to fill.")
    mask = None
if mask is not None:
    st.image(mask_overlay(image, mask), caption=f"Area to fill: {100 * mask.mean():.1f}% of the picture", width=min(480, width))

def _not_installed(label: str) -> str:
    """ "SD 2 inpainting (sd2-inpaint)" -> "SD 2 inpainting (sd2-inpaint, not installed)": one pair of brackets."""
    return f"{label[:-1]}, not installed)" if label.endswith(")") else f"{label} (not installed)"


# 2. Method ---------------------------------------------------------------------
st.subheader("2. Fill")
methods = inpaint_methods()
labels = {(c.label if c.installed else _not_installed(c.label)): c for c in methods}
default = [c.id for c in methods].index(resolve_method(InpaintOptions().method))  # "auto": the best installed
choice = labels[st.selectbox("Method", list(labels), index=default, key="inpaint_method")]
if not choice.installed:
    st.warning(choice.note)

values = {}
if choice.id == "classical":
    values["classical_algorithm"] = declared.selectbox(InpaintOptions, "classical_algorithm", "Classical method",
                                                       format_func=CLASSICAL_ALGORITHMS.get, key="inpaint_classical")
else:
    values["prompt"] = declared.text_input(InpaintOptions, "prompt", "Prompt (what to paint; empty = continue the "
                                           "background)", key="inpaint_prompt")
    values["negative_prompt"] = declared.text_input(InpaintOptions, "negative_prompt", "Negative prompt",
                                                    key="inpaint_negative")
    with st.expander("Diffusion options"):
        cols = st.columns(3)
        with cols[0]:
            values["seed"] = int(declared.number_input(InpaintOptions, "seed", "Seed", key="inpaint_seed"))
        with cols[1]:
            values["steps"] = int(declared.slider(InpaintOptions, "steps", "Steps", key="inpaint_steps"))
        with cols[2]:
            values["guidance"] = float(declared.slider(InpaintOptions, "guidance", "Guidance", step=0.5,
                                                       key="inpaint_guidance"))
        with cols[0]:
            values["strength"] = float(declared.slider(InpaintOptions, "strength", "Strength", step=0.05,
                                                       key="inpaint_strength"))
        with cols[1]:
            values["mask_blur"] = int(declared.slider(InpaintOptions, "mask_blur", "Mask blur (px)", key="inpaint_blur"))
        with cols[2]:
            values["only_masked"] = declared.checkbox(InpaintOptions, "only_masked", "Only the masked area",
                                                      key="inpaint_only_masked")
            values["masked_padding"] = int(declared.number_input(InpaintOptions, "masked_padding", "Padding (px)",
                                                                 key="inpaint_padding"))
options = InpaintOptions(method=choice.id, **values)

submitted = False
if st.button("Fill", type="primary", disabled=mask is None or not choice.installed):
    submitted = submit_edit(service, owner, JOB_KEY, upload, "inpaint", params_of(options), mask)

# 3. Result ---------------------------------------------------------------------
if (shown := edit_result(service, owner, JOB_KEY, "inpaint", submitted, upload_id, WORKING)) is not None:
    _show(shown, "3. Before and after")
