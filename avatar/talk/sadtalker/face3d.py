"""The portrait's own 3DMM coefficients: 5-point alignment and SadTalker's ResNet-50 reconstruction network.

SadTalker animates a face by changing its 3D morphable model coefficients, so it
first needs the portrait's: the crop (`crop.py`) is aligned to the frame the
network was trained on (Deep3DFaceRecon: eyes, nose tip and mouth corners fitted
to a standard face, scaled so the face is 102 px across and cut to 224 x 224),
and a ResNet-50 predicts 257 numbers: identity 80, expression 64, texture 80,
angles 3, lighting 27, translation 3. SadTalker keeps 73 of them (expression,
angles, translation, and the alignment's scale and shift), which is what the
rest of the pipeline reads.

Alignment: the five points are fitted to the standard face's five 3D points
with a scaled orthographic projection (least squares over x and y, two rows of
a rotation each, scale = mean of their lengths); the image is resized with
Pillow's bicubic filter as the original and cut with zeros outside. Image y
runs down and the fit's y up, hence the flip `y -> H - 1 - y` first.

Published weights: the `face_3drecon.` section of
`SadTalker_V0.0.2_*.safetensors`, or `net_recon` in the older `epoch_20.pth`;
both hold the same keys: `backbone.*` (a torchvision-layout ResNet-50 without
its classifier) and `final_layers.0-6.{weight,bias}` (1x1 convolutions to the
seven coefficient groups). At load the batch norms are folded into the
convolutions and the weights stored channels-last (exact up to float rounding;
on 2 CPU threads one 224 x 224 forward goes from 34 to 31 ms).

Differences from the original: the five points come from dlib's 68 landmarks
mapped onto the crop (see `crop.py`) instead of a second facexlib detection.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from avatar.talk.sadtalker.checkpoint import load_into
from avatar.talk.sadtalker.crop import FaceCrop, check_landmarks

ALIGNED_SIZE = 224
FACE_SCALE = 102.0
"""Pixels the standard face spans after alignment (the original's `rescale_factor`)."""

STANDARD_FACE_5 = np.array([
    [-0.31148657, 0.29036078, 0.13377953],    # left eye centre
    [0.30979887, 0.28972036, 0.13179526],     # right eye centre
    [0.0032534988, -0.046179324, 0.55244243],  # nose tip
    [-0.25216928, -0.38133916, 0.22405732],   # left mouth corner
    [0.2484662, -0.38128236, 0.22235769],     # right mouth corner
], dtype=np.float32)
"""The standard face's five points (float32, y up), taken from SadTalker's `src/config/similarity_Lm3D_all.mat`
(68 points of Deep3DFaceRecon's mean face) as its `load_lm3d` reduces them: eye centres are the means of
points 37/40 and 43/46 (1-based), then nose tip 31 and mouth corners 49 and 55."""

GROUPS = {"id": 80, "exp": 64, "tex": 80, "angle": 3, "gamma": 27, "xy": 2, "z": 1}
"""The reconstruction network's output groups in order (its `final_layers`), 257 numbers in all."""
EXPRESSION = slice(80, 144)
ANGLE = slice(224, 227)
TRANSLATION = slice(254, 257)
SOURCE_SIZE = 73
"""Expression 64, angles 3, translation 3, alignment scale and shift 3: what SadTalker keeps of a portrait."""

BLOCKS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4


class AlignedFace(NamedTuple):
    """The network's input and how it was cut: `image` (3, 224, 224) float32 in 0..1, RGB;
    `trans_params` (5,) float32: source width, height, scale, and the fitted centre (x, y up)."""

    image: np.ndarray
    trans_params: np.ndarray


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand, plus the shortcut (torchvision's ResNet v1.5 layout)."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * EXPANSION
        self.conv1, self.bn1 = conv_bn(cin, width, 1)
        self.conv2, self.bn2 = conv_bn(width, width, 3, stride)
        self.conv3, self.bn3 = conv_bn(width, cout, 1)
        self.downsample = nn.Sequential(*conv_bn(cin, cout, 1, stride)) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu_(self.bn1(self.conv1(x)))
        out = torch.relu_(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return torch.relu_(out)

    def fold_batch_norms(self) -> None:
        for index in (1, 2, 3):
            conv, norm = getattr(self, f"conv{index}"), getattr(self, f"bn{index}")
            if not isinstance(norm, nn.Identity):
                setattr(self, f"conv{index}", fuse_conv_bn_eval(conv, norm))
                setattr(self, f"bn{index}", nn.Identity())
        if self.downsample is not None and not isinstance(self.downsample[1], nn.Identity):
            self.downsample = nn.Sequential(fuse_conv_bn_eval(*self.downsample), nn.Identity())


class ResNet50(nn.Module):
    """ResNet-50 up to its global average pool: (N, 3, H, W) -> (N, 2048, 1, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv_bn(3, 64, 7, 2)
        cin = 64
        for index, (blocks, width) in enumerate(zip(BLOCKS, WIDTHS), start=1):
            stride = 1 if index == 1 else 2
            layer = []
            for block in range(blocks):
                layer.append(Bottleneck(cin, width, stride if block == 0 else 1))
                cin = width * EXPANSION
            setattr(self, f"layer{index}", nn.Sequential(*layer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu_(self.bn1(self.conv1(x)))
        x = nn.functional.max_pool2d(x, 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3), keepdim=True)

    def fold_batch_norms(self) -> None:
        if not isinstance(self.bn1, nn.Identity):
            self.conv1, self.bn1 = fuse_conv_bn_eval(self.conv1, self.bn1), nn.Identity()
        for module in self.modules():
            if isinstance(module, Bottleneck):
                module.fold_batch_norms()


class FaceReconNet(nn.Module):
    """A 224 x 224 aligned face (0..1 RGB) -> its 257 3DMM coefficients (Deep3DFaceRecon's ReconNetWrapper)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = ResNet50()
        self.final_layers = nn.ModuleList(nn.Conv2d(2048, n, 1) for n in GROUPS.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 224, 224) -> (N, 257)."""
        features = self.backbone(x)
        return torch.cat([layer(features) for layer in self.final_layers], dim=1).flatten(1)


def load_face_recon(sd: dict[str, torch.Tensor]) -> FaceReconNet:
    """The network from a `face_3drecon` section or an `epoch_20.pth` `net_recon` dict, checked key by key.

    Batch norms are folded into the convolutions after the check, so the
    returned module's own state dict no longer has the published layout.
    """
    net = load_into(FaceReconNet(), sd, "SadTalker face reconstruction")
    net.backbone.fold_batch_norms()
    return net.to(memory_format=torch.channels_last)


def fit_five_points(points5: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (x, y) and scale of the scaled orthographic projection that best maps the standard face onto `points5`.

    Least squares for u = R1 . X + tx and v = R2 . X + ty over the five points;
    the scale is the mean length of R1 and R2 (they would be equal for a pure
    rotation).
    """
    design = np.concatenate([STANDARD_FACE_5.astype(np.float64), np.ones((5, 1))], axis=1)
    solution = np.linalg.lstsq(design, points5.astype(np.float64), rcond=None)[0]  # (4, 2): one column per axis
    scale = (np.linalg.norm(solution[:3, 0]) + np.linalg.norm(solution[:3, 1])) / 2
    return solution[3], float(scale)


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip, mouth corners (5, 2) from 68 landmarks, in the standard face's order."""
    lm = landmarks68
    return np.stack([lm[[36, 39]].mean(axis=0), lm[[42, 45]].mean(axis=0), lm[30], lm[48], lm[54]])


def align_for_recon(image_rgb: np.ndarray, landmarks68: np.ndarray) -> AlignedFace:
    """The 224 x 224 network input cut from `image_rgb` (H, W, 3 uint8) around its 68 landmarks (y down)."""
    height, width = image_rgb.shape[:2]
    points = check_landmarks(landmarks68).copy()
    points[:, 1] = height - 1 - points[:, 1]  # y up, as the standard face
    centre, fitted = fit_five_points(five_points(points))
    scale = FACE_SCALE / fitted
    # Truncations toward zero, as the original's int32 casts, so the same pixels are cut.
    new_w, new_h = int(width * scale), int(height * scale)
    left = int(new_w / 2 - ALIGNED_SIZE / 2 + (centre[0] - width / 2) * scale)
    top = int(new_h / 2 - ALIGNED_SIZE / 2 + (height / 2 - centre[1]) * scale)
    resized = Image.fromarray(np.ascontiguousarray(image_rgb)).resize((new_w, new_h), resample=Image.BICUBIC)
    cut = np.asarray(resized.crop((left, top, left + ALIGNED_SIZE, top + ALIGNED_SIZE)), dtype=np.float32)
    image = np.ascontiguousarray((cut / 255.0).transpose(2, 0, 1))
    trans_params = np.array([width, height, scale, centre[0], centre[1]], dtype=np.float32)
    return AlignedFace(image=image, trans_params=trans_params)


def source_coefficients(net: FaceReconNet, crop: FaceCrop) -> np.ndarray:
    """The portrait's 73 coefficients (expression, angles, translation, alignment scale and centre), float32."""
    aligned = align_for_recon(crop.image, crop.landmarks)
    parameter = next(net.parameters())
    with torch.inference_mode():
        x = torch.from_numpy(aligned.image)[None].to(parameter.device, parameter.dtype)
        out = net(x)[0].float().cpu().numpy()
    return np.concatenate([out[EXPRESSION], out[ANGLE], out[TRANSLATION], aligned.trans_params[2:]]).astype(np.float32)
