"""The image tools' and the portrait's options are declared once: the CLI, the job kind (and the API's schema) and
the page start from the same values, and the declarations are cheap to import."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from avatar.cli import build_parser
from avatar.edit.options import InpaintOptions, MaskOptions, ShiftOptions
from avatar.options import args_params, defaults, from_args, params_of
from avatar.portrait.options import PortraitOptions
from avatar.service.image_kinds import inpaint_options, mask_options, shift_options
from avatar.service.kinds import KINDS
from avatar.service.portrait_kind import portrait_options
from tests.conftest import modules_loaded_by
from tests.test_edit_pages import PAGES, _png
from tests.test_edit_scenes import disk_scene
from tests.tiny_models import save_tiny_sd, save_tiny_sd_inpaint

FILES = ["--image", "scene.png", "-o", "out.png"]


def _cli(cls: type, argv: list[str]) -> dict:
    """The options a command runs with when only `argv` is given; and it sends no parameter it was not given."""
    args = build_parser().parse_args(argv)
    given = args_params(cls, args)
    return {"options": params_of(from_args(cls, args)), "sent": given}


def _schema_defaults(kind: str) -> dict:
    return {name: prop.get("default") for name, prop in KINDS[kind].schema()["properties"].items()}


def _same(page: dict, cli: dict, job: dict, schema: dict) -> None:
    """Every value the page shows is the job's default, and so is every CLI default and every documented one."""
    assert page == {name: job[name] for name in page}
    assert cli == {name: job[name] for name in cli}
    assert {name: schema[name] for name in job} == {name: list(v) if isinstance(v, tuple) else v
                                                    for name, v in job.items()}


@pytest.fixture
def scene_png() -> bytes:
    return _png(disk_scene(center=(150, 120), radius=30)[0])


