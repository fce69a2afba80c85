"""SadTalker's face renderer: the cropped portrait re-posed, frame by frame, by 3DMM coefficient windows.

The renderer is face-vid2vid's keypoint-driven generator with SadTalker's
mapping network in front (the motion side lives in `motion`, the shared units
in `render_blocks`):

- `KeypointDetector` (published `kp_extractor.`): 15 canonical 3D keypoints
  of the portrait, from a heatmap volume (softmax at temperature 0.1, expected
  position).
- `MappingNet` (`mapping` pickles): head pose, translation and expression
  offsets from a 27-frame window of coefficients, for the source window
  (the portrait's coefficients repeated) and for each frame's window.
- `FaceGenerator` (published `generator.`): encodes the portrait into a
  (32, 16, S/4, S/4) feature volume, warps it with the dense motion of the
  keypoints, masks it by the occlusion map and decodes it with six SPADE
  residual blocks and two upsampling ones into an S x S image.

face-vid2vid's head-pose estimator (HEEstimator) is not ported: SadTalker's
`make_animation` never calls it (the mapping network predicts head pose) and
the published safetensors files do not hold its weights.

Differences from the original, all without changing the numbers beyond float
rounding (tests/test_sadtalker_renderer.py holds them to 1e-4):
- what depends on the portrait only (keypoints, the encoded feature volume,
  its compressed copy for the dense motion) is computed once per job in
  `prepare`; the original recomputed the encoder for every frame;
- `render` takes any number of frames (the original ran `batch_size` lanes,
  one frame of each per pass); on the CPU it runs them one per pass
  (`FaceRenderer.CPU_FRAMES_PER_PASS`), elsewhere all in one pass; the dense
  motion samples the one source volume for all proposals in one call instead
  of copying it per keypoint;
- batch norms and spectral norms are folded into their convolutions at load;
  the SPADE norms' first convolution runs before the nearest upsampling
  (`render_blocks.upsampled_conv`); volumes and decoder maps are channels-last.
Together about 1.4x the original's speed on 2 CPU cores (256: 3.1 s a frame
against 4.2 s; 512: 16 s against 22 s; reference folder's timing.json).

Pixels: frames in 0..1 become uint8 as the original's skimage img_as_ubyte
does, x * 255 in float32 rounded half to even.

The same networks run at 256 and 512 (the two published files differ in
weights only); any multiple of 128 works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avatar.errors import InputError
from avatar.talk.sadtalker.checkpoint import load_into
from avatar.talk.sadtalker.motion import (
    KEYPOINTS,
    WINDOW,
    DenseMotion,
    MappingNet,
    coordinate_grid,
    transform_keypoints,
)
from avatar.talk.sadtalker.render_blocks import (
    CHANNELS_LAST_3D,
    ConvUnit,
    ResBlock3d,
    SPADEResBlock,
    fold_all,
    to_channels_last,
    volumes_channels_last,
)

RADIUS = WINDOW // 2
EXPRESSIONS = 64
MOTION_COEFFS = 70
"""64 expression + 3 rotation + 3 translation coefficients; 'full' adds the crop's 3 (scale and place)."""
SIZE_STEP = 128
"""The renderer halves its input 7 times on the way to the keypoint and motion hourglasses' bottom."""


# --- coefficient windows ---------------------------------------------------------------------------------------


