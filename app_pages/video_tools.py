"""Video Tools page: text-to-video, image-to-video, video inpainting and upscaling.

Each tool's button submits a job (kinds in avatar/service/video_kinds.py) and its tab
follows the job and shows the video it made; a reload finds the result again, and
every run is on the History page.
"""

from __future__ import annotations

import io
import json
from typing import Any

import streamlit as st
from PIL import Image

from avatar.avatars import list_default_avatars
from avatar.models.catalog import get_spec
from avatar.errors import AvatarError
from avatar.media import IMAGE_EXTENSIONS
from avatar.service.jobs import get_service
from avatar.video.generate import image_to_video_seconds_estimate, text_to_video_seconds_estimate
from avatar.video.io import VIDEO_EXTENSIONS
from avatar.video.options import (INPAINT_MODELS, PROPAGATION, UPSCALE_MODEL, ImageToVideoOptions,
                                  InpaintVideoOptions, TextToVideoOptions, UpscaleOptions)
from ui.box_picker import box_picker
from ui.enhance_tab import enhance_tab
from ui.history import page_job, recall_last_job, result_download
from ui.links import page_link
from ui.options import number_input, slider, spec_of, text_input
from ui.portrait_generation import STATE_KEY as GENERATED_PORTRAIT
from ui.results import show_video
from ui.session import job_owner
from ui.sidebar import registry_resource
from ui.video_frame import video_frame

VIDEO_TYPES = [e.lstrip(".") for e in VIDEO_EXTENSIONS]
IMAGE_TYPES = [e.lstrip(".") for e in IMAGE_EXTENSIONS]
SEED_MAX = 2**31 - 1  # what a number box shows comfortably; the tools take larger seeds

st.title("Video Tools")
st.caption("Generate short clips, fill a region of a video, or bring an SD video to HD.")
registry = registry_resource()
service, owner = get_service(), job_owner()


def installed(model_id: str, needed: bool = True) -> bool:
    """Say whether a tool's model is installed; when it is not, say how to install it."""
    if registry.is_installed(model_id):
        st.caption(f"Model: {get_spec(model_id).name} (`{model_id}`), installed.")
        return True
    spec = get_spec(model_id)
    model = f"{spec.name} (`{model_id}`, {spec.download_size / 2**30:.1f} GB)"
    how = f"run `{spec.install_command}`, or install it on the Models page."
    if needed:
        st.info(f"This tool needs {model}, which is not installed: {how}")
    else:
        st.caption(f"{model} is optional and not installed; to use it, {how}")
    page_link("app_pages/models.py", "Models page", icon=":material/inventory_2:")
    return False


def radio(cls: type, name: str, label: str, options: list | None = None, **kwargs: Any) -> Any:
    """A radio over the option's declared choices (or `options`), its declared default selected."""
    spec = spec_of(cls, name)
    choices = list(options if options is not None else spec.choices)
    index = choices.index(spec.default) if spec.default in choices else 0
    return st.radio(label, choices, index=index, help=spec.help, **kwargs)


def rough_time(seconds: float) -> None:
    """Before a diffusion run: how long it will roughly take on this machine."""
    text = (f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400
            else f"{seconds / 3600:.1f} h")
    where = "this computer's CPU" if registry.device == "cpu" else registry.device.upper()
    (st.warning if seconds > 600 else st.caption)(f"A run takes roughly {text} on {where} (a rough estimate).")


def submit(key: str, kind: str, params: dict[str, Any], files: dict[str, bytes] | None = None,
           names: dict[str, str] | None = None) -> bool:
    """Submit a tool's job and remember it under `key`; a refused request shows its sentence. True when queued."""
    st.session_state.pop(key, None)
    try:
        job = service.submit(owner, kind, params, files or {}, names)
    except AvatarError as exc:
        st.error(str(exc))
        return False
    st.session_state[key] = job.id
    return True


def show_result(key: str, kind: str, submitted: bool, file_name: str) -> None:
    """Follow the tool's job to its end (after a reload: the last one of its kind), then its video: player, download
    and what made it."""
    recall_last_job(service, owner, key, kind)
    job = page_job(service, owner, key, submitted, "Working on the video...", "No video was made")
    if job is None:
        return
    video = service.result_file(owner, job.id, "video.mp4")
    manifest_path = service.result_file(owner, job.id, "manifest.json")
    if video is None or manifest_path is None:
        return
    manifest = json.loads(manifest_path.read_text())
    for notice in manifest.get("inputs", {}).get("notices", []):
        st.info(notice)
    shape = manifest["video"]
    show_video(st, video, shape["width"], shape["height"])
    result_download(st, service, owner, job, "video.mp4", "Download MP4", file_name, key=f"{key}_download")
    timings = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in manifest["timings_s"].items())
    st.caption(f"{shape['frames']} frames, {shape['width']}x{shape['height']} at {shape['fps']:g} fps; "
               f"made with {manifest['method']}; {timings}")


text_tab, image_tab, inpaint_tab, upscale_tab, enhance_tab_ = st.tabs(
    ["Text to video", "Image to video", "Video inpainting", "Upscaling", "Face enhancement"])

