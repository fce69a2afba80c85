"""Every entry point of a video tool offers the same defaults: the CLI's flags, the job kind (and the API schema made
from it) and the Video Tools page's widgets all come from the tool's declared options (avatar/video/options.py)."""

from __future__ import annotations

import sys

import pytest
from streamlit.testing.v1 import AppTest

from avatar.cli import build_parser
from avatar.models.registry import Registry
from avatar.options import from_args, from_params, params_of
from avatar.service.kinds import KINDS
from avatar.video.options import ImageToVideoOptions, InpaintVideoOptions, TextToVideoOptions, UpscaleOptions
from tests.conftest import PROJECT_DIR

PAGE = str(PROJECT_DIR / "app_pages" / "video_tools.py")

# tool: (its options, job kind, the CLI's required arguments, {option: the page widget's key})
TOOLS = {
    "text": (TextToVideoOptions, "text_to_video", ["--prompt", ""], {
        "prompt": "t2v_prompt", "negative_prompt": "t2v_negative", "frames": "t2v_frames", "steps": "t2v_steps",
        "guidance": "t2v_guidance", "seed": "t2v_seed", "width": "t2v_size", "height": "t2v_size", "fps": "t2v_fps"}),
    "image": (ImageToVideoOptions, "image_to_video", ["--image", "still.png"], {
        "frames": "i2v_frames", "motion_bucket": "i2v_motion", "noise_aug": "i2v_noise", "fps": "i2v_fps",
        "seed": "i2v_seed", "steps": "i2v_steps", "decode_chunk_size": "i2v_chunk", "orientation": "i2v_orientation",
        "fit": "i2v_fit"}),
    "inpaint": (InpaintVideoOptions, "video_inpaint", ["--video", "clip.mp4", "--box", "1,2,30,40"], {
        "prompt": "vinpaint_prompt", "method": "vinpaint_method", "seed": "vinpaint_seed"}),
    "upscale": (UpscaleOptions, "upscale", ["--video", "clip.mp4"], {
        "target_height": "upscale_height", "method": "upscale_method", "noise_level": "upscale_noise"}),
}
WIDGETS = ("slider", "select_slider", "number_input", "radio", "text_input", "text_area")


@pytest.fixture(scope="module")
def page_values():
    """Every widget's value on a fresh page, with all models reported installed so every tab shows its widgets."""
    patch = pytest.MonkeyPatch()
    patch.setattr(Registry, "is_installed", lambda self, model_id: True)
    try:
        at = AppTest.from_file(PAGE, default_timeout=240)
        at.run()
        assert not at.exception
        values = {}
        for widget in WIDGETS:
            for element in getattr(at, widget):
                if element.key:
                    values[element.key] = element.value
        return values
    finally:
        patch.undo()


@pytest.mark.parametrize("tool", list(TOOLS))
def test_cli_job_kind_and_page_defaults_agree(tool, page_values):
    cls, kind, required, widgets = TOOLS[tool]
    args = build_parser().parse_args(["video", tool, *required])
    cli = params_of(from_args(cls, args))
    if tool == "inpaint":
        cli["box"] = None  # the one region the command needs; its default is "not given", as everywhere
    job = params_of(from_params(cls, {}))  # what the job kind fills in for parameters left out
    schema = {name: prop.get("default") for name, prop in KINDS[kind].schema()["properties"].items()
              if name in job}
    page = {name: page_values[key] for name, key in widgets.items()}
    assert cli == job
    assert schema == job
    assert page == {name: job[name] for name in widgets}, f"the page's {tool} widgets differ from the job's defaults"


def test_the_inpainting_models_offered_are_the_image_tools_models():
    from avatar.edit.inpaint import DIFFUSION_MODELS
    from avatar.video.options import INPAINT_MODELS

    assert INPAINT_MODELS == DIFFUSION_MODELS


def test_the_options_module_is_light():
    import subprocess

    code = ("import sys, avatar.video.options, avatar.commands.video; "
            "print(sorted(m for m in ('torch', 'diffusers', 'av', 'cv2') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr
