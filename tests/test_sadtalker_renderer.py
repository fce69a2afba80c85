"""SadTalker's face renderer against the original code's numbers (seeded weights).

tests/reference/sadtalker/renderer/README.md says how each number was made.
The seeded weights are written as the published files lay them out (one
safetensors file with `generator.` and `kp_extractor.` sections, and the two
mapping pickles) and read back through the project's checkpoint reader and
`load_renderer`, so the loading path is tested too.
"""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from avatar.errors import InputError
from avatar.talk.sadtalker import renderer as renderer_module
from avatar.talk.sadtalker.checkpoint import entry, read_checkpoint, section
from avatar.talk.sadtalker.motion import transform_keypoints
from avatar.talk.sadtalker.renderer import (
    FaceRenderer,
    PreparedSource,
    driving_coefficients,
    frames_to_uint8,
    image_to_float,
    load_renderer,
    source_window,
    target_windows,
)
from tests.conftest import PROJECT_DIR
from tests.seeded_weights import reference_arrays, seeded_state_dict

REFERENCE = PROJECT_DIR / "tests" / "reference" / "sadtalker" / "renderer"
TOLERANCE = 1e-4
FILE = "SadTalker_V0.0.2_256.safetensors"
MAPPING_FILES = {"crop": ("mapping_00229-model.pth.tar", 229), "full": ("mapping_00109-model.pth.tar", 109)}
COEFFS = {"crop": 70, "full": 73}


reference = partial(reference_arrays, REFERENCE)


def max_error(ours, theirs) -> float:
    ours = ours.detach().float().cpu().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours, np.float32)
    theirs = np.asarray(theirs, np.float32)
    assert ours.shape == theirs.shape
    return float(np.abs(ours - theirs).max())


def assert_pixels_match(ours: np.ndarray, theirs: np.ndarray, theirs_float: np.ndarray) -> None:
    """uint8 frames equal the original's, except pixels whose float value lies within TOLERANCE of a rounding boundary.

    `theirs_float` is the original's (..., 3, H, W) float output the pixels were rounded from.
    """
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.uint8
    diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    assert diff.max() <= 1
    scaled = np.moveaxis(np.asarray(theirs_float, np.float32), -3, -1) * 255
    distance = np.abs(scaled - np.floor(scaled) - 0.5)
    assert (distance[diff > 0] <= TOLERANCE * 255).all()


@pytest.fixture(scope="module")
def published_keys() -> dict:
    return json.loads((REFERENCE / "keys.json").read_text())


@pytest.fixture(scope="module")
def files(published_keys, tmp_path_factory) -> dict:
    """The seeded weights written as the published files: the safetensors file and the two mapping pickles."""
    folder = tmp_path_factory.mktemp("sadtalker_renderer")
    save_file(seeded_state_dict(published_keys["safetensors"]), str(folder / FILE))
    paths = {"renderer": folder / FILE}
    for mode, (name, epoch) in MAPPING_FILES.items():
        mapping = seeded_state_dict(published_keys[f"mapping_{mode}"], "mapping.")
        torch.save({"mapping": mapping, "discriminator": {}, "optimizer_mapping": {}, "optimizer_discriminator": {},
                    "epoch": epoch}, str(folder / name))
        paths[mode] = folder / name
    return paths


@pytest.fixture(scope="module")
def sections(files) -> dict:
    tensors = read_checkpoint(files["renderer"])
    found = {"generator": section(tensors, "generator", FILE), "kp_extractor": section(tensors, "kp_extractor", FILE)}
    for mode in MAPPING_FILES:
        found[mode] = entry(read_checkpoint(files[mode]), "mapping", files[mode].name)
    return found


@pytest.fixture(scope="module")
def renderers(sections) -> dict[str, FaceRenderer]:
    return {mode: load_renderer(sections["generator"], sections["kp_extractor"], sections[mode], COEFFS[mode])
            for mode in MAPPING_FILES}


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    return reference("inputs.npz")


