"""Object Shift page: select an object, move it by (dx, dy) or remove it.

The selection is made here, as a preview; moving or removing is a `shift` job (it
waits its turn for the GPU, is found again when the page is opened again and is listed
on History).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from avatar.edit.inpaint import inpaint_methods, resolve_method
from avatar.edit.masks import mask_from_box, mask_overlay
from avatar.edit.options import MaskOptions, ShiftOptions
from avatar.edit.text_mask import mask_from_text
from avatar.errors import AvatarError
from avatar.media import IMAGE_EXTENSIONS, load_image
from avatar.service.jobs import get_service
from ui import options as declared
from ui.box_picker import box_picker
from ui.results import EditResult, edit_result, show_before_after, submit_edit
from ui.session import job_owner

JOB_KEY = "shift_job"
WORKING = "Moving the object..."


def _show(shown: EditResult, title: str) -> None:
    kind = shown.manifest["task"]
    show_before_after(service, owner, shown, title, "Original",
                      f"{kind.capitalize()} (filled with {shown.manifest['engine']})", f"{kind}.png")


st.title("Object Shift")
st.caption("Select an object, move it by (x, y) pixels or take it out; the hole it leaves is filled.")

service, owner = get_service(), job_owner()
upload = st.file_uploader("Picture (PNG, JPEG or WebP)", type=[e.lstrip(".") for e in IMAGE_EXTENSIONS], key="shift_upload")
if upload is None:
    st.info("Upload a picture to start.")
    if (earlier := edit_result(service, owner, JOB_KEY, "shift", False, None, WORKING)) is not None:
        _show(earlier, "Your last result")
    st.stop()
try:
    image = load_image(upload)
except AvatarError as exc:
    st.error(str(exc))
    st.stop()
height, width = image.shape[:2]
upload_id = getattr(upload, "file_id", upload.name)


@st.cache_data(max_entries=8, show_spinner="Finding the object in the box...")
def _box_mask(picture: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    return mask_from_box(picture, box)


# 1. Select ---------------------------------------------------------------------
st.subheader("1. Select the object")
how = st.radio("Select by", ["Box", "Describe it"], horizontal=True, key="shift_select_by")
mask = None
if how == "Box":
    box = box_picker(image, "shift", ident=upload_id, target="the object",
                     note="What is inside the box is then separated from its background.")
    if box is not None:
        try:
            mask = _box_mask(image, box)
        except AvatarError as exc:
            st.error(str(exc))
else:
    prompt = st.text_input("What to select", placeholder="the cup", key="shift_prompt")
    threshold = declared.slider(MaskOptions, "threshold", "Match threshold", step=0.05, key="shift_threshold")
    if prompt.strip():
        try:
            with st.spinner("Looking for it..."):
                selection = mask_from_text(image, prompt, threshold=threshold)
            mask = selection.mask
            if selection.notice:
                st.warning(selection.notice)
        except AvatarError as exc:
            st.error(f"{exc} Until then, select the object with a box.")

if mask is not None:
    if mask.any():
        st.image(mask_overlay(image, mask), caption=f"Selected: {100 * mask.mean():.1f}% of the picture", width=min(480, width))
    else:
        st.warning("Nothing was selected; move the box over the object.")
        mask = None

# 2. Move -----------------------------------------------------------------------
st.subheader("2. Move or remove")
cols = st.columns(2)
with cols[0]:
    dx = declared.number_input(ShiftOptions, "dx", "Move right by (x, pixels; negative = left)", min_value=-width,
                               max_value=width, key="shift_dx")
with cols[1]:
    dy = declared.number_input(ShiftOptions, "dy", "Move down by (y, pixels; negative = up)", min_value=-height,
                               max_value=height, key="shift_dy")
with st.expander("Fill options"):
    pad = declared.slider(ShiftOptions, "pad", "Grow the hole by (pixels)", key="shift_pad")
    methods = inpaint_methods()
    labels = {c.label: c.id for c in methods if c.installed}
    default = list(labels.values()).index(resolve_method(ShiftOptions().method))  # "auto": the best installed
    method = labels[st.selectbox("Fill method", list(labels), index=default, key="shift_method")]
    for choice in (c for c in methods if not c.installed):
        st.caption(choice.note)
    seed = declared.number_input(ShiftOptions, "seed", "Seed", key="shift_seed")
    steps = declared.slider(ShiftOptions, "steps", "Diffusion steps", key="shift_steps")

buttons = st.columns(2)
do_shift = buttons[0].button("Shift object", type="primary", disabled=mask is None or dx == dy == 0,
                             help="Set how far to move it first." if dx == dy == 0 else None)
do_remove = buttons[1].button("Remove object", disabled=mask is None)
submitted = False
if do_shift or do_remove:
    move = {"remove": True} if do_remove else {"dx": int(dx), "dy": int(dy)}
    params = {**move, "pad": int(pad), "method": method, "seed": int(seed), "steps": int(steps)}
    submitted = submit_edit(service, owner, JOB_KEY, upload, "shift", params, mask)

# 3. Result ---------------------------------------------------------------------
if (shown := edit_result(service, owner, JOB_KEY, "shift", submitted, upload_id, WORKING)) is not None:
    _show(shown, "3. Result")
