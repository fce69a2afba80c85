"""The "Generate from a prompt" portrait input of the Talking Avatar page."""

from __future__ import annotations

from typing import Optional

import numpy as np
import streamlit as st

from avatar.errors import AvatarError, ModelNotInstalled
from avatar.generate import MODEL_ID as PORTRAIT_MODEL, generate_portrait
from ui.sidebar import registry_resource

STATE_KEY = "generated_portrait"


def generated_portrait_input() -> Optional[np.ndarray]:
    """Show the prompt form; return the generated portrait once there is one.

    When the portrait model is not installed the form is replaced by the reason and
    the command that installs it.
    """
    registry = registry_resource()
    try:
        registry.require(PORTRAIT_MODEL)
    except ModelNotInstalled as exc:
        st.info(f"Generating a portrait needs a Stable Diffusion model that is not installed yet. {exc}")
        return None
    prompt = st.text_input("Prompt", value="a friendly person, studio portrait photo, looking at the camera")
    negative = st.text_input("Negative prompt", value="blurry, deformed, cartoon, text")
    columns = st.columns(4)
    seed = columns[0].number_input("Seed", min_value=0, max_value=2**31 - 1, value=0)
    steps = columns[1].slider("Steps", 1, 50, 25)
    guidance = columns[2].slider("Guidance", 1.0, 15.0, 7.5, 0.5)
    size = columns[3].select_slider("Size", [256, 384, 512, 768], value=512)
    if st.button("Generate portrait"):
        bar = st.progress(0.0, text="Generating...")
        try:
            result = generate_portrait(
                prompt, negative_prompt=negative, seed=int(seed), steps=steps, guidance=guidance, size=size,
                registry=registry, progress=lambda stage, fraction: bar.progress(fraction, text=stage),
            )
            st.session_state[STATE_KEY] = result.image
            bar.progress(1.0, text=f"Portrait ready (seed {result.seed}, {result.attempts} attempt(s))")
        except AvatarError as exc:
            bar.empty()
            st.error(str(exc))
    image = st.session_state.get(STATE_KEY)
    if image is not None:
        st.image(image, caption="Generated portrait", width=240)
    return image