def _page(name: str, upload_key: str, picture: bytes) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=60).run()
    at.file_uploader(key=upload_key).set_value(("scene.png", picture, "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_inpainting_defaults_are_the_same_everywhere(scene_png, tmp_path, monkeypatch):
    from avatar.edit.inpaint import inpaint_methods, resolve_method

    save_tiny_sd_inpaint(tmp_path / "checkpoints" / "dreamshaper8-inpaint")  # so the page shows the diffusion options
    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(tmp_path / "checkpoints"))
    job = params_of(inpaint_options({}))
    assert job == params_of(InpaintOptions()) == {**defaults(InpaintOptions)}
    cli = _cli(InpaintOptions, ["inpaint", "--mask", "mask.png", *FILES])
    assert cli["sent"] == {}  # the job's own defaults apply

    at = _page("inpainting.py", "inpaint_upload", scene_png)
    labels = {choice.label: choice.id for choice in inpaint_methods()}
    page = {
        "method": labels[at.selectbox(key="inpaint_method").value],
        "prompt": at.text_input(key="inpaint_prompt").value,
        "negative_prompt": at.text_input(key="inpaint_negative").value,
        "seed": at.number_input(key="inpaint_seed").value,
        "steps": at.slider(key="inpaint_steps").value,
        "guidance": at.slider(key="inpaint_guidance").value,
        "strength": at.slider(key="inpaint_strength").value,
        "mask_blur": at.slider(key="inpaint_blur").value,
        "only_masked": at.checkbox(key="inpaint_only_masked").value,
        "masked_padding": at.number_input(key="inpaint_padding").value,
    }
    assert page.pop("method") == resolve_method(job["method"]) == "dreamshaper8-inpaint"
    at.selectbox(key="inpaint_method").set_value("Classical (no model: OpenCV)").run()
    page["classical_algorithm"] = at.selectbox(key="inpaint_classical").value
    at.selectbox(key="inpaint_method").set_value(at.selectbox(key="inpaint_method").options[0]).run()
    steps = at.slider(key="inpaint_steps")
    assert (steps.min, steps.max, at.slider(key="inpaint_strength").max) == (1, 200, 1.0)  # the declared ranges
    assert set(page) == set(job) - {"method"}  # every option but the method (listed as what "auto" picks)
    _same(page, cli["options"], job, _schema_defaults("inpaint"))


def test_shift_defaults_are_the_same_everywhere(scene_png):
    from avatar.edit.inpaint import inpaint_methods, resolve_method

    job = params_of(shift_options({}))
    assert job == defaults(ShiftOptions)
    moved = _cli(ShiftOptions, ["shift", "--box", "110,80,190,160", "--x", "40", "--y", "0", *FILES])
    assert moved["sent"] == {"dx": 40, "dy": 0}
    removed = _cli(ShiftOptions, ["remove", "--box", "110,80,190,160", *FILES])
    assert removed["sent"] == {} and removed["options"] == job
    cli = {name: value for name, value in moved["options"].items() if name not in ("dx", "dy")}

    at = _page("object_shift.py", "shift_upload", scene_png)
    labels = {choice.label: choice.id for choice in inpaint_methods()}
    page = {
        "dx": at.number_input(key="shift_dx").value,
        "dy": at.number_input(key="shift_dy").value,
        "pad": at.slider(key="shift_pad").value,
        "seed": at.number_input(key="shift_seed").value,
        "steps": at.slider(key="shift_steps").value,
    }
    assert labels[at.selectbox(key="shift_method").value] == resolve_method(job["method"])
    _same(page, cli, job, _schema_defaults("shift"))
    assert at.slider(key="shift_pad").max == 200 and at.slider(key="shift_steps").min == 1  # the declared range


def test_mask_defaults_are_the_same_everywhere(scene_png):
    job = params_of(mask_options({"box": [110, 80, 190, 160]}))
    assert {**job, "box": None} == defaults(MaskOptions)
    cli = _cli(MaskOptions, ["mask", "--box", "110,80,190,160", *FILES])
    assert cli["sent"] == {}
    cli_options = {name: value for name, value in cli["options"].items() if value is not None}  # the selection aside
    thresholds = []
    for name, upload, radio, slider in (("object_shift.py", "shift_upload", "shift_select_by", "shift_threshold"),
                                        ("inpainting.py", "inpaint_upload", "inpaint_mask_by", "inpaint_threshold")):
        at = _page(name, upload, scene_png)
        at.radio(key=radio).set_value("Describe it").run()
        thresholds.append(at.slider(key=slider).value)
    assert thresholds == [job["threshold"]] * 2
    schema = _schema_defaults("mask")
    _same({"threshold": thresholds[0]}, cli_options, {k: v for k, v in job.items() if k != "box"}, schema)
    assert schema["box"] is None and schema["background_points"] == []


def _portrait_form():
    from ui.portrait_generation import generated_portrait_input

    generated_portrait_input()


def test_portrait_defaults_are_the_same_everywhere(tmp_path):
    (Path(os.environ["AVATAR_CHECKPOINTS"]) / "sd21-base").symlink_to(save_tiny_sd(tmp_path / "sd"),
                                                                     target_is_directory=True)
    job = params_of(portrait_options({"prompt": "a face"}))
    assert {**job, "prompt": ""} == defaults(PortraitOptions)
    cli = _cli(PortraitOptions, ["generate-avatar", "--prompt", "a face", "-o", "face.png"])
    assert cli["sent"] == {"prompt": "a face"} and cli["options"] == job

    at = AppTest.from_function(_portrait_form, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    by_label = {element.label: element.value for element in (*at.text_input, *at.number_input, *at.slider,
                                                               *at.select_slider)}
    page = {"negative_prompt": by_label["Negative prompt"], "seed": by_label["Seed"], "steps": by_label["Steps"],
            "guidance": by_label["Guidance"], "size": by_label["Size"]}
    assert by_label["Prompt"].strip()  # the form starts from an example prompt (the job itself needs one)
    _same(page, cli["options"], job, {**_schema_defaults("portrait"), "prompt": "a face"})


def test_the_declarations_are_cheap_to_import():
    """The kinds and the API import the options without torch, diffusers or OpenCV."""
    code = ("import avatar.edit.options, avatar.portrait.options, avatar.service.image_kinds, "
            "avatar.service.portrait_kind")
    assert modules_loaded_by(code, ("torch", "diffusers", "cv2")) == []


def test_diffusion_and_inpaint_import_in_either_order():
    for first, second in (("avatar.edit.diffusion", "avatar.edit.inpaint"), ("avatar.edit.inpaint", "avatar.edit.diffusion")):
        modules_loaded_by(f"import {first}, {second}")  # asserts that the imports succeed
    from tests.test_layout import import_graph

    graph = import_graph()
    assert "avatar.edit.inpaint" not in graph["avatar.edit.diffusion"]
