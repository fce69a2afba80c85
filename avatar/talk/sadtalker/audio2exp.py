"""SadTalker's Audio2Exp: 64 expression coefficients per video frame from its audio window.

Each frame is independent: a Wav2Lip-style audio encoder turns the frame's mel
window (80 x 16) into 512 numbers, and one linear layer maps those, the
portrait's own 64 expression coefficients and the frame's blink amount (0 = eyes
open, 1 = closed) to the frame's expression. The eyes are steered by that input
alone, which is why the blink schedule is chosen outside the network.

Published weights: the `audio2exp.` section of `SadTalker_V0.0.2_*.safetensors`,
keys `audio_encoder.N.conv_block.{0,1}.*` and `mapping1.{weight,bias}`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from avatar.talk.sadtalker.audio import WindowSource
from avatar.talk.sadtalker.checkpoint import load_into
from avatar.talk.wav2lip.model import ConvUnit, speech_encoder

EMBEDDING = 512
EXPRESSIONS = 64
BATCH = 16
"""Windows per encoder pass. Frames are independent (the original ran 10 at a time), so this
only sets speed: on 2 CPU cores 10-16 is fastest; from 32 up the first layers' maps
(32 x 80 x 16 floats per window) outgrow the cache and a frame costs 1.5x as much."""


def fold_batch_norms(encoder: nn.Module) -> None:
    """Fold every batch norm of a loaded encoder into its convolution (exact in eval mode, one pass less)."""
    for unit in encoder.modules():
        if isinstance(unit, ConvUnit):
            unit.fold_batch_norm()


def embed(encoder: nn.Module, mel: torch.Tensor) -> torch.Tensor:
    """(n, 1, 80, 16) windows -> (n, 512) embeddings, `BATCH` windows at a time."""
    return torch.cat([encoder(mel[first:first + BATCH]) for first in range(0, len(mel), BATCH)]).flatten(1)


class Audio2Exp(nn.Module):
    """Mel window + the portrait's expression + blink amount -> the frame's 64 expression coefficients."""

    def __init__(self) -> None:
        super().__init__()
        self.audio_encoder = speech_encoder()
        self.mapping1 = nn.Linear(EMBEDDING + EXPRESSIONS + 1, EXPRESSIONS)

    def forward(self, windows: torch.Tensor, ref_exp: torch.Tensor, blink: torch.Tensor) -> torch.Tensor:
        """(B, 1, 80, 16), (B, 64), (B,) -> (B, 64)."""
        sound = self.audio_encoder(windows).flatten(1)
        return self.mapping1(torch.cat([sound, ref_exp, blink.reshape(-1, 1)], dim=1))


def load_audio2exp(sd: dict[str, torch.Tensor]) -> Audio2Exp:
    """The network from the `audio2exp` section (checked key by key), batch norms folded, eval mode."""
    net = load_into(Audio2Exp(), sd, "SadTalker audio2exp")
    fold_batch_norms(net.audio_encoder)
    return net


def expressions(net: Audio2Exp, windows: WindowSource, ref_exp: np.ndarray, blink: np.ndarray,
                batch: int = BATCH) -> np.ndarray:
    """Expression coefficients (T, 64) float32 for T frames.

    `windows` gives each frame's (80, 16) mel window (an array or `MelWindows`);
    `ref_exp` is the portrait's expression (64,) or one per frame (T, 64) (a
    reference video's, for its blinks); `blink` is the eye-closing amount per
    frame (T,).
    """
    frames = len(windows)
    ref_exp = np.broadcast_to(np.asarray(ref_exp, dtype=np.float32), (frames, EXPRESSIONS))
    blink = np.asarray(blink, dtype=np.float32).reshape(frames)
    out = np.empty((frames, EXPRESSIONS), dtype=np.float32)
    device = next(net.parameters()).device
    with torch.inference_mode():
        for first in range(0, frames, batch):
            last = min(first + batch, frames)
            mel = torch.from_numpy(np.ascontiguousarray(windows[first:last], dtype=np.float32)).unsqueeze(1)
            out[first:last] = net(mel.to(device), torch.tensor(ref_exp[first:last], device=device),
                                  torch.tensor(blink[first:last], device=device)).cpu().numpy()
    return out
