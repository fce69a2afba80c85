"""Upscaling whole images with Real-ESRGAN, in tiles so a big frame fits in memory.

The steps, and why:

1. Pad the right and bottom edges by `pre_pad` pixels (mirror padding): the network's
   outermost output pixels are unreliable, so the pad absorbs them and is cut off again.
2. For the x2 network, pad (mirror) to even sides: it folds 2x2 blocks into channels.
3. Cut the image into `tile` x `tile` squares, run each with `tile_pad` pixels of its
   neighbours around it (less at the image border), and keep only the square's own part
   of the result. Results match a single pass up to the context the tile pad gives.
4. Cut the pads off (scaled), clamp to [0, 1] and round to 8 bits; optionally resize
   (Lanczos) to another output scale, e.g. back to the input size for a sharper frame.

These follow the published Real-ESRGAN inference, so the port can be checked against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from avatar.enhance.rrdbnet import SuperResolutionNet
from avatar.errors import InputError


@dataclass(frozen=True)
class Tiling:
    """How a big image is cut up: `tile` 0 = one pass; `tile_pad` = context around each tile; `pre_pad` = edge pad."""

    tile: int = 256
    tile_pad: int = 10
    pre_pad: int = 10


def _mirror_pad(image: torch.Tensor, right: int, bottom: int) -> torch.Tensor:
    """Mirror-pad the right and bottom edges (a pad may not exceed the side minus one, as mirroring needs)."""
    if right == 0 and bottom == 0:
        return image
    return F.pad(image, (0, right, 0, bottom), mode="reflect")


def run_tiled(net: SuperResolutionNet, image: torch.Tensor, tiling: Tiling) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1] -> (1, 3, s*H, s*W), unclamped, with the padding and tiling of the module docstring."""
    scale = net.scale
    _, _, height, width = image.shape
    pre = min(tiling.pre_pad, height - 1, width - 1)
    padded = _mirror_pad(image, pre, pre)
    extra_h, extra_w = (padded.shape[2] % 2, padded.shape[3] % 2) if net.fold > 1 else (0, 0)
    padded = _mirror_pad(padded, extra_w, extra_h)
    if tiling.tile <= 0:
        output = net(padded)
    else:
        output = _tiles(net, padded, tiling.tile, tiling.tile_pad)
    return output[:, :, : scale * height, : scale * width]


def _tiles(net: SuperResolutionNet, image: torch.Tensor, tile: int, context: int) -> torch.Tensor:
    scale = net.scale
    _, channels, height, width = image.shape
    output = image.new_zeros((1, channels, scale * height, scale * width))
    for row in range(math.ceil(height / tile)):
        for column in range(math.ceil(width / tile)):
            y0, x0 = row * tile, column * tile
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            cy0, cx0 = max(y0 - context, 0), max(x0 - context, 0)
            cy1, cx1 = min(y1 + context, height), min(x1 + context, width)
            result = net(image[:, :, cy0:cy1, cx0:cx1])
            top, left = scale * (y0 - cy0), scale * (x0 - cx0)
            output[:, :, scale * y0: scale * y1, scale * x0: scale * x1] = \
                result[:, :, top: top + scale * (y1 - y0), left: left + scale * (x1 - x0)]
    return output


def to_uint8(output: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float -> (H, W, 3) uint8: clamp to [0, 1], scale and round."""
    pixels = output[0].float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
    return (pixels * 255.0).round().astype(np.uint8)


class BackgroundUpscaler:
    """Real-ESRGAN x2 or x4 on whole RGB images, tiled; `upscale(image)` is what callers use.

    On CUDA with `half=True` the network runs in float16 (about half the memory and
    time; the result differs from float32 only in the last bits of each pixel).
    """

    def __init__(self, net: SuperResolutionNet, tiling: Tiling = Tiling(), device: str = "cpu", half: bool = False):
        self.tiling = tiling
        self.device = device
        self.dtype = torch.float16 if half and device.startswith("cuda") else torch.float32
        self.net = net.to(device=device, dtype=self.dtype).eval().requires_grad_(False)

    @property
    def scale(self) -> int:
        return self.net.scale

    @torch.no_grad()
    def upscale(self, image: np.ndarray, outscale: Optional[float] = None) -> np.ndarray:
        """An (H, W, 3) uint8 RGB image -> upscaled uint8 RGB, `scale` times larger or `outscale` times if given."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"Upscaling takes an 8-bit RGB image (H, W, 3); this one is {image.dtype} {image.shape}.")
        height, width = image.shape[:2]
        if min(height, width) < 2:
            raise InputError(f"The image is {width}x{height} pixels; upscaling needs at least 2x2.")
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(self.device, torch.float32) / 255.0
        output = to_uint8(run_tiled(self.net, tensor[None].to(self.dtype), self.tiling))
        if outscale is not None and outscale != float(self.scale):
            size = (int(width * outscale), int(height * outscale))
            output = cv2.resize(output, size, interpolation=cv2.INTER_LANCZOS4)
        return output