def driving_coefficients(motion: np.ndarray, source: np.ndarray, expression_scale: float = 1.0,
                         still: bool = False, preprocess: str = "crop") -> np.ndarray:
    """(T, 70) motion coefficients + the portrait's (73,) -> (T, C) coefficients that drive the renderer.

    As the original's `get_facerender_data`: expressions scaled by
    `expression_scale`; 'full' (C = 73) appends the portrait's crop
    coefficients to every frame; `still` replaces every frame's pose (and crop)
    coefficients by the portrait's, so the head does not move.
    """
    motion = np.asarray(motion, dtype=np.float32)
    source = np.asarray(source, dtype=np.float32).reshape(-1)
    if motion.ndim != 2 or motion.shape[1] < MOTION_COEFFS or len(motion) == 0:
        raise InputError(f"The renderer needs (frames, {MOTION_COEFFS}) motion coefficients, got {motion.shape}; "
                         "pass the audio stage's coefficients.")
    columns = 73 if preprocess == "full" else MOTION_COEFFS
    if len(source) < columns:
        raise InputError(f"The portrait's coefficients have {len(source)} values where '{preprocess}' needs {columns}; "
                         "pass the 73 coefficients of the face reconstruction.")
    driving = motion[:, :MOTION_COEFFS].copy()
    driving[:, :EXPRESSIONS] *= np.float32(expression_scale)
    if columns > MOTION_COEFFS:
        driving = np.concatenate([driving, np.repeat(source[None, MOTION_COEFFS:columns], len(driving), 0)], axis=1)
    if still:
        driving[:, EXPRESSIONS:] = source[EXPRESSIONS:columns]
    return driving


def source_window(source_coeffs: np.ndarray) -> np.ndarray:
    """(C,) -> (C, 27): the portrait's coefficients as a window of 27 identical frames."""
    source_coeffs = np.asarray(source_coeffs, dtype=np.float32).reshape(-1)
    return np.repeat(source_coeffs[:, None], WINDOW, axis=1)


def target_windows(coeffs: np.ndarray, frames: range) -> np.ndarray:
    """(T, C) coefficients -> (len(frames), C, 27): each frame's window of 13 frames either side, clipped at the ends."""
    coeffs = np.asarray(coeffs, dtype=np.float32)
    offsets = np.arange(-RADIUS, RADIUS + 1)
    index = np.clip(np.asarray(frames)[:, None] + offsets[None, :], 0, len(coeffs) - 1)
    return np.ascontiguousarray(coeffs[index].transpose(0, 2, 1))


# --- networks ----------------------------------------------------------------------------------------------------


class AntiAliasDownsample(nn.Module):
    """Gaussian blur then keep every n-th pixel (key `weight`: the (C, 1, k, k) kernel the checkpoint holds)."""

    def __init__(self, channels: int = 3, scale: float = 0.25) -> None:
        super().__init__()
        sigma = (1 / scale - 1) / 2
        kernel = 2 * round(sigma * 4) + 1
        self.register_buffer("weight", torch.empty(channels, 1, kernel, kernel))
        self.stride = int(1 / scale)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A strided convolution gives exactly the kept pixels of the full-resolution blur.
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding, groups=x.shape[1])


