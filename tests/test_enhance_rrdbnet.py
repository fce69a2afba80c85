"""Real-ESRGAN's RRDBNet (x2 and x4) against the original code's numbers (seeded weights).

tests/reference/realesrgan/README.md says how each number was made. The seeded
weights are written as the published files are (`{"params_ema": state_dict}` pickles)
and read back through the project's checkpoint reader, so loading is tested too.
"""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch

from avatar.enhance.checkpoint import load_checked, read_state_dict
from avatar.enhance.rrdbnet import SuperResolutionNet
from avatar.enhance.upscale import BackgroundUpscaler, Tiling, run_tiled
from avatar.errors import InputError
from tests.conftest import PROJECT_DIR
from tests.seeded_weights import reference_arrays, seeded_state_dict

REFERENCE = PROJECT_DIR / "tests" / "reference" / "realesrgan"
TOLERANCE = 1e-4
ADVICE = "use the published file"


reference = partial(reference_arrays, REFERENCE)


def max_error(ours: torch.Tensor, theirs: np.ndarray) -> float:
    ours = ours.detach().float().numpy()
    assert ours.shape == theirs.shape
    return float(np.abs(ours - theirs).max())


@pytest.fixture(scope="module")
def published_keys() -> dict:
    return json.loads((REFERENCE / "keys.json").read_text())


@pytest.fixture(scope="module")
def weight_files(published_keys, tmp_path_factory) -> dict[int, object]:
    folder = tmp_path_factory.mktemp("realesrgan")
    paths = {}
    for scale in (2, 4):
        path = folder / published_keys["files"][f"x{scale}"]
        torch.save({published_keys["container"]: seeded_state_dict(published_keys[f"x{scale}"])}, path)
        paths[scale] = path
    return paths


@pytest.fixture(scope="module")
def networks(weight_files) -> dict[int, SuperResolutionNet]:
    return {scale: load_checked(SuperResolutionNet(scale), read_state_dict(path, ADVICE), f"x{scale}", ADVICE)
            for scale, path in weight_files.items()}


def test_published_layout_is_the_ports(published_keys):
    for scale in (2, 4):
        ours = {key: list(value.shape) for key, value in SuperResolutionNet(scale).state_dict().items()}
        assert ours == published_keys[f"x{scale}"]
    assert published_keys["n_params"]["x4"] == sum(p.numel() for p in SuperResolutionNet(4).parameters())


@pytest.mark.parametrize("scale", [2, 4])
def test_sub_networks_match_the_original(networks, scale):
    ref = reference(f"x{scale}.npz")
    net = networks[scale]
    image = torch.from_numpy(ref["input"])
    with torch.no_grad():
        folded = net.folded(image)
        assert max_error(folded, ref["unshuffled"]) == 0
        features = net.conv_first(folded)
        assert max_error(features, ref["features"]) <= TOLERANCE
        if "rdb0" in ref:
            assert max_error(net.body[0].rdb1(features), ref["rdb0"]) <= TOLERANCE
        assert max_error(net.body[0](features), ref["block0"]) <= TOLERANCE
        assert max_error(net.trunk(features), ref["trunk"]) <= TOLERANCE
        output = net(image)
    assert output.shape[-1] == scale * image.shape[-1]
    assert max_error(output, ref["output"]) <= TOLERANCE


def test_wrong_files_are_refused_in_one_sentence(weight_files, tmp_path, published_keys):
    x4 = read_state_dict(weight_files[4], ADVICE)
    with pytest.raises(InputError, match="conv_first.weight is \\(64, 3, 3, 3\\) where the network has \\(64, 12, 3, 3\\)"):
        load_checked(SuperResolutionNet(2), x4, "x2", ADVICE)
    partial = dict(x4)
    partial.pop("body.22.rdb3.conv5.bias")
    with pytest.raises(InputError, match="missing body.22.rdb3.conv5.bias"):
        load_checked(SuperResolutionNet(4), partial, "x4", ADVICE)
    empty = tmp_path / "empty.pth"
    torch.save({"epoch": 3}, empty)
    with pytest.raises(InputError, match="no params_ema or params"):
        read_state_dict(empty, ADVICE)
    plain = tmp_path / "plain.pth"
    torch.save({"params": x4}, plain)
    assert read_state_dict(plain, ADVICE).keys() == x4.keys()


@pytest.mark.parametrize("case", ["x2_tiled", "x4_tiled", "x2_whole"])
def test_padding_and_tiling_match_the_original(networks, case):
    """Pre-pad, even-side pad (x2), tiles with context, the crops back, and the 8-bit output."""
    ref = reference(f"{case}.npz")
    tiling = Tiling(tile=int(ref["tile"]), tile_pad=int(ref["tile_pad"]), pre_pad=int(ref["pre_pad"]))
    upscaler = BackgroundUpscaler(networks[int(ref["scale"])], tiling)
    image = torch.from_numpy(ref["image"].transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.no_grad():
        raw = run_tiled(upscaler.net, image, tiling)
    assert max_error(raw[0], ref["output_float"]) <= TOLERANCE
    pixels = upscaler.upscale(ref["image"])
    assert pixels.shape == ref["output"].shape
    diff = np.abs(pixels.astype(int) - ref["output"].astype(int))
    near_boundary = np.abs(np.clip(ref["output_float"], 0, 1).transpose(1, 2, 0) * 255 % 1 - 0.5) <= TOLERANCE * 255
    assert diff.max() <= 1 and near_boundary[diff > 0].all()


def test_upscaler_refuses_what_it_cannot_take(networks):
    upscaler = BackgroundUpscaler(networks[2], Tiling(tile=0))
    with pytest.raises(InputError, match="8-bit RGB"):
        upscaler.upscale(np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="at least 2x2"):
        upscaler.upscale(np.zeros((1, 8, 3), np.uint8))
    assert upscaler.upscale(np.full((5, 7, 3), 128, np.uint8), outscale=1).shape == (5, 7, 3)
