"""SadTalker's Audio2Pose: head motion (3 angles, 3 translations) per frame, from audio, noise and a style.

The published network is a conditional VAE trained on 32-frame clips. At
inference only its decoder runs: for each clip of 32 frames it takes

- the clip's audio (one 512-d embedding per frame from a Wav2Lip-style encoder,
  squeezed to 6 numbers per frame by `linear_audio`),
- the portrait's own pose (6),
- a latent vector: fresh standard normal noise plus the chosen style's learned
  offset (`classbias`, one row for each of the 46 styles, i.e. speakers of the
  training set),

maps them through a small MLP to a (32 x 6) sketch, refines that with a U-Net
over (time x pose channel) and a last 6 -> 6 linear, and returns each frame's
pose *relative to the portrait's*. The noise is what makes every seed move the
head differently.

How a recording is split (as the original did, so a seed gives its motion): the
first frame is the portrait itself (no motion); the rest is cut into 32-frame
clips from the start; a remainder r < 32 is predicted as the last r frames of a
clip made of the recording's last 32 frames (or, if there are fewer than 32, of
all of them with the first embedding repeated in front). Each clip draws its
noise in that order from the given generator.

Published weights: the `audio2pose.` section of `SadTalker_V0.0.2_*.safetensors`:
`audio_encoder.audio_encoder.*` and `netG.decoder.*` are used here;
`netG.encoder.*` (the VAE's encoder) and `netD_motion.*` (a discriminator) only
served training and are accepted and left out (see `_training_only_shapes`).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from avatar.errors import InputError
from avatar.talk.sadtalker.audio import WindowSource
from avatar.talk.sadtalker.audio2exp import EMBEDDING, embed, fold_batch_norms
from avatar.talk.sadtalker.checkpoint import PUBLISHED, load_into
from avatar.talk.wav2lip.model import speech_encoder

CLIP = 32
"""Frames per clip the decoder predicts at once."""
LATENT = 64
STYLES = 46
POSE = 6
AUDIO_PER_FRAME = 6
"""Numbers each frame's audio embedding is squeezed to before the MLP."""
CLIPS_PER_BATCH = 8
"""Clips decoded per forward pass (256 frames of windows, about 1.3 MB)."""