class KeypointHourglass(nn.Module):
    """2D encoder to a 1x1 ... S/128 map, lifted to a (1024, 16) volume, 3D decoder back up (no skips).

    Keys `down_blocks.down{i}`, `conv`, `up_blocks.up{i}`.
    """

    def __init__(self, base: int = 32, cin: int = 3, blocks: int = 5, cap: int = 1024,
                 lifted: int = 16384, depth: int = 16) -> None:
        super().__init__()
        widths = [cin] + [min(cap, base * 2 ** (i + 1)) for i in range(blocks)]
        self.down_blocks = nn.Sequential()
        for i in range(blocks):
            self.down_blocks.add_module(f"down{i}", ConvUnit(widths[i], widths[i + 1], 3, pool=True))
        self.conv = nn.Conv2d(widths[-1], lifted, 1)
        self.up_blocks = nn.Sequential()
        for i in range(blocks):
            cin_up = min(cap, base * 2 ** (blocks - i))
            cout_up = min(cap, base * 2 ** (blocks - i - 1))
            self.up_blocks.add_module(f"up{i}", ConvUnit(cin_up, cout_up, 3, dims=3, upsample=True))
        self.depth = depth
        self.out_channels = base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(self.down_blocks(x))
        b, c, h, w = out.shape
        return self.up_blocks(out.reshape(b, c // self.depth, self.depth, h, w).contiguous(memory_format=CHANNELS_LAST_3D))


class KeypointDetector(nn.Module):
    """(B, 3, S, S) image in 0..1 -> (B, 15, 3) canonical keypoints (x, y, z in [-1, 1]).

    Keys `down.weight`, `predictor.*`, `kp.*`. The image is blurred and taken to
    a quarter size first; each keypoint is the expected position under a
    softmax (temperature 0.1) over its heatmap volume.
    """

    TEMPERATURE = 0.1

    def __init__(self) -> None:
        super().__init__()
        self.down = AntiAliasDownsample()
        self.predictor = KeypointHourglass()
        self.kp = nn.Conv3d(self.predictor.out_channels, KEYPOINTS, 3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.kp(self.predictor(self.down(image))).contiguous()
        b, k, d, h, w = logits.shape
        heat = F.softmax(logits.reshape(b, k, -1) / self.TEMPERATURE, dim=2)
        grid = coordinate_grid(d, h, w, heat.dtype, heat.device).reshape(-1, 3)
        return heat @ grid


class SPADEDecoder(nn.Module):
    """(B, 256, h, w) warped features -> (B, 3, 4h, 4w) image in 0..1, every block conditioned on the features.

    Keys `fc`, `G_middle_{0..5}`, `up_0`, `up_1`, `conv_img`.
    """

    def __init__(self, channels: int = 256, out: int = 64) -> None:
        super().__init__()
        wide = 2 * channels
        self.fc = nn.Conv2d(channels, wide, 3, padding=1)
        for i in range(6):
            setattr(self, f"G_middle_{i}", SPADEResBlock(wide, wide, channels))
        self.up_0 = SPADEResBlock(wide, channels, channels, factor=2)
        self.up_1 = SPADEResBlock(channels, out, channels, factor=4)
        self.conv_img = nn.Conv2d(out, 3, 3, padding=1)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.fc(feature)
        for i in range(6):
            x = getattr(self, f"G_middle_{i}")(x, feature)
        for block in (self.up_0, self.up_1):  # each conditioned on the features, upsampled inside its SPADE norms
            x = block(F.interpolate(x, scale_factor=2, mode="nearest"), feature)
        return torch.sigmoid(self.conv_img(F.leaky_relu_(x, 0.2)))


class FaceGenerator(nn.Module):
    """The occlusion-aware SPADE generator: source feature volume + keypoints -> rendered frames.

    Keys `first`, `down_blocks.{0,1}`, `second`, `resblocks_3d.3dr{0..5}` (the
    source encoder), `dense_motion_network.*`, `third`, `fourth`, `decoder.*`.
    """

    def __init__(self, channels: int = 32, depth: int = 16) -> None:
        super().__init__()
        self.dense_motion_network = DenseMotion(feature_channels=channels, depth=depth)
        self.first = ConvUnit(3, 64, 3)
        self.down_blocks = nn.ModuleList([ConvUnit(64, 128, 3, pool=True), ConvUnit(128, 256, 3, pool=True)])
        self.second = nn.Conv2d(256, channels * depth, 1)
        self.resblocks_3d = nn.Sequential()
        for i in range(6):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(channels))
        self.third = ConvUnit(channels * depth, 256, 3, slope=0.01)
        self.fourth = nn.Conv2d(256, 256, 1)
        self.decoder = SPADEDecoder()
        self.channels, self.depth = channels, depth

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """(1, 3, S, S) -> (1, 32, 16, S/4, S/4): the portrait's feature volume, warped for every frame."""
        out = self.second(self.down_blocks[1](self.down_blocks[0](self.first(image))))
        b, _, h, w = out.shape
        volume = out.reshape(b, self.channels, self.depth, h, w).contiguous(memory_format=CHANNELS_LAST_3D)
        return self.resblocks_3d(volume).contiguous()

    def forward(self, feature: torch.Tensor, volume: torch.Tensor, kp_source: torch.Tensor,
                kp_driving: torch.Tensor) -> torch.Tensor:
        """feature (1, 32, 16, h, w) and volume (1, 4, 16, h, w) of the source; (B, 15, 3) keypoints -> (B, 3, 4h, 4w)."""
        batch = len(kp_driving)
        motion = self.dense_motion_network(volume, kp_source, kp_driving)
        warped = F.grid_sample(feature.expand(batch, -1, -1, -1, -1), motion.deformation.to(feature.dtype),
                               align_corners=False)
        out = warped.reshape(batch, -1, *warped.shape[3:]).contiguous(memory_format=torch.channels_last)
        out = self.fourth(self.third(out))
        return self.decoder(out * motion.occlusion)


# --- the renderer ------------------------------------------------------------------------------------------------


@dataclass
class PreparedSource:
    """Everything about the portrait the renderer needs for every frame, computed once per job.

    kp_canonical, kp_source: (1, 15, 3) float32 keypoints (canonical; posed by the portrait's own coefficients).
    feature: (1, 32, 16, S/4, S/4) encoded portrait; volume: (1, 4, 16, S/4, S/4) its compressed copy.
    """

    size: int
    kp_canonical: torch.Tensor
    kp_source: torch.Tensor
    feature: torch.Tensor
    volume: torch.Tensor


def image_to_float(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 or float image -> (size, size, 3) float32 in 0..1, as the original reads its source.

    uint8 is scaled by 1/255 in float32 (skimage's img_as_float32); a different
    size goes through skimage's resize (bilinear, anti-aliased when shrinking),
    the original's call. A float image is taken as already in 0..1.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"The renderer needs an (H, W, 3) RGB image, got shape {image.shape}; pass the face crop.")
    if image.dtype == np.uint8:
        pixels = np.multiply(image, 1.0 / 255, dtype=np.float32)
    elif np.issubdtype(image.dtype, np.floating):
        pixels = image.astype(np.float32)
    else:
        raise InputError(f"The renderer needs a uint8 or float image, got {image.dtype}; pass the face crop as RGB uint8.")
    if pixels.shape[:2] != (size, size):
        from skimage.transform import resize

        pixels = resize(pixels, (size, size, 3)).astype(np.float32)
    return pixels


def frames_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(B, 3, S, S) in 0..1 -> (B, S, S, 3) uint8: x * 255 in float32, rounded half to even (skimage's img_as_ubyte)."""
    pixels = (frames.float() * 255).round_().clamp_(0, 255).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


class FaceRenderer(nn.Module):
    """The three networks of the face renderer, with the two calls a job makes: `prepare` once, `render` per batch."""

    CPU_FRAMES_PER_PASS = 1
    """Frames per forward pass on the CPU. Measured at 256 on 2 cores (tests/reference/sadtalker/renderer/
    timing.json): 3.1 s a frame one by one, 3.0 s in pairs, 3.2 s in fours. Larger passes buy nothing
    there (the 256 x 256 maps only add memory traffic) while a pass's memory grows with its frames, so
    the CPU renders one frame per pass; on other devices the whole batch is one pass."""

    def __init__(self, generator: FaceGenerator, kp_extractor: KeypointDetector, mapping: MappingNet) -> None:
        super().__init__()
        self.generator = generator
        self.kp_extractor = kp_extractor
        self.mapping = mapping
        self.coeff_nc = mapping.coeff_nc

    @classmethod
    def blank(cls, coeff_nc: int) -> FaceRenderer:
        """The networks with untrained weights (the published layout, to load or to list keys)."""
        return cls(FaceGenerator(), KeypointDetector(), MappingNet(coeff_nc))

    @property
    def device(self) -> torch.device:
        return self.generator.fourth.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.generator.fourth.weight.dtype

    def _motion_keypoints(self, kp_canonical: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """Keypoints posed by (B, C, 27) windows, in float32 whatever the networks' dtype (bins' softmax, angles)."""
        motion = self.mapping(windows.to(self.device, self.dtype))
        for name in ("yaw", "pitch", "roll", "t", "exp"):
            setattr(motion, name, getattr(motion, name).float())
        return transform_keypoints(kp_canonical, motion)

    def prepare(self, source_image: np.ndarray, source_coeffs: np.ndarray, size: int | None = None) -> PreparedSource:
        """The portrait's keypoints and encoded feature volume, for every frame of one job.

        source_image: (H, W, 3) RGB, uint8 or float in 0..1, resized to `size` x
        `size` if it is not already (`size` defaults to a square image's side).
        source_coeffs: the portrait's coefficients (its first `coeff_nc` are used).
        """
        size = size or np.shape(source_image)[0]
        if size % SIZE_STEP or size <= 0:
            raise InputError(f"The renderer draws sizes that are multiples of {SIZE_STEP} (256, 512), not {size}; "
                             "use face size 256 or 512.")
        coeffs = np.asarray(source_coeffs, dtype=np.float32).reshape(-1)
        if len(coeffs) < self.coeff_nc:
            raise InputError(f"The renderer needs {self.coeff_nc} source coefficients, got {len(coeffs)}; "
                             "pass the 73 coefficients of the face reconstruction.")
        pixels = image_to_float(source_image, size)
        with torch.inference_mode():
            image = torch.from_numpy(pixels).permute(2, 0, 1)[None].to(self.device, self.dtype)
            kp_canonical = self.kp_extractor(image).float()
            window = torch.from_numpy(source_window(coeffs[:self.coeff_nc]))[None]
            kp_source = self._motion_keypoints(kp_canonical, window)
            feature = self.generator.encode(image)
            volume = self.generator.dense_motion_network.source_volume(feature)
        return PreparedSource(size=size, kp_canonical=kp_canonical, kp_source=kp_source, feature=feature, volume=volume)

    def render(self, prepared: PreparedSource, target_windows: np.ndarray) -> np.ndarray:
        """(B, C, 27) coefficient windows -> (B, S, S, 3) uint8 RGB frames."""
        windows = np.asarray(target_windows, dtype=np.float32)
        if windows.ndim != 3 or windows.shape[1:] != (self.coeff_nc, WINDOW):
            raise InputError(f"The renderer needs (frames, {self.coeff_nc}, {WINDOW}) coefficient windows, got "
                             f"{windows.shape}; build them with target_windows().")
        return frames_to_uint8(self.render_tensor(prepared, torch.from_numpy(windows)))

    def render_tensor(self, prepared: PreparedSource, windows: torch.Tensor) -> torch.Tensor:
        """(B, C, 27) windows -> (B, 3, S, S) frames in 0..1 (the networks' dtype), before rounding to pixels."""
        step = self.CPU_FRAMES_PER_PASS if self.device.type == "cpu" else len(windows)
        with torch.inference_mode():
            frames = []
            for first in range(0, len(windows), max(1, step)):
                kp_driving = self._motion_keypoints(prepared.kp_canonical, windows[first:first + step])
                frames.append(self.generator(prepared.feature, prepared.volume, prepared.kp_source, kp_driving))
            return torch.cat(frames)


def load_renderer(generator_sd: dict[str, torch.Tensor], kp_sd: dict[str, torch.Tensor],
                  mapping_sd: dict[str, torch.Tensor], coeff_nc: int) -> FaceRenderer:
    """The renderer from the `generator.` and `kp_extractor.` sections and a mapping state dict, each checked key by key.

    coeff_nc: 70 for the 'crop' mapping file, 73 for the 'full' one. Norms are
    folded into their convolutions once loaded; the model is in eval mode.
    """
    # Smallest first, so a wrong file is refused before the large networks are built.
    mapping = load_into(MappingNet(coeff_nc), mapping_sd, f"SadTalker mapping ({coeff_nc} coefficients)")
    kp_extractor = load_into(KeypointDetector(), kp_sd, "SadTalker kp_extractor")
    generator = load_into(FaceGenerator(), generator_sd, "SadTalker generator")
    renderer = fold_all(FaceRenderer(generator, kp_extractor, mapping))
    volumes_channels_last(renderer)
    to_channels_last(renderer.generator.decoder)
    to_channels_last(renderer.generator.third)
    to_channels_last(renderer.generator.fourth)
    return renderer.eval().requires_grad_(False)
