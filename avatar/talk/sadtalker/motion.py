"""How SadTalker turns 3DMM coefficients into motion: head pose and keypoints, then a dense 3D flow.

1. `MappingNet` reads a 27-frame window of coefficients (70 = expression +
   pose, or 73 with the crop's place for the 'full' mode) and predicts the head
   pose as 66-bin distributions over yaw, pitch and roll, a translation and a
   per-keypoint expression offset. This replaces face-vid2vid's head-pose
   estimator: SadTalker never runs one at inference.
2. `transform_keypoints` poses the portrait's 15 canonical 3D keypoints with
   them: each bin distribution's expected value becomes degrees (3 per bin from
   -99), the keypoints are rotated, moved vertically only (the original zeroes
   the x and z translation), and offset by the expression.
3. `DenseMotion` turns the source and driving keypoints into a flow over the
   source's 3D feature volume: every keypoint proposes "move like me" (a
   translation), a 3D hourglass weighs the proposals per voxel, and a second
   head says where the source has no information (the occlusion map).

The original's arithmetic is kept where it shapes the numbers: degrees go to
radians with 3.14 (not pi), the rotation is pitch @ yaw @ roll with the
original's axis assignment, and grid sampling uses align_corners=False over a
grid made with align_corners=True spacing, as the original does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from avatar.talk.sadtalker.render_blocks import BN_EPS, CHANNELS_LAST_3D, Hourglass3d

BINS = 66
KEYPOINTS = 15
WINDOW = 27
"""Frames per coefficient window (the original's semantic radius 13 on each side)."""
KP_VARIANCE = 0.01
MASK_FLOOR = 1e-3
"""Proposal weights below this are dropped, as the original does."""


@dataclass
class HeadMotion:
    """MappingNet's prediction for B windows: (B, 66) bin logits per angle, (B, 3) translation, (B, 45) expression."""

    yaw: torch.Tensor
    pitch: torch.Tensor
    roll: torch.Tensor
    t: torch.Tensor
    exp: torch.Tensor


class MappingNet(nn.Module):
    """(B, C, 27) coefficient windows -> head motion. Keys `first.0`, `encoder{0,1,2}.1`, `fc_{yaw,pitch,roll,t,exp}`.

    A 7-tap convolution, then three dilated 3-tap convolutions each with a
    residual from the centre of its input; the 3 positions left are averaged.
    """

    def __init__(self, coeff_nc: int, width: int = 1024, layers: int = 3) -> None:
        super().__init__()
        self.first = nn.Sequential(nn.Conv1d(coeff_nc, width, 7))
        self.layers = layers
        for i in range(layers):
            setattr(self, f"encoder{i}", nn.Sequential(nn.LeakyReLU(0.1), nn.Conv1d(width, width, 3, dilation=3)))
        self.fc_roll = nn.Linear(width, BINS)
        self.fc_pitch = nn.Linear(width, BINS)
        self.fc_yaw = nn.Linear(width, BINS)
        self.fc_t = nn.Linear(width, 3)
        self.fc_exp = nn.Linear(width, 3 * KEYPOINTS)
        self.coeff_nc = coeff_nc

    def forward(self, windows: torch.Tensor) -> HeadMotion:
        out = self.first(windows)
        for i in range(self.layers):
            out = getattr(self, f"encoder{i}")(out) + out[:, :, 3:-3]
        out = out.mean(dim=2)
        return HeadMotion(yaw=self.fc_yaw(out), pitch=self.fc_pitch(out), roll=self.fc_roll(out),
                          t=self.fc_t(out), exp=self.fc_exp(out))


def bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """(B, 66) bin logits -> (B,) degrees: the expected bin under the softmax, 3 degrees a bin from -99."""
    index = torch.arange(BINS, dtype=logits.dtype, device=logits.device)
    return torch.sum(F.softmax(logits, dim=1) * index, 1) * 3 - 99


def rotation_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B,) degrees each -> (B, 3, 3) = P @ Y @ R (P about x with `pitch`, Y about y with `yaw`, R about z with `roll`)."""
    pitch, yaw, roll = (angle / 180 * 3.14 for angle in (pitch, yaw, roll))
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)

    def matrix(*rows: torch.Tensor) -> torch.Tensor:
        return torch.stack(rows, dim=1).reshape(-1, 3, 3)

    p = matrix(one, zero, zero, zero, pitch.cos(), -pitch.sin(), zero, pitch.sin(), pitch.cos())
    y = matrix(yaw.cos(), zero, yaw.sin(), zero, one, zero, -yaw.sin(), zero, yaw.cos())
    r = matrix(roll.cos(), -roll.sin(), zero, roll.sin(), roll.cos(), zero, zero, zero, one)
    return p @ y @ r


def transform_keypoints(canonical: torch.Tensor, motion: HeadMotion) -> torch.Tensor:
    """(1 or B, 15, 3) canonical keypoints posed by `motion` -> (B, 15, 3).

    kp = R kp_c + (0, t_y, 0) + exp: the original zeroes the x and z translation.
    """
    rotation = rotation_matrix(bins_to_degrees(motion.yaw), bins_to_degrees(motion.pitch), bins_to_degrees(motion.roll))
    rotated = torch.einsum("bmp,bkp->bkm", rotation, canonical.expand(len(rotation), -1, -1))
    shift = torch.zeros_like(motion.t)
    shift[:, 1] = motion.t[:, 1]
    return rotated + shift[:, None, :] + motion.exp.reshape(len(rotation), -1, 3)


def coordinate_grid(depth: int, height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(D, H, W, 3) voxel centres as (x, y, z), each axis spanning [-1, 1] end to end."""

    def axis(n: int) -> torch.Tensor:
        return 2 * (torch.arange(n, dtype=dtype, device=device) / (n - 1)) - 1

    z, y, x = torch.meshgrid(axis(depth), axis(height), axis(width), indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def keypoint_gaussians(keypoints: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(B, K, 3) keypoints on a (D, H, W, 3) grid -> (B, K, D, H, W) unnormalised Gaussians (variance 0.01)."""
    offset = grid[None, None] - keypoints[:, :, None, None, None, :]
    return torch.exp(-0.5 * (offset ** 2).sum(-1) / KP_VARIANCE)


@dataclass
class MotionField:
    """Where each voxel of the driving frame comes from in the source volume, and how much of it the source can tell.

    deformation: (B, D, H, W, 3) sampling positions (x, y, z in [-1, 1]) in the source volume.
    occlusion: (B, 1, H, W) in 0..1, 0 where the source holds no information.
    """

    deformation: torch.Tensor
    occlusion: torch.Tensor


class DenseMotion(nn.Module):
    """Source and driving keypoints -> a dense flow and occlusion map over the source feature volume.

    Keys `compress`, `norm` (the volume squeezed to 4 channels), `hourglass.*`,
    `mask` (one weight map per proposal: background + 15 keypoints),
    `occlusion`. The compressed source volume depends on the portrait only,
    so `source_volume` runs once per job and `forward` once per frame batch.
    """

    def __init__(self, feature_channels: int = 32, depth: int = 16, compress: int = 4,
                 base: int = 32, blocks: int = 5, cap: int = 1024) -> None:
        super().__init__()
        proposals = KEYPOINTS + 1
        self.hourglass = Hourglass3d(base, proposals * (compress + 1), blocks, cap)
        self.mask = nn.Conv3d(self.hourglass.out_channels, proposals, 7, padding=3)
        self.compress = nn.Conv3d(feature_channels, compress, 1)
        self.norm = nn.BatchNorm3d(compress, eps=BN_EPS)
        self.occlusion = nn.Conv2d(self.hourglass.out_channels * depth, 1, 7, padding=3)

    def source_volume(self, feature: torch.Tensor) -> torch.Tensor:
        """(1, 32, D, H, W) source features -> (1, 4, D, H, W) compressed features, the volume proposals move."""
        return F.relu(self.norm(self.compress(feature)))

    def forward(self, volume: torch.Tensor, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> MotionField:
        """volume (1, 4, D, H, W) from `source_volume`; keypoints (1, 15, 3) and (B, 15, 3)."""
        batch = len(kp_driving)
        _, channels, depth, height, width = volume.shape
        grid = coordinate_grid(depth, height, width, volume.dtype, volume.device)
        kp_source, kp_driving = kp_source.to(volume.dtype), kp_driving.to(volume.dtype)

        # Proposals: the identity (background), then per keypoint the translation taking it from driving to source.
        moved = grid[None, None] - kp_driving[:, :, None, None, None, :] + kp_source[:, :, None, None, None, :]
        proposals = torch.cat([grid.expand(batch, 1, -1, -1, -1, -1), moved], dim=1)  # (B, 16, D, H, W, 3)

        # Sample the one source volume at every proposal of every frame in one call (the proposals stacked along depth).
        count = proposals.shape[1]
        sampled = F.grid_sample(volume, proposals.reshape(1, batch * count * depth, height, width, 3),
                                align_corners=False)
        sampled = sampled.reshape(channels, batch, count, depth, height, width).permute(1, 2, 0, 3, 4, 5)

        heat = keypoint_gaussians(kp_driving, grid) - keypoint_gaussians(kp_source, grid)
        heat = torch.cat([heat.new_zeros(batch, 1, depth, height, width), heat], dim=1)
        features = torch.cat([heat[:, :, None], sampled], dim=2).reshape(batch, -1, depth, height, width)

        prediction = self.hourglass(features.contiguous(memory_format=CHANNELS_LAST_3D)).contiguous()
        weights = F.softmax(self.mask(prediction), dim=1)
        weights = torch.where(weights < MASK_FLOOR, torch.zeros_like(weights), weights)
        deformation = torch.einsum("bkdhwc,bkdhw->bdhwc", proposals, weights)
        occlusion = torch.sigmoid(self.occlusion(prediction.reshape(batch, -1, height, width)))
        return MotionField(deformation=deformation, occlusion=occlusion)