with text_tab:
    if installed("text2video-ms"):
        prompt_spec = spec_of(TextToVideoOptions, "prompt")
        prompt = st.text_area("Prompt", value=prompt_spec.default, help=prompt_spec.help,
                              placeholder="a red panda eating bamboo in the snow", key="t2v_prompt")
        negative = text_input(TextToVideoOptions, "negative_prompt", "Negative prompt",
                              placeholder="blurry, low quality, watermark", key="t2v_negative")
        columns = st.columns(4)
        with columns[0]:
            frames = slider(TextToVideoOptions, "frames", "Frames", key="t2v_frames")
        with columns[1]:
            steps = slider(TextToVideoOptions, "steps", "Steps", max_value=50, key="t2v_steps")
        with columns[2]:
            guidance = slider(TextToVideoOptions, "guidance", "Guidance", min_value=1.0, max_value=15.0, step=0.5,
                              key="t2v_guidance")
        with columns[3]:
            seed = number_input(TextToVideoOptions, "seed", "Seed", max_value=SEED_MAX, key="t2v_seed")
        width_spec = spec_of(TextToVideoOptions, "width")
        size = st.select_slider("Size", [128, 192, 256, 320, 384, 512], value=width_spec.default,
                                help="width and height in pixels", key="t2v_size")
        fps = slider(TextToVideoOptions, "fps", "Frames per second", min_value=4, max_value=30, key="t2v_fps")
        rough_time(text_to_video_seconds_estimate(frames, steps, size, size, guidance, device=registry.device))
        submitted = st.button("Generate clip", type="primary", key="t2v_run") and submit("t2v_job", "text_to_video", {
            "prompt": prompt, "negative_prompt": negative, "frames": frames, "steps": steps, "guidance": guidance,
            "seed": int(seed), "width": size, "height": size, "fps": fps})
        show_result("t2v_job", "text_to_video", submitted, "text_to_video.mp4")

with image_tab:
    if installed("svd-xt"):
        sources = ["Default avatar", "Upload a picture"]
        if st.session_state.get(GENERATED_PORTRAIT) is not None:
            sources.append("The portrait generated on the Talking Avatar page")
        source = st.radio("Still", sources, horizontal=True, key="i2v_source")
        still_params: dict[str, Any] = {}
        still_files: dict[str, bytes] = {}
        still_names: dict[str, str] = {}
        if source == sources[-1] and len(sources) == 3:
            still = st.session_state[GENERATED_PORTRAIT]
            st.image(still, width=240)
            buffer = io.BytesIO()
            Image.fromarray(still).save(buffer, format="PNG")
            still_files["image"], still_names["image"] = buffer.getvalue(), "generated_portrait.png"
        elif source == "Default avatar":
            avatars = {avatar.title: avatar for avatar in list_default_avatars()}
            still_params["avatar"] = avatars[st.radio("Avatar", list(avatars), horizontal=True, key="i2v_avatar")].name
        else:
            upload = st.file_uploader("Picture", type=IMAGE_TYPES, key="i2v_upload")
            if upload is not None:
                still_files["image"], still_names["image"] = upload.getvalue(), upload.name
        columns = st.columns(4)
        with columns[0]:
            orientation = radio(ImageToVideoOptions, "orientation", "Shape", key="i2v_orientation",
                                format_func=lambda o: "1024x576" if o == "landscape" else "576x1024")
        with columns[1]:
            fit = radio(ImageToVideoOptions, "fit", "Fit", key="i2v_fit", format_func=str.capitalize)
        with columns[2]:
            frames = radio(ImageToVideoOptions, "frames", "Frames", key="i2v_frames")
        with columns[3]:
            seed = number_input(ImageToVideoOptions, "seed", "Seed", max_value=SEED_MAX, key="i2v_seed")
        columns = st.columns(4)
        with columns[0]:
            motion = slider(ImageToVideoOptions, "motion_bucket", "Motion", min_value=1, key="i2v_motion")
        with columns[1]:
            noise = slider(ImageToVideoOptions, "noise_aug", "Noise added to the still", max_value=0.3, step=0.01,
                           key="i2v_noise")
        with columns[2]:
            fps = slider(ImageToVideoOptions, "fps", "Frames per second", min_value=4, max_value=30, key="i2v_fps")
        with columns[3]:
            chunk = slider(ImageToVideoOptions, "decode_chunk_size", "Frames decoded at once", key="i2v_chunk")
        steps = slider(ImageToVideoOptions, "steps", "Steps", max_value=50, key="i2v_steps")
        rough_time(image_to_video_seconds_estimate(frames, steps, orientation, device=registry.device))
        submitted = False
        if st.button("Animate the still", type="primary", key="i2v_run"):
            if not still_params and not still_files:
                st.error("Choose a default avatar or upload a picture first.")
            else:
                submitted = submit("i2v_job", "image_to_video", {
                    **still_params, "frames": frames, "motion_bucket": motion, "noise_aug": noise, "fps": fps,
                    "seed": int(seed), "steps": steps, "decode_chunk_size": chunk, "orientation": orientation,
                    "fit": fit}, still_files, still_names)
        show_result("i2v_job", "image_to_video", submitted, "image_to_video.mp4")

