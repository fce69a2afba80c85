"""The "Generate from a prompt" portrait input of the Talking Avatar page.

The portrait is made by a `portrait` job, like every heavy task of the pages, so it
waits its turn for the GPU and appears on the History page with its prompt.
"""

from __future__ import annotations

import json
from typing import Optional

import numpy as np
import streamlit as st

from avatar.errors import AvatarError, ModelNotInstalled
from avatar.media import load_image
from avatar.options import params_of
from avatar.portrait.options import MODEL_ID as PORTRAIT_MODEL
from avatar.portrait.options import PortraitOptions
from avatar.service.jobs import get_service
from ui import options as declared
from ui.history import page_job, recall_last_job
from ui.session import job_owner
from ui.sidebar import registry_resource

STATE_KEY = "generated_portrait"  # the portrait (an RGB array) the other inputs use
JOB_KEY, CAPTION_KEY = "portrait_job", "generated_portrait_caption"
# The prompt has no default (a portrait needs a description); the form starts from this example.
EXAMPLE_PROMPT = "a friendly person, studio portrait photo, looking at the camera"
SIZES = [256, 384, 512, 768]  # the sizes offered here, among the multiples of 8 the model can paint


def generated_portrait_input() -> Optional[np.ndarray]:
    """Show the prompt form; return the generated portrait once there is one.

    When the portrait model is not installed the form is replaced by the reason and
    the command that installs it.
    """
    registry = registry_resource()
    try:
        registry.require(PORTRAIT_MODEL)
    except ModelNotInstalled as exc:
        st.info(f"Generating a portrait needs a Stable Diffusion model. {exc}")
        return None
    prompt = declared.text_input(PortraitOptions, "prompt", "Prompt", value=EXAMPLE_PROMPT)
    negative = declared.text_input(PortraitOptions, "negative_prompt", "Negative prompt")
    columns = st.columns(4)
    with columns[0]:
        seed = declared.number_input(PortraitOptions, "seed", "Seed")
    with columns[1]:
        steps = declared.slider(PortraitOptions, "steps", "Steps")
    with columns[2]:
        guidance = declared.slider(PortraitOptions, "guidance", "Guidance", step=0.5)
    with columns[3]:
        size = st.select_slider("Size", SIZES, value=PortraitOptions().size, help=declared.spec_of(PortraitOptions,
                                                                                                  "size").help)
    service, owner = get_service(), job_owner()
    submitted = False
    if st.button("Generate portrait"):
        st.session_state.pop(STATE_KEY, None)  # a failed attempt leaves no older portrait posing as its result
        st.session_state.pop(JOB_KEY, None)
        try:
            options = PortraitOptions(prompt=prompt, negative_prompt=negative, seed=int(seed), steps=int(steps),
                                      guidance=float(guidance), size=int(size))
            job = service.submit(owner, "portrait", params_of(options), {})
        except AvatarError as exc:
            st.error(str(exc))
        else:
            st.session_state[JOB_KEY], submitted = job.id, True
    recall_last_job(service, owner, JOB_KEY, "portrait")
    job = page_job(service, owner, JOB_KEY, submitted, "Generating a portrait...", "No portrait was made")
    if job is not None and (submitted or STATE_KEY not in st.session_state):
        path = service.result_file(owner, job.id, "portrait.png")
        if path is not None:
            st.session_state[STATE_KEY] = load_image(path)
            made = json.loads(service.result_file(owner, job.id, "manifest.json").read_text())
            st.session_state[CAPTION_KEY] = f"Generated portrait (seed {made['seed']}, attempt {made['attempts']})"
    image = st.session_state.get(STATE_KEY)
    if image is not None:
        st.image(image, caption=st.session_state.get(CAPTION_KEY, "Generated portrait"), width=240)
    return image
