"""The enhancement API the talk, dub and video tools call, on seeded weights.

Parity of the networks is proven in test_enhance_gfpgan.py / test_enhance_rrdbnet.py;
here: models come through the registry (import, refusal of a wrong file, the missing-model
sentence before any work), frames are aligned, enhanced and pasted back, faces are
batched, a frame without a face passes through and is reported, results repeat exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from avatar.enhance import BackgroundUpscaler, FaceEnhancer, Tiling, check_installed
from avatar.enhance.checkpoint import load_checked
from avatar.enhance.face_align import feather_mask, align_face, five_points
from avatar.enhance.gfpgan import UNUSED_PREFIXES, FaceRestorer
from avatar.enhance.rrdbnet import SuperResolutionNet
from avatar.errors import InputError, ModelNotInstalled
from avatar.models.devices import DevicePolicy
from avatar.models.registry import Registry
from tests.conftest import FIXTURES, PROJECT_DIR
from tests.seeded_weights import seeded_state_dict

CPU = DevicePolicy("cpu", torch.float32, 0, 8 * 1024**3)
REFERENCE = PROJECT_DIR / "tests" / "reference"


def keys(name: str) -> dict:
    return json.loads((REFERENCE / name / "keys.json").read_text())


def never_load(*args, **kwargs):
    raise AssertionError("nothing may be loaded when a model is missing")


@pytest.fixture(scope="module")
def restorer() -> FaceRestorer:
    weights = seeded_state_dict(keys("gfpgan")["keys"])
    return load_checked(FaceRestorer(), weights, "GFPGAN", "advice", UNUSED_PREFIXES)


@pytest.fixture(scope="module")
def portrait() -> tuple[np.ndarray, np.ndarray]:
    """A 200x200 frame around the face of obama_small.jpg and its 68 landmarks there."""
    frame = np.asarray(Image.open(FIXTURES / "obama_small.jpg").convert("RGB"))[40:240, 60:260].copy()
    with np.load(REFERENCE / "gfpgan" / "align.npz") as data:
        landmarks = data["landmarks68"] - np.array([60, 40], np.float32)
    return frame, landmarks


def test_missing_models_are_named_with_their_install_command_before_any_work(tmp_path):
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub", loader=never_load)
    with pytest.raises(ModelNotInstalled, match=r"`avatar models import gfpgan-1\.4 PATH`") as error:
        check_installed(registry=registry)
    assert str(error.value).count(".") >= 1 and "\n" not in str(error.value)
    with pytest.raises(ModelNotInstalled, match="gfpgan-1.4"):
        with FaceEnhancer.from_registry(background_scale=4, registry=registry):
            pass
    with pytest.raises(InputError, match="2x or 4x"):
        check_installed(background_scale=3, registry=registry)


def test_upscalers_are_imported_checked_and_built_through_the_registry(tmp_path):
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")
    published = keys("realesrgan")
    x2 = tmp_path / "RealESRGAN_x2plus.pth"
    torch.save({"params_ema": seeded_state_dict(published["x2"])}, x2)
    x4_as_x2 = tmp_path / "x4.pth"
    torch.save({"params_ema": seeded_state_dict(published["x4"])}, x4_as_x2)
    registry.import_model("realesrgan-x2", x2)
    placeholder = tmp_path / "face.pth"
    torch.save({"params_ema": {}}, placeholder)  # only its presence is checked here
    registry.import_model("gfpgan-1.4", placeholder)
    check_installed(background_scale=2, registry=registry)
    with pytest.raises(ModelNotInstalled, match=r"`avatar models import realesrgan-x4 PATH`"):
        check_installed(background_scale=4, registry=registry)
    with registry.use("realesrgan-x2") as net:
        assert isinstance(net, SuperResolutionNet) and net.scale == 2 and not net.training
    from avatar.enhance.models import load_upscaler_net

    with pytest.raises(InputError, match=r"conv_first.weight is \(64, 3, 3, 3\).*avatar models import realesrgan-x2 PATH"):
        load_upscaler_net(x4_as_x2, 2)


def test_a_frame_is_enhanced_inside_the_face_and_left_alone_outside(restorer, portrait):
    frame, landmarks = portrait
    enhancer = FaceEnhancer(restorer, batch_size=2)
    no_face = np.asarray(Image.open(FIXTURES / "no_face.png").convert("RGB"))[:120, :160].copy()
    result = enhancer.enhance_frames([frame, no_face, frame], [landmarks, None, landmarks])
    assert result.face_found == [True, False, True] and result.faces_lost == [1]
    assert np.array_equal(result.frames[1], no_face)  # passed through unchanged
    out = result.frames[0]
    assert out.shape == frame.shape and out.dtype == np.uint8
    mask = feather_mask(align_face(frame, five_points(landmarks)).affine, (frame.shape[1], frame.shape[0]))
    assert np.array_equal(out[mask == 0], frame[mask == 0])
    inside = mask > 0.99
    assert inside.mean() > 0.2 and np.abs(out[inside].astype(int) - frame[inside]).mean() > 5
    # the same frame in the same batch, and again on its own: the same face (fixed noise, no randomness)
    assert np.abs(result.frames[2].astype(int) - out).max() <= 1
    assert np.abs(enhancer.enhance(frame, landmarks).astype(int) - out).max() <= 1


def test_background_is_upscaled_and_the_face_pasted_at_the_output_scale(restorer, portrait):
    frame, landmarks = portrait
    published = keys("realesrgan")
    net = load_checked(SuperResolutionNet(2), seeded_state_dict(published["x2"]), "x2", "advice")
    upscaler = BackgroundUpscaler(net, Tiling(tile=96, tile_pad=8, pre_pad=4))
    enhancer = FaceEnhancer(restorer, background=upscaler, scale=2)
    out = enhancer.enhance(frame, landmarks)
    assert out.shape == (400, 400, 3)
    background = upscaler.upscale(frame)
    mask = feather_mask(align_face(frame, five_points(landmarks)).affine, (400, 400), scale=2)
    assert np.array_equal(out[mask == 0], background[mask == 0])
    assert not np.array_equal(out[mask > 0.99], background[mask > 0.99])


def test_bad_frames_and_landmarks_are_refused_in_one_sentence(restorer, portrait):
    frame, landmarks = portrait
    enhancer = FaceEnhancer(restorer)
    with pytest.raises(InputError, match="8-bit RGB"):
        enhancer.enhance(frame.astype(np.float32), landmarks)
    with pytest.raises(InputError, match="68 finite"):
        enhancer.enhance(frame, landmarks[:5])
    with pytest.raises(InputError, match="2 frames but 1 sets"):
        enhancer.enhance_frames([frame, frame], [landmarks])
    with pytest.raises(InputError, match="512x512"):
        enhancer.restore_faces(frame[None])


def test_from_registry_yields_an_enhancer_on_the_installed_models(tmp_path, portrait):
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")
    face_file, x2_file = tmp_path / "GFPGANv1.4.pth", tmp_path / "RealESRGAN_x2plus.pth"
    torch.save({"params_ema": seeded_state_dict(keys("gfpgan")["keys"])}, face_file)
    torch.save({"params_ema": seeded_state_dict(keys("realesrgan")["x2"])}, x2_file)
    registry.import_model("gfpgan-1.4", face_file)
    registry.import_model("realesrgan-x2", x2_file)
    with FaceEnhancer.from_registry(background_scale=2, registry=registry, tiling=Tiling(tile=0)) as enhancer:
        assert isinstance(enhancer.restorer, FaceRestorer) and enhancer.background.scale == 2
        assert not any(p.requires_grad for p in enhancer.restorer.parameters())
        frame = np.full((24, 32, 3), 90, np.uint8)  # no face: only the background is treated
        result = enhancer.enhance_frames([frame])
        assert result.faces_lost == [0] and result.frames[0].shape == frame.shape