@pytest.fixture(scope="module")
def prepared_128(renderers, inputs) -> PreparedSource:
    """The crop renderer's job state for the real face crop, read at 128 (skimage resize, as the original)."""
    return renderers["crop"].prepare(inputs["image"], inputs["source"], size=128)


# --- loading -----------------------------------------------------------------------------------------------------


def test_published_keys_are_exactly_the_networks(published_keys, renderers):
    """Every published key is a tensor of the port's networks (before folding) and nothing else."""
    fresh = FaceRenderer.blank(70)
    ours = {f"generator.{k}": list(v.shape) for k, v in fresh.generator.state_dict().items()}
    ours.update({f"kp_extractor.{k}": list(v.shape) for k, v in fresh.kp_extractor.state_dict().items()})
    assert ours == published_keys["safetensors"]
    assert {k: list(v.shape) for k, v in FaceRenderer.blank(73).mapping.state_dict().items()} == published_keys["mapping_full"]


def test_wrong_mapping_file_is_refused(sections):
    with pytest.raises(InputError, match=r"mapping \(70 coefficients\).*first\.0\.weight"):
        load_renderer(sections["generator"], sections["kp_extractor"], sections["full"], 70)
    extra = dict(sections["kp_extractor"], **{"jacobian.weight": torch.zeros(9, 32, 3, 3, 3)})
    with pytest.raises(InputError, match="unexpected key jacobian.weight"):
        load_renderer(sections["generator"], extra, sections["crop"], 70)


# --- coefficient windows -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,preprocess,scale,still", [
    ("crop_plain", "crop", 1.0, False), ("crop_still", "crop", 1.3, True),
    ("full_plain", "full", 0.8, False), ("full_still", "full", 1.0, True),
])
def test_windows_match_get_facerender_data(inputs, name, preprocess, scale, still):
    expected = reference("windows.npz")
    columns = COEFFS[preprocess]
    driving = driving_coefficients(inputs["motion"], inputs["source"], scale, still, preprocess)
    assert driving.shape == (len(inputs["motion"]), columns)
    assert np.array_equal(source_window(inputs["source"][:columns]), expected[name + "_source"])
    frames = expected["frames"]
    ours = np.concatenate([target_windows(driving, range(f, f + 1)) for f in frames])
    assert np.array_equal(ours, expected[name + "_targets"])
    assert np.array_equal(target_windows(driving, range(12, 16)), expected[name + "_targets"][3:7])


def test_driving_coefficients_refuse_wrong_shapes(inputs):
    with pytest.raises(InputError, match="motion coefficients"):
        driving_coefficients(inputs["motion"][:, :64], inputs["source"])
    with pytest.raises(InputError, match="73"):
        driving_coefficients(inputs["motion"], inputs["source"][:70], preprocess="full")


# --- networks ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["crop", "full"])
def test_mapping_net_matches_original(renderers, mode):
    expected = reference("mapping.npz")
    with torch.inference_mode():
        motion = renderers[mode].mapping(torch.from_numpy(expected[f"{mode}_windows"]))
    for key in ("yaw", "pitch", "roll", "t", "exp"):
        assert max_error(getattr(motion, key), expected[f"{mode}_{key}"]) <= TOLERANCE, key


