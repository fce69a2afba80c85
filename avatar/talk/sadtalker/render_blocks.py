"""The building blocks of SadTalker's face renderer, with the published key names.

SadTalker's renderer (from face-vid2vid) is built from a handful of units:
a convolution followed by a batch norm and an activation, sometimes after a
nearest-neighbour 2x upsample or before a 2x2 average pool (`ConvUnit`);
pre-activation residual blocks (`ResBlock3d`); a 3D hourglass; and SPADE
residual blocks whose convolutions were saved with spectral normalisation.

Inference only, so every normalisation that is a fixed affine map is folded
into the convolution next to it once the weights are loaded (`fold`): a batch
norm after a convolution, and the spectral norm's division by sigma (in eval
mode torch computes sigma from the stored `weight_u`/`weight_v` without any
power iteration, so the folded weight is exactly the one the original uses).
The folded numbers differ from the unfolded ones by float32 rounding only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-5


def fold_norm(conv: nn.Module, norm: nn.Module) -> None:
    """Fold an eval-mode batch norm that follows `conv` into the convolution's weight and bias."""
    scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
    weight = conv.weight.detach() * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(norm.running_mean)
    conv.weight = nn.Parameter(weight, requires_grad=False)
    conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias.detach(), requires_grad=False)


CHANNELS_LAST_3D = torch.channels_last_3d
"""Memory layout for the 3D volumes (channels innermost): measured 1.6-1.9x faster for the renderer's 3D
convolutions with few channels on the CPU (e.g. 32 -> 32 over 16 x 128 x 128: 0.154 s -> 0.088 s), while the
7x7x7 mask head is a little faster in the default layout, so it gets its input back in that one."""


def volumes_channels_last(model: nn.Module) -> None:
    """Store every 3D convolution's weight channels-last, the layout its inputs arrive in (`CHANNELS_LAST_3D`)."""
    for conv in model.modules():
        if isinstance(conv, nn.Conv3d):
            conv.weight.data = conv.weight.data.contiguous(memory_format=CHANNELS_LAST_3D)


