"""The SadTalker engine around its networks: options, installs, paste-back, and whole jobs with seeded weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.devices import GB, DevicePolicy
from avatar.errors import InputError, ModelNotInstalled
from avatar.registry import Registry
from avatar.talk.engine import TalkOptions, engine_choices
from avatar.talk.sadtalker.engine import SadTalkerEngine, crop_output_size, paste_back
from avatar.talk.sadtalker.networks import MAPPING_FILES, renderer_file

CPU = DevicePolicy("cpu", torch.float32, gpu_budget=0, cpu_budget=16 * GB)


def registry_with(tmp_path: Path, *names: str) -> Registry:
    """A registry whose sadtalker folder holds files with these names (contents do not matter here)."""
    folder = tmp_path / "ckpt" / "sadtalker"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"\0")
    return Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")


def test_not_installed_names_the_command(tmp_path):
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")
    with pytest.raises(ModelNotInstalled, match="`avatar models pull sadtalker`"):
        SadTalkerEngine(registry).check_ready(TalkOptions())
    choice = {c.name: c for c in engine_choices(registry)}["sadtalker"]
    assert choice.title == "SadTalker" and choice.install_command == "avatar models pull sadtalker"


def test_a_missing_file_is_named_before_any_work(tmp_path):
    registry = registry_with(tmp_path, renderer_file(256), MAPPING_FILES["crop"])
    engine = SadTalkerEngine(registry)
    engine.check_ready(TalkOptions(preprocess="crop", face_size=256))
    with pytest.raises(ModelNotInstalled, match=r"mapping_00109-model\.pth\.tar is missing .*`avatar models pull sadtalker`"):
        engine.check_ready(TalkOptions(preprocess="full", face_size=256))
    with pytest.raises(ModelNotInstalled, match=r"SadTalker_V0\.0\.2_512\.safetensors and mapping_00109"):
        engine.check_ready(TalkOptions(preprocess="full", face_size=512))


@pytest.mark.parametrize("options, message", [
    (TalkOptions(pose_style=46), "pose style must be a whole number from 0 to 45"),
    (TalkOptions(pose_style=-1), "pose style"),
    (TalkOptions(preprocess="resize"), "preprocess mode must be crop or full"),
    (TalkOptions(face_size=384), "face size must be 256 or 512"),
    (TalkOptions(fps=30), "25 frames per second only"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, options, message):
    registry = registry_with(tmp_path, renderer_file(256), *MAPPING_FILES.values())
    with pytest.raises(InputError, match=message):
        SadTalkerEngine(registry).check_ready(options)


def test_paste_back_changes_only_the_crop_box():
    rng = np.random.default_rng(0)
    portrait = rng.integers(0, 256, (300, 240, 3), dtype=np.uint8)
    face = np.full((256, 256, 3), (200, 120, 90), np.uint8)
    box = (40, 60, 181, 203)  # odd sizes on purpose
    frame = paste_back(portrait, face, box)
    outside = np.ones(portrait.shape[:2], bool)
    outside[box[1]:box[3], box[0]:box[2]] = False
    assert np.array_equal(frame[outside], portrait[outside])
    inside = frame[box[1] + 20:box[3] - 20, box[0] + 20:box[2] - 20].astype(float)
    # A flat face blended in: the inside is near-uniform, pulled toward the portrait only at the edges.
    assert inside.std(axis=(0, 1)).max() < 25


def test_crop_videos_keep_the_crop_box_aspect_with_even_sides():
    assert crop_output_size((0, 0, 300, 300), 256) == (256, 256)
    assert crop_output_size((10, 0, 310, 270), 512) == (512, 460)
    assert crop_output_size((0, 0, 301, 150), 256)[1] % 2 == 0


def test_pull_fetches_exactly_the_files_the_port_reads():
    from fnmatch import fnmatch

    from avatar.catalog import get_spec
    from avatar.talk.sadtalker.networks import part_files

    spec = get_spec("sadtalker")
    used = {name for part in spec.parts for name in part_files(part)}
    assert len(used) == 4
    assert all(any(fnmatch(name, pattern) for pattern in spec.allow_patterns) for name in used)
    assert all(any(fnmatch(name, pattern) for name in used) for pattern in spec.allow_patterns)
    for stale in ("epoch_20.pth", "wav2lip.pth", "facevid2vid_00189-model.pth.tar", "auido2exp_00300-model.pth"):
        assert not any(fnmatch(stale, pattern) for pattern in spec.allow_patterns)
