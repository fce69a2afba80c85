"""SadTalker's source-portrait preprocessing against the original's numbers (tests/reference/sadtalker/face3d/).

The seeded weights are written as both published layouts (a safetensors file
with the `face_3drecon.` section, an `epoch_20.pth` pickle holding `net_recon`),
read back through the project's checkpoint code, and run on the same inputs
the original ran on; the crop and alignment are checked pixel for pixel.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from avatar.errors import InputError, NoFaceError
from avatar.talk.sadtalker.checkpoint import entry, read_checkpoint, section
from avatar.talk.sadtalker.crop import crop_face, crop_geometry
from avatar.talk.sadtalker.face3d import (
    SOURCE_SIZE,
    align_for_recon,
    load_face_recon,
    source_coefficients,
)
from tests.seeded_weights import seeded_state_dict

REFERENCE = Path(__file__).parent / "reference" / "sadtalker" / "face3d"
PREFIX = "face_3drecon."
TOLERANCE = 1e-4


def npz(name: str) -> dict[str, np.ndarray]:
    with np.load(REFERENCE / name) as data:
        return dict(data)


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def shapes() -> dict[str, list[int]]:
    keys = json.loads((REFERENCE / "keys.json").read_text())["keys"]
    return {key[len(PREFIX):]: shape for key, shape in keys.items()}


@pytest.fixture(scope="module")
def checkpoints(shapes, tmp_path_factory) -> dict[str, Path]:
    """The seeded weights as the two published files (seeds: crc32 of each key as its file spells it)."""
    folder = tmp_path_factory.mktemp("sadtalker_face3d")
    safetensors = folder / "SadTalker_V0.0.2_256.safetensors"
    save_file({PREFIX + key: value for key, value in seeded_state_dict(shapes, PREFIX).items()}, str(safetensors))
    pickle = folder / "epoch_20.pth"
    torch.save({"net_recon": seeded_state_dict(shapes, "net_recon."), "epoch": 20}, pickle)
    return {"safetensors": safetensors, "pickle": pickle}


def load_net(path: Path):
    checkpoint = read_checkpoint(path)
    if path.suffix == ".safetensors":
        return load_face_recon(section(checkpoint, "face_3drecon", path.name))
    return load_face_recon(entry(checkpoint, "net_recon", path.name))


@pytest.fixture(scope="module")
def nets(checkpoints) -> dict:
    torch.set_num_threads(2)
    return {layout: load_net(path) for layout, path in checkpoints.items()}


@pytest.fixture(scope="module")
def obama(fixtures) -> np.ndarray:
    return read_rgb(fixtures / "obama.jpg")


@pytest.mark.parametrize("layout", ["safetensors", "pickle"])
def test_recon_network_matches_original(nets, layout):
    aligned = npz("align.npz")["image"]
    x = torch.from_numpy(aligned.transpose(2, 0, 1) / np.float32(255))[None]
    with torch.inference_mode():
        out = nets[layout](x)[0].numpy()
    expected = npz("recon.npz")[f"output_{layout}"]
    assert out.shape == (257,)
    assert np.abs(out - expected).max() <= TOLERANCE


def test_alignment_matches_original(obama):
    ref = npz("align.npz")
    aligned = align_for_recon(obama, ref["landmarks"])
    assert aligned.image.shape == (3, 224, 224) and aligned.image.dtype == np.float32
    np.testing.assert_allclose(aligned.trans_params, ref["trans_params"].astype(np.float32), rtol=1e-6)
    # Same Pillow bicubic resize and cut: the pixels are identical.
    assert np.array_equal(np.rint(aligned.image * 255).astype(np.uint8).transpose(1, 2, 0), ref["image"])
    assert np.array_equal(aligned.image, ref["image"].transpose(2, 0, 1) / np.float32(255))


GEOMETRY = json.loads((REFERENCE / "crop_geometry.json").read_text())


@pytest.mark.parametrize("case", sorted(GEOMETRY))
def test_crop_geometry_matches_original(case):
    ref = GEOMETRY[case]
    geometry = crop_geometry(np.array(ref["landmarks"], np.float32), *ref["size"])
    assert list(geometry.resized) == ref["rsize"]
    assert list(geometry.crop) == ref["crop"]
    np.testing.assert_allclose(geometry.quad, ref["quad"], rtol=0, atol=1e-9)
    assert geometry.shrink == (2 if case == "obama_x5" else 1)


@pytest.mark.parametrize("case, fixture, rows, size", [
    ("obama_256", "obama.jpg", None, 256),
    ("obama_512", "obama.jpg", None, 512),
    ("two_people_256", "two_people.jpg", None, 256),
    ("obama_cut_256", "obama.jpg", 400, 256),
])
def test_crop_pixels_match_original(fixtures, case, fixture, rows, size):
    image = read_rgb(fixtures / fixture)[:rows]
    name = fixture if rows is None else "obama_cut"
    crop = crop_face(image, np.array(GEOMETRY[name]["landmarks"], np.float32), size)
    assert crop.image.shape == (size, size, 3) and crop.image.dtype == np.uint8
    assert np.array_equal(crop.image, npz("crop_images.npz")[case])


def test_crop_box_is_where_the_pixels_came_from(obama):
    ref = npz("end_to_end.npz")
    crop = crop_face(obama, ref["landmarks"])
    # An ordinary portrait: the original's paste-back box, ((ox2 - ox1, oy2 - oy1), crop, quad).
    width, height, clx, cly, _, _, lx, ly, rx, ry = ref["crop_info_256"]
    ox1, oy1, ox2, oy2 = clx + int(lx), cly + int(ly), clx + int(rx), cly + int(ry)
    assert crop.box == (ox1, oy1, ox2, oy2) and (ox2 - ox1, oy2 - oy1) == (width, height)
    # A face square running off the bottom: the box stops at the last row that was cut.
    assert crop_face(obama[:400], ref["landmarks"]).box == (ox1, oy1, ox2, 400)
    # A portrait the original scales down first: the box is in the given portrait's pixels.
    big = crop_face(cv2.resize(obama, (910 * 5, 1137 * 5)), ref["landmarks"] * 5 + 2)
    assert big.geometry.shrink == 2
    assert np.abs(np.array(big.box) - np.array(crop.box) * 5).max() <= 5
    assert np.abs(big.image.astype(int) - crop.image).mean() < 4


@pytest.mark.parametrize("size", [256, 512])
def test_source_coefficients_match_original(nets, obama, size):
    ref = npz("end_to_end.npz")
    crop = crop_face(obama, ref["landmarks"], size)
    np.testing.assert_allclose(crop.landmarks, ref[f"crop_landmarks_{size}"], rtol=0, atol=1e-4)
    coefficients = source_coefficients(nets["safetensors"], crop)
    assert coefficients.shape == (SOURCE_SIZE,) and coefficients.dtype == np.float32
    assert np.abs(coefficients - ref[f"coeff_{size}"]).max() <= TOLERANCE


def test_a_wrong_state_dict_is_refused_with_the_key(shapes):
    sd = seeded_state_dict({key: shape for key, shape in shapes.items() if not key.startswith("final_layers.6")})
    with pytest.raises(InputError, match=r"missing final_layers\.6\.weight"):
        load_face_recon(sd)
    sd = seeded_state_dict(shapes)
    sd["backbone.fc.weight"] = torch.zeros(257, 2048)
    with pytest.raises(InputError, match=r"unexpected key backbone\.fc\.weight"):
        load_face_recon(sd)


def test_a_file_without_the_section_is_refused(tmp_path):
    path = tmp_path / "SadTalker_V0.0.2_256.safetensors"
    save_file({"generator.first.weight": torch.zeros(2)}, str(path))
    with pytest.raises(InputError, match="holds no face_3drecon weights"):
        section(read_checkpoint(path), "face_3drecon", path.name)


def test_unusable_landmarks_are_refused(obama):
    with pytest.raises(NoFaceError, match="68 face landmarks"):
        crop_face(obama, np.zeros((5, 2), np.float32))
    with pytest.raises(NoFaceError, match="68 face landmarks"):
        crop_face(obama, np.full((68, 2), np.nan, np.float32))
    with pytest.raises(NoFaceError, match="collapse to a point"):
        crop_face(obama, np.full((68, 2), 100, np.float32))
    far_away = npz("end_to_end.npz")["landmarks"] + 5000
    with pytest.raises(NoFaceError, match="larger face that lies inside the picture"):
        crop_face(obama, far_away)
    with pytest.raises(InputError, match="RGB portrait"):
        crop_face(obama[..., 0], npz("end_to_end.npz")["landmarks"])
