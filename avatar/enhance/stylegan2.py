"""The StyleGAN2 generator GFPGAN decodes with ("clean" variant: plain PyTorch, no custom CUDA kernels).

A 4x4 learned constant is refined and doubled seven times to 512x512. Every layer is a
modulated convolution: a per-sample linear map of that layer's style vector scales the
kernel's input channels, and the kernel is then renormalised per output channel
("demodulation"), so the style sets feature statistics without changing their scale.
Each layer adds a fixed noise image (weighted by a learned strength) and a bias, then
a leaky ReLU. At every resolution a 1x1 modulated convolution without demodulation
turns the features into RGB, added to the bilinearly enlarged RGB of the level below.

GFPGAN gives one style vector per layer (16 of 512) and, after the first convolution of
every level, a spatial feature transform: half of the channels are multiplied by a
`scale` map and shifted by a `shift` map computed from the degraded face
(`avatar.enhance.gfpgan`). Without those maps the network is a plain StyleGAN2.

The noise images are the ones stored in the checkpoint (`noises.noise0..14`), not fresh
random draws: the same face then gives the same output every time, which video needs.
Parameter names follow the published checkpoint.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

SLOPE = 0.2
DEMODULATION_EPS = 1e-8
CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64}  # channel multiplier 2


def doubled(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 enlargement (half-pixel centres), used for features and RGB alike."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class ModulatedConv(nn.Module):
    """A convolution whose kernel is scaled per sample by a style vector (and optionally renormalised).

    The per-sample kernels are applied in one grouped convolution (batch folded into
    channels), so a batch costs one call.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, style_size: int, demodulate: bool, upsample: bool):
        super().__init__()
        self.out_channels, self.kernel = out_channels, kernel
        self.demodulate, self.upsample = demodulate, upsample
        self.modulation = nn.Linear(style_size, in_channels)
        self.weight = nn.Parameter(torch.zeros(1, out_channels, in_channels, kernel, kernel))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[:2]
        weight = self.weight * self.modulation(style).view(batch, 1, channels, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + DEMODULATION_EPS).view(batch, self.out_channels, 1, 1, 1)
        weight = weight.view(batch * self.out_channels, channels, self.kernel, self.kernel)
        if self.upsample:
            x = doubled(x)
        height, width = x.shape[2:]
        out = F.conv2d(x.reshape(1, batch * channels, height, width), weight, padding=self.kernel // 2, groups=batch)
        return out.view(batch, self.out_channels, *out.shape[2:])


class StyleLayer(nn.Module):
    """Modulated 3x3 convolution (x sqrt 2, the gain of the leaky ReLU), + weighted noise, + bias, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, style_size: int, upsample: bool):
        super().__init__()
        self.modulated_conv = ModulatedConv(in_channels, out_channels, 3, style_size, demodulate=True, upsample=upsample)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        out = self.modulated_conv(x, style) * math.sqrt(2)
        out = out + self.weight * noise
        return F.leaky_relu(out + self.bias, SLOPE)


class RGBLayer(nn.Module):
    """1x1 modulated convolution to RGB (no demodulation) + bias, plus the enlarged RGB of the level below."""

    def __init__(self, in_channels: int, style_size: int, upsample: bool):
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv(in_channels, 3, 1, style_size, demodulate=False, upsample=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, below: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if below is not None:
            out = out + (doubled(below) if self.upsample else below)
        return out


class StyleDecoder(nn.Module):
    """StyleGAN2 at 512 px: styles (B, 16, 512) [+ SFT maps] -> RGB (B, 3, 512, 512), roughly in [-1, 1]."""

    def __init__(self, size: int = 512, style_size: int = 512):
        super().__init__()
        self.levels = int(math.log2(size)) - 2  # doublings after 4x4: 7 for 512
        self.layers = 2 * self.levels + 1
        self.styles = 2 * self.levels + 2
        self.constant_input = _Constant(CHANNELS[4])
        self.style_conv1 = StyleLayer(CHANNELS[4], CHANNELS[4], style_size, upsample=False)
        self.to_rgb1 = RGBLayer(CHANNELS[4], style_size, upsample=False)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        channels = CHANNELS[4]
        for level in range(self.levels):
            out_channels = CHANNELS[2 ** (level + 3)]
            self.style_convs.append(StyleLayer(channels, out_channels, style_size, upsample=True))
            self.style_convs.append(StyleLayer(out_channels, out_channels, style_size, upsample=False))
            self.to_rgbs.append(RGBLayer(out_channels, style_size, upsample=True))
            channels = out_channels
        self.noises = nn.Module()
        for index in range(self.layers):
            side = 2 ** ((index + 5) // 2)
            self.noises.register_buffer(f"noise{index}", torch.zeros(1, 1, side, side))

    def noise(self, index: int) -> torch.Tensor:
        return getattr(self.noises, f"noise{index}")

    def forward(self, styles: torch.Tensor, conditions: Sequence[tuple[torch.Tensor, torch.Tensor]] = ()) -> torch.Tensor:
        """`styles` (B, 16, 512); `conditions[level]` = (scale, shift) for levels 8, 16, ... px (fewer levels allowed)."""
        out = self.constant_input.weight.repeat(styles.shape[0], 1, 1, 1)
        out = self.style_conv1(out, styles[:, 0], self.noise(0))
        rgb = self.to_rgb1(out, styles[:, 1])
        for level in range(self.levels):
            first, second = self.style_convs[2 * level], self.style_convs[2 * level + 1]
            out = first(out, styles[:, 2 * level + 1], self.noise(2 * level + 1))
            if level < len(conditions):
                out = spatial_transform(out, *conditions[level])
            out = second(out, styles[:, 2 * level + 2], self.noise(2 * level + 2))
            rgb = self.to_rgbs[level](out, styles[:, 2 * level + 3], rgb)
        return rgb


def spatial_transform(features: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Keep the first half of the channels; multiply the second half by `scale` and add `shift`."""
    half = features.shape[1] // 2
    return torch.cat([features[:, :half], features[:, half:] * scale + shift], dim=1)


class _Constant(nn.Module):
    """The learned 4x4 starting block (a module so its parameter is named `constant_input.weight`)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 4, 4))