@pytest.mark.parametrize("size", [128, 256])
def test_keypoint_detector_matches_original(renderers, inputs, size):
    """The real face crop, read as the original reads it (img_as_float32, skimage resize to `size`)."""
    image = torch.from_numpy(image_to_float(inputs["image"], size)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        keypoints = renderers["crop"].kp_extractor(image)
    assert max_error(keypoints, reference("keypoints.npz")[f"kp_{size}"]) <= TOLERANCE


def test_keypoints_and_generator_two_frames_match_original(renderers, inputs, prepared_128):
    expected = reference("generator.npz")
    renderer, prepared = renderers["crop"], prepared_128
    assert max_error(prepared.kp_source, expected["kp_source"]) <= TOLERANCE
    windows = target_windows(driving_coefficients(inputs["motion"], inputs["source"]), expected["frames"])
    with torch.inference_mode():
        kp_driving = transform_keypoints(prepared.kp_canonical, renderer.mapping(torch.from_numpy(windows)))
        motion = renderer.generator.dense_motion_network(prepared.volume, prepared.kp_source, kp_driving)
        frames = renderer.generator(prepared.feature, prepared.volume, prepared.kp_source, kp_driving)
    assert max_error(kp_driving, expected["kp_driving"]) <= TOLERANCE
    assert max_error(motion.occlusion, expected["occlusion"]) <= TOLERANCE
    assert max_error(frames, expected["prediction"]) <= TOLERANCE


# --- end to end (make_animation) through the public calls ---------------------------------------------------------


@pytest.fixture
def float_frames(monkeypatch) -> list[torch.Tensor]:
    """The float frames `render` rounds to pixels, caught on their way to `frames_to_uint8`."""
    caught = []

    def spy(frames: torch.Tensor) -> np.ndarray:
        caught.append(frames.clone())
        return frames_to_uint8(frames)

    monkeypatch.setattr(renderer_module, "frames_to_uint8", spy)
    return caught


def test_animation_at_128_matches_make_animation(renderers, inputs, prepared_128, float_frames):
    """Three frames (the original ran them as 2 lanes, padded to 4), crop mode."""
    expected = reference("animation_128.npz")
    driving = driving_coefficients(inputs["motion"][:3], inputs["source"])
    pixels = renderers["crop"].render(prepared_128, target_windows(driving, range(3)))
    assert max_error(float_frames[0], expected["prediction"]) <= TOLERANCE
    assert_pixels_match(pixels, expected["video"], expected["prediction"])


def test_animation_at_256_matches_make_animation(renderers, inputs, float_frames):
    """One frame of a 3-frame 'full' job with expression scale 1.5; the image's own size (256) is the render size."""
    expected = reference("animation_256.npz")
    renderer = renderers["full"]
    driving = driving_coefficients(inputs["motion"][:3], inputs["source"], 1.5, False, "full")
    prepared = renderer.prepare(inputs["image"], inputs["source"])
    assert prepared.size == 256
    pixels = renderer.render(prepared, target_windows(driving, range(1, 2)))
    assert pixels.shape == (1, 256, 256, 3) and pixels.dtype == np.uint8
    assert max_error(float_frames[0][0], expected["prediction"]) <= TOLERANCE
    assert_pixels_match(pixels[0], expected["video"], expected["prediction"])


def test_512_runs_the_same_networks(renderers, inputs):
    """At 512: the keypoints and the encoded feature volume (every later stage is size-free code tested above)."""
    expected = reference("size512.npz")
    prepared = renderers["crop"].prepare(inputs["image"], inputs["source"], size=512)
    assert prepared.size == 512 and prepared.feature.shape == (1, 32, 16, 128, 128)
    assert max_error(prepared.kp_canonical, reference("keypoints.npz")["kp_512"]) <= TOLERANCE
    assert max_error(prepared.kp_source, expected["kp_source"]) <= TOLERANCE
    assert max_error(prepared.feature[0, :, ::5, ::16, ::16], expected["feature"]) <= TOLERANCE


# --- the public calls' checks ------------------------------------------------------------------------------------


def test_prepare_and_render_check_their_inputs(renderers, inputs, prepared_128):
    renderer = renderers["crop"]
    with pytest.raises(InputError, match="multiples of 128"):
        renderer.prepare(inputs["image"], inputs["source"], size=200)
    with pytest.raises(InputError, match="70 source coefficients"):
        renderer.prepare(inputs["image"], inputs["source"][:64])
    with pytest.raises(InputError, match="RGB image"):
        renderer.prepare(inputs["image"][..., 0], inputs["source"])
    with pytest.raises(InputError, match=r"\(frames, 70, 27\)"):
        renderer.render(prepared_128, np.zeros((1, 73, 27), np.float32))