class ConvUnit(nn.Module):
    """convolution -> batch norm -> activation, with an optional nearest 2x upsample before or 2x2 average pool after.

    Keys `conv.*`, `norm.*`. `dims` 2 or 3; in 3D the resampling leaves depth alone,
    as all of the renderer's 3D blocks do. `slope` 0 is ReLU, else a leaky ReLU.
    """

    def __init__(self, cin: int, cout: int, kernel: int, dims: int = 2, slope: float = 0.0,
                 upsample: bool = False, pool: bool = False) -> None:
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        self.conv = conv(cin, cout, kernel, padding=kernel // 2)
        self.norm = norm(cout, eps=BN_EPS)
        self.slope = slope
        self.upsample = upsample
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:  # nearest 2x in height and width (`upsampled_conv`'s phases measured no faster here)
            x = F.interpolate(x, scale_factor=(2, 2) if x.dim() == 4 else (1, 2, 2), mode="nearest")
        x = self.norm(self.conv(x))
        x = F.leaky_relu_(x, self.slope) if self.slope else F.relu_(x)
        if self.pool:
            x = F.avg_pool2d(x, 2) if x.dim() == 4 else F.avg_pool3d(x, (1, 2, 2))
        return x

    def fold(self) -> None:
        fold_norm(self.conv, self.norm)
        self.norm = nn.Identity()


class ResBlock3d(nn.Module):
    """Pre-activation residual block on a 3D feature volume: x + conv(relu(bn(conv(relu(bn(x)))))).

    Keys `norm1`, `conv1`, `norm2`, `conv2`. Only `norm2` follows a convolution, so
    only it folds; `norm1` stays a (cheap) batch norm on the block's input.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1)
        self.norm1 = nn.BatchNorm3d(channels, eps=BN_EPS)
        self.norm2 = nn.BatchNorm3d(channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu_(self.norm1(x)))
        return self.conv2(F.relu_(self.norm2(out))).add_(x)

    def fold(self) -> None:
        fold_norm(self.conv1, self.norm2)
        self.norm2 = nn.Identity()


class HourglassEncoder(nn.Module):
    """Keys `down_blocks.N`: 3D conv units that halve height and width, channels doubling up to a cap."""

    def __init__(self, base: int, cin: int, blocks: int, cap: int) -> None:
        super().__init__()
        widths = [cin] + [min(cap, base * 2 ** (i + 1)) for i in range(blocks)]
        self.down_blocks = nn.ModuleList(
            ConvUnit(widths[i], widths[i + 1], 3, dims=3, pool=True) for i in range(blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = [x]
        for block in self.down_blocks:
            levels.append(block(levels[-1]))
        return levels


class HourglassDecoder(nn.Module):
    """Keys `up_blocks.N`, `conv`, `norm`: upsample, concatenate the encoder's level, repeat; one last 3x3x3 unit."""

    def __init__(self, base: int, cin: int, blocks: int, cap: int) -> None:
        super().__init__()
        ups = []
        for i in reversed(range(blocks)):
            width = min(cap, base * 2 ** (i + 1))
            ups.append(ConvUnit(width if i == blocks - 1 else 2 * width, min(cap, base * 2 ** i), 3, dims=3, upsample=True))
        self.up_blocks = nn.ModuleList(ups)
        self.out_channels = base + cin
        self.conv = nn.Conv3d(self.out_channels, self.out_channels, 3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_channels, eps=BN_EPS)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        out = levels[-1]
        for block, skip in zip(self.up_blocks, reversed(levels[:-1])):
            out = torch.cat([block(out), skip], dim=1)
        return F.relu_(self.norm(self.conv(out)))

    def fold(self) -> None:
        fold_norm(self.conv, self.norm)
        self.norm = nn.Identity()


class Hourglass3d(nn.Module):
    """U-net on a (B, C, D, H, W) volume; its output is the decoder's features concatenated with the input."""

    def __init__(self, base: int, cin: int, blocks: int, cap: int) -> None:
        super().__init__()
        self.encoder = HourglassEncoder(base, cin, blocks, cap)
        self.decoder = HourglassDecoder(base, cin, blocks, cap)
        self.out_channels = self.decoder.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class SpectralConv2d(nn.Module):
    """A 2D convolution as `torch.nn.utils.spectral_norm` saved it: `weight_orig`, `weight_u`, `weight_v`, `bias`.

    The effective weight is weight_orig / sigma, sigma = u . (W v) with W the
    weight flattened to (out, in*k*k); `conv()` returns that as a plain Conv2d.
    """

    def __init__(self, cin: int, cout: int, kernel: int, bias: bool = True) -> None:
        super().__init__()
        self.weight_orig = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.empty(cout)) if bias else None
        self.register_buffer("weight_u", torch.empty(cout))
        self.register_buffer("weight_v", torch.empty(cin * kernel * kernel))
        self.padding = kernel // 2

    def weight(self) -> torch.Tensor:
        sigma = torch.dot(self.weight_u, torch.mv(self.weight_orig.flatten(1), self.weight_v))
        return self.weight_orig / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)

    def conv(self) -> nn.Conv2d:
        cout, cin, k, _ = self.weight_orig.shape
        plain = nn.Conv2d(cin, cout, k, padding=self.padding, bias=self.bias is not None)
        plain.weight = nn.Parameter(self.weight().detach(), requires_grad=False)
        if self.bias is not None:
            plain.bias = nn.Parameter(self.bias.detach(), requires_grad=False)
        return plain


def _phase_taps(factor: int) -> list[tuple[list[int], list[list[int]], tuple[int, int]]]:
    """How a 3-tap kernel falls on an input upsampled `factor` times (nearest), phase by phase.

    Output row factor*i + a reads upsampled rows factor*i + a - 1 .. + 1, i.e.
    input rows i - 1, i or i + 1. Returns, for each distinct pattern: the
    phases `a` that share it, the kernel taps to sum for each input row it
    reads (in order), and the zero padding (before, after) that reading needs.
    """
    patterns: dict[tuple, list[int]] = {}
    for phase in range(factor):
        rows: dict[int, list[int]] = {}
        for tap in range(3):
            rows.setdefault((phase + tap - 1) // factor, []).append(tap)
        key = tuple((row, tuple(taps)) for row, taps in sorted(rows.items()))
        patterns.setdefault(key, []).append(phase)
    return [(phases, [list(taps) for _, taps in key], (-key[0][0], key[-1][0])) for key, phases in patterns.items()]


def _sum_taps(weight: torch.Tensor, groups: list[list[int]], dim: int) -> torch.Tensor:
    return torch.stack([weight.narrow(dim, taps[0], len(taps)).sum(dim) for taps in groups], dim)


def upsampled_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, factor: int) -> torch.Tensor:
    """conv3x3(nearest_upsample(x, factor)) with padding 1, computed at x's (B, C, H, W) resolution.

    A 3-tap kernel over a nearest-upsampled axis reads at most 2 distinct input
    positions per output phase, so each phase is a small convolution of x with
    taps summed (exact up to float rounding): at 2x that is 16 instead of 36
    taps per input pixel, at 4x 25 instead of 144, and the upsampled map is
    never built. The result is channels-last, as the decoder runs (`to_channels_last`).
    """
    if factor == 1:
        return F.conv2d(x, weight, bias, padding=1)
    b, _, h, w = x.shape
    out = x.new_empty(b, h, factor, w, factor, weight.shape[0])  # (B, H, W, C) memory, phases split out
    patterns = _phase_taps(factor)
    for row_phases, row_taps, (top, bottom) in patterns:
        rows = _sum_taps(weight, row_taps, 2)
        for col_phases, col_taps, (left, right) in patterns:
            y = F.conv2d(F.pad(x, (left, right, top, bottom)), _sum_taps(rows, col_taps, 3), bias).permute(0, 2, 3, 1)
            for a in row_phases:
                for c in col_phases:
                    out[:, :, a, :, c] = y
    return out.reshape(b, h * factor, w * factor, -1).permute(0, 3, 1, 2)


