"""GFPGAN v1.4 against the original code's numbers, sub-network by sub-network (seeded weights).

tests/reference/gfpgan/README.md says how each number was made. The seeded weights are
written as the published file is (`{"params_ema": state_dict}`, every key of
GFPGANv1.4.pth) and read back through the project's checkpoint reader. The 512 px maps
are compared on the subsample the reference keeps (every array it holds, to 1e-4).
"""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from avatar.enhance.checkpoint import load_checked, read_state_dict
from avatar.enhance.gfpgan import UNUSED_PREFIXES, FaceRestorer
from avatar.enhance.face_align import faces_to_tensor, tensor_to_faces
from avatar.errors import InputError
from tests.conftest import PROJECT_DIR
from tests.seeded_weights import reference_arrays, seeded_state_dict

REFERENCE = PROJECT_DIR / "tests" / "reference" / "gfpgan"
TOLERANCE = 1e-4
ADVICE = "use the published file"


reference = partial(reference_arrays, REFERENCE)


def subsample(t: torch.Tensor) -> np.ndarray:
    """The reference's subsample of a (B, C, H, W) map: at most 16 channels and 16x16 positions, offset by half a step."""
    _, channels, height, _ = t.shape
    cs, ss = max(1, channels // 16), max(1, height // 16)
    return t[:, cs // 2::cs, ss // 2::ss, ss // 2::ss].detach().float().numpy()


def max_error(ours, theirs: np.ndarray) -> float:
    ours = ours.detach().float().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours, np.float32)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    return float(np.abs(ours - theirs).max())


@pytest.fixture(scope="module")
def published_keys() -> dict:
    return json.loads((REFERENCE / "keys.json").read_text())


@pytest.fixture(scope="module")
def weight_file(published_keys, tmp_path_factory):
    path = tmp_path_factory.mktemp("gfpgan") / published_keys["file"]
    torch.save({published_keys["container"]: seeded_state_dict(published_keys["keys"])}, path)
    return path


@pytest.fixture(scope="module")
def restorer(weight_file) -> FaceRestorer:
    return load_checked(FaceRestorer(), read_state_dict(weight_file, ADVICE), "GFPGAN", ADVICE, UNUSED_PREFIXES)


@pytest.fixture(scope="module")
def run(restorer):
    """The port on the reference's two faces (one pass, batch of two, as the reference was made)."""
    ref = reference("network.npz")
    faces = np.stack([reference("align.npz")["crop"], ref["second_face"]])
    x = faces_to_tensor(faces)
    with torch.no_grad():
        first = restorer.conv_body_first(x)
        encoding = restorer.encode(x)
        image = restorer.stylegan_decoder(encoding.styles, encoding.conditions)
    return ref, first, encoding, image


def test_published_layout_is_the_ports(published_keys):
    ours = {key: list(value.shape) for key, value in FaceRestorer().state_dict().items()}
    theirs = {key: shape for key, shape in published_keys["keys"].items() if not key.startswith(UNUSED_PREFIXES)}
    assert ours == theirs
    assert len(published_keys["keys"]) - len(theirs) == 7 * 2 + 8 * 2  # seven RGB heads, eight MLP layers


def test_encoder_matches_the_original(run):
    ref, first, encoding, _ = run
    assert max_error(subsample(first), ref["first"]) <= TOLERANCE
    for index, skip in enumerate(reversed(encoding.skips)):
        assert max_error(subsample(skip), ref[f"down{index}"]) <= TOLERANCE, index
    assert max_error(subsample(encoding.bottom), F.leaky_relu(torch.from_numpy(ref["final_conv"]), 0.2).numpy()) <= TOLERANCE
    assert max_error(encoding.styles.reshape(2, -1), ref["style_code"]) <= TOLERANCE


def test_sft_conditions_match_the_original(run):
    ref, _, encoding, _ = run
    assert len(encoding.conditions) == 7
    for level, (feat, (scale, shift)) in enumerate(zip(encoding.upward, encoding.conditions)):
        assert max_error(subsample(feat), ref[f"up{level}"]) <= TOLERANCE, level
        assert max_error(subsample(scale), ref[f"scale{level}"]) <= TOLERANCE, level
        assert max_error(subsample(shift), ref[f"shift{level}"]) <= TOLERANCE, level


def test_decoder_output_matches_the_original(run):
    ref, _, _, image = run
    assert image.shape == (2, 3, 512, 512)
    assert max_error(image[:, :, 1::4, 1::4], ref["image_sub"]) <= TOLERANCE
    assert max_error(image[:, :, 320:384, 224:288], ref["image_patch"]) <= TOLERANCE
    pixels = tensor_to_faces(image)
    assert pixels.dtype == np.uint8 and pixels.shape == (2, 512, 512, 3)
    diff = np.abs(pixels[:, 1::4, 1::4].astype(int) - ref["restored_sub"].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_plain_decoder_matches_the_original(restorer):
    """The StyleGAN2 decoder alone, without SFT maps, from a given set of styles."""
    ref = reference("decoder.npz")
    with torch.no_grad():
        image = restorer.stylegan_decoder(torch.from_numpy(ref["latent"]))
    assert max_error(image[:, :, 1::4, 1::4], ref["image_sub"]) <= TOLERANCE
    assert max_error(image[:, :, 320:384, 224:288], ref["image_patch"]) <= TOLERANCE


def test_wrong_file_is_refused_in_one_sentence(weight_file, tmp_path):
    weights = read_state_dict(weight_file, ADVICE)
    weights["final_linear.weight"] = weights["final_linear.weight"][:, :100]
    with pytest.raises(InputError, match="final_linear.weight is \\(8192, 100\\)"):
        load_checked(FaceRestorer(), weights, "GFPGAN", ADVICE, UNUSED_PREFIXES)
    weights = read_state_dict(weight_file, ADVICE)
    weights["extra.weight"] = torch.zeros(1)
    with pytest.raises(InputError, match="unexpected key extra.weight"):
        load_checked(FaceRestorer(), weights, "GFPGAN", ADVICE, UNUSED_PREFIXES)
