"""GFPGAN v1.4 ("clean" architecture): a U-Net reads the degraded face, a StyleGAN2 decoder redraws it.

The face arrives aligned to the FFHQ layout at 512x512 (`avatar.enhance.face_align`),
as RGB scaled to [-1, 1]. The encoder halves it seven times with residual blocks
(bilinear resampling) down to 4x4x256; a linear layer turns that into 16 style
vectors, one per decoder layer. The U-Net's upward path doubles back to 512, adding
the encoder's feature map of the same size at each level, and from each level two
small convolution stacks make the `scale` and `shift` maps that steer half of the
decoder's channels (spatial feature transform): the decoder supplies a plausible face,
the maps keep it this person's face, in this pose.

Parameter names follow the published `GFPGANv1.4.pth`; its `toRGB.*` heads (images
at every level, used in training) and the decoder's style MLP (unused: the encoder
gives the styles directly) are read and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from avatar.enhance.stylegan2 import SLOPE, StyleDecoder

SIZE = 512
STYLE = 512
STYLES = 16  # one style vector per decoder layer: 2 per level (4 .. 512 px) minus 2
ENCODER_CHANNELS = {512: 32, 256: 64, 128: 128, 64: 256, 32: 256, 16: 256, 8: 256, 4: 256}
UNUSED_PREFIXES = ("toRGB.", "stylegan_decoder.style_mlp.")


class ResampleBlock(nn.Module):
    """Residual block that halves or doubles the size: conv, resize, conv (leaky ReLUs), plus a resized 1x1 skip."""

    def __init__(self, in_channels: int, out_channels: int, factor: float):
        super().__init__()
        self.factor = factor
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.conv2(self.resize(F.leaky_relu(self.conv1(x), SLOPE))), SLOPE)
        return out + self.skip(self.resize(x))


def condition_stack(channels: int) -> nn.Sequential:
    """conv 3x3, leaky ReLU, conv 3x3: one SFT map (indices 0 and 2, as the checkpoint names them)."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(SLOPE), nn.Conv2d(channels, channels, 3, 1, 1))


@dataclass
class Encoding:
    """What the U-Net makes of a face: the decoder's styles and the SFT maps, level by level (8 .. 512 px)."""

    styles: torch.Tensor  # (B, 16, 512)
    conditions: list[tuple[torch.Tensor, torch.Tensor]]  # (scale, shift) per level
    skips: list[torch.Tensor]  # the encoder's feature maps, 4 px up to 256 px (the order they are added back)
    bottom: torch.Tensor  # the 4x4 features after the last convolution
    upward: list[torch.Tensor]  # the upward path's feature maps, 8 .. 512 px


class FaceRestorer(nn.Module):
    """GFPGAN v1.4: (B, 3, 512, 512) RGB in [-1, 1] -> the restored face, same shape, roughly in [-1, 1]."""

    def __init__(self):
        super().__init__()
        sizes = [2**i for i in range(9, 1, -1)]  # 512 .. 4
        self.conv_body_first = nn.Conv2d(3, ENCODER_CHANNELS[SIZE], 1)
        self.conv_body_down = nn.ModuleList(
            ResampleBlock(ENCODER_CHANNELS[a], ENCODER_CHANNELS[b], 0.5) for a, b in zip(sizes, sizes[1:]))
        self.final_conv = nn.Conv2d(ENCODER_CHANNELS[4], ENCODER_CHANNELS[4], 3, 1, 1)
        up = sizes[::-1]  # 4 .. 512
        self.conv_body_up = nn.ModuleList(
            ResampleBlock(ENCODER_CHANNELS[a], ENCODER_CHANNELS[b], 2) for a, b in zip(up, up[1:]))
        self.final_linear = nn.Linear(ENCODER_CHANNELS[4] * 16, STYLES * STYLE)
        self.stylegan_decoder = StyleDecoder(SIZE, STYLE)
        self.condition_scale = nn.ModuleList(condition_stack(ENCODER_CHANNELS[s]) for s in up[1:])
        self.condition_shift = nn.ModuleList(condition_stack(ENCODER_CHANNELS[s]) for s in up[1:])

    def encode(self, faces: torch.Tensor) -> Encoding:
        """The encoder and the U-Net's upward path: styles and SFT maps for the decoder."""
        feat = F.leaky_relu(self.conv_body_first(faces), SLOPE)
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = F.leaky_relu(self.final_conv(feat), SLOPE)
        bottom = feat
        styles = self.final_linear(feat.reshape(feat.shape[0], -1)).view(feat.shape[0], -1, STYLE)
        conditions, upward = [], []
        for skip, block, scale, shift in zip(skips, self.conv_body_up, self.condition_scale, self.condition_shift):
            feat = block(feat + skip)
            upward.append(feat)
            conditions.append((scale(feat), shift(feat)))
        return Encoding(styles=styles, conditions=conditions, skips=skips, bottom=bottom, upward=upward)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        encoding = self.encode(faces)
        return self.stylegan_decoder(encoding.styles, encoding.conditions)