with inpaint_tab:
    video = st.file_uploader("Video (up to 60 s)", type=VIDEO_TYPES, key="vinpaint_video")
    how = st.radio("Area to fill", ["Box", "Upload a still mask", "Describe it"], horizontal=True, key="vinpaint_by")
    frame = video_frame(video, "vinpaint") if video is not None else None
    mask = box = described = None
    if how == "Box":
        if video is None:
            st.info("Upload a video to draw the box on one of its frames.")
        elif frame is not None:
            box = box_picker(frame.image, "vinpaint_box", ident=frame.info.sha256, target="the area to fill",
                             noun="frame")
    else:
        if frame is not None:
            st.image(frame.image, caption=f"Frame {frame.index}", width=min(frame.info.width, 480))
        if how == "Upload a still mask":
            mask = st.file_uploader("Mask (white = fill; the video's size or shape)", type=IMAGE_TYPES,
                                    key="vinpaint_mask")
        elif installed("clipseg", needed=False):
            described = text_input(InpaintVideoOptions, "mask_prompt", "What to fill, found in every frame",
                                   placeholder="the logo", key="vinpaint_text")
    models = [model_id for model_id in INPAINT_MODELS if registry.is_installed(model_id)]
    automatic = models[0] if models else PROPAGATION  # what "auto" picks now
    fillers = {PROPAGATION: "Pixels from other frames (no model)", **{m: get_spec(m).name for m in models}}
    if models:
        method = radio(InpaintVideoOptions, "method", "Fill with", ["auto", PROPAGATION, *models], horizontal=True,
                       key="vinpaint_method",
                       format_func=lambda m: f"Automatic: {fillers[automatic]}" if m == "auto" else fillers[m])
    else:  # one way to fill: nothing to choose
        method = "auto"
        st.caption(f"Filled with {fillers[PROPAGATION][0].lower()}{fillers[PROPAGATION][1:]}.")
        installed(INPAINT_MODELS[0], needed=False)
    prompt = ""
    if (automatic if method == "auto" else method) != PROPAGATION:
        prompt = text_input(InpaintVideoOptions, "prompt", "What to paint in (optional)", key="vinpaint_prompt")
    seed = number_input(InpaintVideoOptions, "seed", "Seed", max_value=SEED_MAX, key="vinpaint_seed")
    submitted = False
    if st.button("Fill the video", type="primary", key="vinpaint_run"):
        if video is None:
            st.error("Upload a video first.")
        elif frame is None or (how == "Box" and box is None):
            pass  # what is wrong with the video or the box is said above
        else:
            files, names = {"video": video.getvalue()}, {"video": video.name}
            area: dict[str, Any] = {"box": list(box)} if box else {"mask_prompt": described} if described else {}
            if mask is not None:
                files["mask"], names["mask"] = mask.getvalue(), mask.name
            submitted = submit("vinpaint_job", "video_inpaint", {**area, "prompt": prompt, "method": method,
                                                                 "seed": int(seed)}, files, names)
    show_result("vinpaint_job", "video_inpaint", submitted, "inpainted.mp4")

with upscale_tab:
    video = st.file_uploader("Video (up to 60 s)", type=VIDEO_TYPES, key="upscale_video")
    height = radio(UpscaleOptions, "target_height", "Target height", [720, 1080], horizontal=True,
                   key="upscale_height", format_func=lambda h: f"{h}p")
    diffusion = registry.is_installed(UPSCALE_MODEL)
    methods = {"auto": f"Automatic: {'Stable Diffusion x4 upscaler' if diffusion else 'Lanczos + sharpening'}",
               "lanczos": "Lanczos + sharpening (no model)", UPSCALE_MODEL: "Stable Diffusion x4 upscaler"}
    if diffusion:
        installed(UPSCALE_MODEL, needed=False)
        method = radio(UpscaleOptions, "method", "Method", ["auto", "lanczos", UPSCALE_MODEL], horizontal=True,
                       key="upscale_method", format_func=methods.get)
    else:  # one way to upscale: nothing to choose
        method = "auto"
        st.caption(f"Upscaled with {methods['lanczos'][0].lower()}{methods['lanczos'][1:]}.")
        installed(UPSCALE_MODEL, needed=False)
    params: dict[str, Any] = {"target_height": height, "method": method}
    if method == UPSCALE_MODEL or (method == "auto" and diffusion):
        params["noise_level"] = slider(UpscaleOptions, "noise_level", "Noise level", key="upscale_noise")
    submitted = False
    if st.button("Upscale", type="primary", key="upscale_run"):
        if video is None:
            st.error("Upload a video first.")
        else:
            submitted = submit("upscale_job", "upscale", params, {"video": video.getvalue()}, {"video": video.name})
    show_result("upscale_job", "upscale", submitted, "upscaled.mp4")

with enhance_tab_:
    enhance_tab(service, owner, registry, submit)