def instance_norm(x: torch.Tensor) -> torch.Tensor:
    """Each channel of each image to zero mean and unit variance (biased, eps 1e-5), in x's own memory layout.

    The same statistics as F.instance_norm, which would copy a channels-last x to the default layout first.
    """
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean).mul_(torch.rsqrt(var + BN_EPS))


def to_channels_last(model: nn.Module) -> None:
    """Store every 2D convolution's weight channels-last: the decoder's maps are kept in that layout.

    Measured on the CPU: the SPADE decoder at 256 runs about 13% faster channels-last
    (its large maps, 64 to 512 channels at up to 256 x 256, convolve faster that way).
    """
    for conv in model.modules():
        if isinstance(conv, nn.Conv2d):
            conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)


class SPADE(nn.Module):
    """Instance norm whose scale and shift come, pixel by pixel, from a conditioning map (keys `mlp_*`).

    out = instance_norm(x) * (1 + gamma) + beta, gamma and beta convolved from
    `hidden(seg)` = relu(conv(seg nearest-upsampled to x's size)). `factor` is
    x's size over seg's (1, 2 or 4 in the decoder), so the upsampled map is
    never built (`upsampled_conv`).
    """

    HIDDEN = 128

    def __init__(self, channels: int, seg_channels: int, factor: int = 1) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(seg_channels, self.HIDDEN, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(self.HIDDEN, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(self.HIDDEN, channels, 3, padding=1)
        self.factor = factor

    def forward(self, normalized: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """`normalized` = instance_norm(x), taken ready-made: the shortcut and main SPADE of a block share it."""
        conv = self.mlp_shared[0]
        hidden = F.relu_(upsampled_conv(seg, conv.weight, conv.bias, self.factor))
        gamma, beta = self.mlp_gamma(hidden), self.mlp_beta(hidden)
        # In place, in the original's order: (1 + gamma), times the normalised x, plus beta.
        return gamma.add_(1).mul_(normalized).add_(beta)


class SPADEResBlock(nn.Module):
    """Residual block of two SPADE-normalised 3x3 convolutions (leaky ReLU 0.2); a 1x1 shortcut when widths differ.

    Keys `conv_0`, `conv_1`, `conv_s` (spectral), `norm_0`, `norm_1`, `norm_s` (SPADE).
    `factor`: the block's resolution over its conditioning map's.
    """

    def __init__(self, cin: int, cout: int, seg_channels: int, factor: int = 1) -> None:
        super().__init__()
        middle = min(cin, cout)
        self.conv_0 = SpectralConv2d(cin, middle, 3)
        self.conv_1 = SpectralConv2d(middle, cout, 3)
        self.norm_0 = SPADE(cin, seg_channels, factor)
        self.norm_1 = SPADE(middle, seg_channels, factor)
        self.learned_shortcut = cin != cout
        if self.learned_shortcut:
            self.conv_s = SpectralConv2d(cin, cout, 1, bias=False)
            self.norm_s = SPADE(cin, seg_channels, factor)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        normalized = instance_norm(x)
        shortcut = self.conv_s(self.norm_s(normalized, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu_(self.norm_0(normalized, seg), 0.2))
        dx = self.conv_1(F.leaky_relu_(self.norm_1(instance_norm(dx), seg), 0.2))
        return dx.add_(shortcut)

    def fold(self) -> None:
        self.conv_0 = self.conv_0.conv()
        self.conv_1 = self.conv_1.conv()
        if self.learned_shortcut:
            self.conv_s = self.conv_s.conv()


def fold_all(model: nn.Module) -> nn.Module:
    """Fold every foldable block of a loaded model (see the module docstring); returns the model."""
    for block in list(model.modules()):
        fold = getattr(block, "fold", None)
        if fold is not None and block is not model:
            fold()
    return model