class ResidualConv(nn.Module):
    """Pre-activation residual block: (BN, ReLU, conv, BN, ReLU, conv) + (conv, BN) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int | tuple[int, int]) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 3, stride, 1),
            nn.BatchNorm2d(cout), nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1),
        )
        self.conv_skip = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_block(x) + self.conv_skip(x)


class Upsample(nn.Module):
    """Doubles the time axis with a (2 x 1) transposed convolution (a module of its own for its key names)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.upsample = nn.ConvTranspose2d(channels, channels, (2, 1), (2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(x)


class ResUnet(nn.Module):
    """A U-Net over a (1, 32 frames, 6) map: time is halved three times (4 frames at the bottom), never the
    pose channels; the output goes through a sigmoid, so it is in (0, 1) before `pose_linear`."""

    def __init__(self) -> None:
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(),
                                         nn.Conv2d(32, 32, 3, 1, 1))
        self.input_skip = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1))
        self.residual_conv_1 = ResidualConv(32, 64, (2, 1))
        self.residual_conv_2 = ResidualConv(64, 128, (2, 1))
        self.bridge = ResidualConv(128, 256, (2, 1))
        self.upsample_1 = Upsample(256)
        self.up_residual_conv1 = ResidualConv(256 + 128, 128, 1)
        self.upsample_2 = Upsample(128)
        self.up_residual_conv2 = ResidualConv(128 + 64, 64, 1)
        self.upsample_3 = Upsample(64)
        self.up_residual_conv3 = ResidualConv(64 + 32, 32, 1)
        self.output_layer = nn.Sequential(nn.Conv2d(32, 1, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.input_layer(x) + self.input_skip(x)
        x2 = self.residual_conv_1(x1)
        x3 = self.residual_conv_2(x2)
        x = self.bridge(x3)
        x = self.up_residual_conv1(torch.cat([self.upsample_1(x), x3], dim=1))
        x = self.up_residual_conv2(torch.cat([self.upsample_2(x), x2], dim=1))
        x = self.up_residual_conv3(torch.cat([self.upsample_3(x), x1], dim=1))
        return self.output_layer(x)


class PoseDecoder(nn.Module):
    """(noise, style, portrait pose, 32 audio embeddings) -> 32 frames of pose motion (32, 6)."""

    def __init__(self) -> None:
        super().__init__()
        self.classbias = nn.Parameter(torch.zeros(STYLES, LATENT))
        self.linear_audio = nn.Linear(EMBEDDING, AUDIO_PER_FRAME)
        self.MLP = nn.Sequential(OrderedDict(
            L0=nn.Linear(POSE + LATENT + CLIP * AUDIO_PER_FRAME, 128), A0=nn.ReLU(),
            L1=nn.Linear(128, CLIP * POSE), sigmoid=nn.Sigmoid(),
        ))
        self.resunet = ResUnet()
        self.pose_linear = nn.Linear(POSE, POSE)

    def forward(self, noise: torch.Tensor, style: torch.Tensor, ref_pose: torch.Tensor,
                audio: torch.Tensor) -> torch.Tensor:
        """(B, 64), (B,) long, (B, 6), (B, 32, 512) -> (B, 32, 6)."""
        clips = noise.shape[0]
        sound = self.linear_audio(audio).reshape(clips, -1)
        sketch = self.MLP(torch.cat([ref_pose, noise + self.classbias[style], sound], dim=1))
        refined = self.resunet(sketch.reshape(clips, 1, CLIP, POSE))
        return self.pose_linear(refined.squeeze(1))


class Audio2Pose(nn.Module):
    """The inference half of the published network, under the published key names."""

    def __init__(self) -> None:
        super().__init__()
        # Nesting as published: `audio_encoder.audio_encoder.N...` and `netG.decoder...`.
        self.audio_encoder = nn.Sequential(OrderedDict(audio_encoder=speech_encoder()))
        self.netG = nn.ModuleDict({"decoder": PoseDecoder()})

    @property
    def decoder(self) -> PoseDecoder:
        return self.netG["decoder"]


def _training_only_shapes(net: Audio2Pose) -> dict[str, tuple[int, ...]]:
    """Every published key the inference path never reads, with its shape.

    `netG.encoder` is the VAE's encoder (a U-Net like the decoder's plus the
    layers that produce the latent's mean and variance); `netD_motion` is the
    pose-sequence discriminator (three conv + batch-norm layers and a last conv).
    """
    shapes = {f"netG.encoder.resunet.{k}": tuple(v.shape) for k, v in net.decoder.resunet.state_dict().items()}
    encoder_in = 192 + LATENT + CLIP * AUDIO_PER_FRAME + POSE  # the original grew its first layer by these
    shapes.update({
        "netG.encoder.classbias": (STYLES, LATENT),
        "netG.encoder.MLP.L0.weight": (128, encoder_in), "netG.encoder.MLP.L0.bias": (128,),
        "netG.encoder.linear_means.weight": (LATENT, 128), "netG.encoder.linear_means.bias": (LATENT,),
        "netG.encoder.linear_logvar.weight": (LATENT, 128), "netG.encoder.linear_logvar.bias": (LATENT,),
        "netG.encoder.linear_audio.weight": (AUDIO_PER_FRAME, EMBEDDING),
        "netG.encoder.linear_audio.bias": (AUDIO_PER_FRAME,),
        "netD_motion.seq.3.weight": (1, 1024, 3), "netD_motion.seq.3.bias": (1,),
    })
    for layer, (cin, cout, kernel) in enumerate([(POSE, 256, 4), (256, 512, 4), (512, 1024, 3)]):
        shapes[f"netD_motion.seq.{layer}.conv.weight"] = (cout, cin, kernel)
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"netD_motion.seq.{layer}.norm.{name}"] = (cout,)
        shapes[f"netD_motion.seq.{layer}.norm.num_batches_tracked"] = ()
    return shapes


def load_audio2pose(sd: dict[str, torch.Tensor]) -> Audio2Pose:
    """The network from the `audio2pose` section (checked key by key), batch norms folded, eval mode.

    The training-only keys must have their published shapes (they are how a
    wrong file is told apart) but may be absent; any other extra key is refused.
    """
    net = Audio2Pose()
    training_only = _training_only_shapes(net)
    used = {}
    for key, value in sd.items():
        if key not in training_only:
            used[key] = value
        elif not isinstance(value, torch.Tensor) or tuple(value.shape) != training_only[key]:
            raise InputError(f"The SadTalker audio2pose weights' {key} is not shaped {training_only[key]}; {PUBLISHED}.")
    load_into(net, used, "SadTalker audio2pose")
    fold_batch_norms(net.audio_encoder)
    return net


def check_pose_style(pose_style: int) -> int:
    """The style as an int, or InputError if it is not one of the 46 learned styles."""
    if isinstance(pose_style, bool) or not isinstance(pose_style, (int, np.integer)) or not 0 <= pose_style < STYLES:
        raise InputError(f"The pose style must be a whole number from 0 to {STYLES - 1}, not {pose_style!r}.")
    return int(pose_style)


def _clips(frames: int) -> list[tuple[int, int, int]]:
    """(first frame, end frame, frames kept from the clip's end) of every clip, in the original's order."""
    moving = frames - 1  # frame 0 is the portrait itself
    clips = [(1 + i * CLIP, 1 + (i + 1) * CLIP, CLIP) for i in range(moving // CLIP)]
    if moving % CLIP:
        clips.append((max(1, frames - CLIP), frames, moving % CLIP))
    return clips


def poses(net: Audio2Pose, windows: WindowSource, ref_pose: np.ndarray, pose_style: int,
          generator: torch.Generator | None) -> np.ndarray:
    """Head poses (T, 6) float32 (3 angles, 3 translations) for T frames; frame 0 is `ref_pose` itself.

    `windows` gives each frame's (80, 16) mel window; `ref_pose` (6,) is the
    portrait's pose. Each 32-frame clip draws `torch.randn(1, 64)` from
    `generator` in turn (None: torch's global generator, as the original), so
    `torch.Generator().manual_seed(s)` reproduces the original run after
    `torch.manual_seed(s)`. The output is not yet smoothed (see coefficients.py).
    """
    style = check_pose_style(pose_style)
    frames = len(windows)
    ref = np.asarray(ref_pose, dtype=np.float32).reshape(POSE)
    motion = np.zeros((frames, POSE), dtype=np.float32)
    clips = _clips(frames)
    noise = [torch.randn(1, LATENT, generator=generator) for _ in clips]
    device = next(net.parameters()).device
    with torch.inference_mode():
        for first in range(0, len(clips), CLIPS_PER_BATCH):
            group = clips[first:first + CLIPS_PER_BATCH]
            audio = torch.stack([_clip_audio(net, windows, start, end, device) for start, end, _ in group])
            predicted = net.decoder(
                torch.cat(noise[first:first + len(group)]).to(device),
                torch.full((len(group),), style, dtype=torch.long, device=device),
                torch.from_numpy(ref).to(device).expand(len(group), POSE),
                audio,
            ).cpu().numpy()
            for (start, end, kept), clip in zip(group, predicted):
                motion[end - kept:end] = clip[CLIP - kept:]
    return ref + motion


def _clip_audio(net: Audio2Pose, windows: WindowSource, start: int, end: int, device: torch.device) -> torch.Tensor:
    """The (32, 512) audio embeddings of frames start..end-1, the first repeated in front if there are fewer."""
    mel = torch.from_numpy(np.ascontiguousarray(windows[start:end], dtype=np.float32)).unsqueeze(1).to(device)
    audio = embed(net.audio_encoder, mel)
    if len(audio) < CLIP:
        audio = torch.cat([audio[:1].expand(CLIP - len(audio), -1), audio])
    return audio
