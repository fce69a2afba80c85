"""The super-resolution network of Real-ESRGAN (RRDBNet), as its published x2 and x4 checkpoints lay it out.

Shape of the network (parameter names follow the published files so they load as they are):

- `conv_first`: 3x3 convolution to 64 features. The x2 model first folds every 2x2 pixel
  block into channels (pixel unshuffle: 3 -> 12 channels at half size), so both models run
  their trunk at a resolution where two nearest-neighbour doublings give the wanted scale.
- `body`: 23 residual-in-residual blocks. Each holds three densely connected blocks of five
  convolutions (every convolution sees the block input and all earlier outputs, growing by
  32 channels); each dense block and each group of three adds 0.2 x its result to its input,
  which keeps a deep trunk of untrained-scale additions stable.
- `conv_body` closes the trunk, whose result is added to `conv_first`'s output.
- two rounds of (nearest x2, 3x3 convolution, leaky ReLU 0.2), then `conv_hr` + leaky ReLU
  and `conv_last` back to 3 channels: an RGB image in [0, 1] (not clamped here).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SLOPE = 0.2  # leaky ReLU slope throughout
RESIDUAL_SCALE = 0.2


class DenseBlock(nn.Module):
    """Five 3x3 convolutions, each fed the block input and every earlier output; 0.2 x result is added back."""

    def __init__(self, features: int = 64, growth: int = 32):
        super().__init__()
        for index in range(1, 5):
            setattr(self, f"conv{index}", nn.Conv2d(features + (index - 1) * growth, growth, 3, 1, 1))
        self.conv5 = nn.Conv2d(features + 4 * growth, features, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            seen.append(F.leaky_relu(conv(torch.cat(seen, 1)), SLOPE))
        return x + RESIDUAL_SCALE * self.conv5(torch.cat(seen, 1))


class ResidualInResidualBlock(nn.Module):
    """Three dense blocks in a row, 0.2 x their result added to the input."""

    def __init__(self, features: int = 64, growth: int = 32):
        super().__init__()
        self.rdb1 = DenseBlock(features, growth)
        self.rdb2 = DenseBlock(features, growth)
        self.rdb3 = DenseBlock(features, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.rdb3(self.rdb2(self.rdb1(x)))


class SuperResolutionNet(nn.Module):
    """RRDBNet for scale 2 or 4: (B, 3, H, W) in [0, 1] -> (B, 3, scale*H, scale*W).

    For scale 2, H and W must be even (the caller pads; see `avatar.enhance.upscale`).
    """

    def __init__(self, scale: int = 4, features: int = 64, blocks: int = 23, growth: int = 32):
        super().__init__()
        if scale not in (2, 4):
            raise ValueError(f"scale must be 2 or 4, not {scale}")
        self.scale = scale
        self.fold = 4 // scale  # pixel-unshuffle factor: 2 for x2, 1 (none) for x4
        self.conv_first = nn.Conv2d(3 * self.fold**2, features, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualInResidualBlock(features, growth) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_hr = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_last = nn.Conv2d(features, 3, 3, 1, 1)

    def folded(self, image: torch.Tensor) -> torch.Tensor:
        """The input as the first convolution sees it (pixel-unshuffled for x2)."""
        return F.pixel_unshuffle(image, self.fold) if self.fold > 1 else image

    def trunk(self, features: torch.Tensor) -> torch.Tensor:
        """`conv_first`'s output plus the residual trunk's result."""
        return features + self.conv_body(self.body(features))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.trunk(self.conv_first(self.folded(image)))
        x = F.leaky_relu(self.conv_up1(F.interpolate(x, scale_factor=2, mode="nearest")), SLOPE)
        x = F.leaky_relu(self.conv_up2(F.interpolate(x, scale_factor=2, mode="nearest")), SLOPE)
        return self.conv_last(F.leaky_relu(self.conv_hr(x), SLOPE))
