"""The Wav2Lip network: a face encoder-decoder steered by an audio embedding.

The layout (every module name, channel count, kernel and stride) follows the
published checkpoints exactly, because their state-dict keys are the contract:
`face_encoder_blocks.N.M.conv_block.{0,1}`, `audio_encoder.N.conv_block.{0,1}`,
`face_decoder_blocks.N.M.conv_block.{0,1}` and `output_block.{0,1}`. Index 0 of
a `conv_block` is the convolution, index 1 its batch norm.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


class ConvUnit(nn.Module):
    """Convolution, batch norm, optional identity shortcut, then ReLU.

    Every layer of Wav2Lip except the last has this shape; `transpose=True`
    makes the convolution a transposed one, which is how the decoder upsamples.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int | tuple[int, int] = 1,
        padding: int = 0,
        residual: bool = False,
        transpose: bool = False,
        output_padding: int = 0,
    ) -> None:
        super().__init__()
        if transpose:
            conv: nn.Module = nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding)
        else:
            conv = nn.Conv2d(cin, cout, kernel, stride, padding)
        self.conv_block = nn.Sequential(conv, nn.BatchNorm2d(cout))
        self.residual = residual
        self.transpose = transpose

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out += x  # `out` is fresh, so adding in place saves one feature map
        return torch.relu_(out)

    def fold_batch_norm(self) -> None:
        """Merge the batch norm into the convolution's weights and bias.

        In eval mode the norm is a fixed per-channel scale and shift, so folding
        it is exact up to float rounding and removes one pass over every map.
        Only valid for inference: the running statistics stop being tracked.
        """
        conv, norm = self.conv_block[0], self.conv_block[1]
        if isinstance(norm, nn.Identity):
            return
        self.conv_block = nn.Sequential(fuse_conv_bn_eval(conv.eval(), norm.eval(), transpose=self.transpose), nn.Identity())


def _same(channels: int) -> ConvUnit:
    """A 3x3 residual unit that keeps size and channels; most of the network is these."""
    return ConvUnit(channels, channels, 3, 1, 1, residual=True)


def speech_encoder() -> nn.Sequential:
    """The audio encoder: (B, 1, 80, 16) mel windows -> (B, 512, 1, 1).

    SadTalker's two audio networks start from this same stack (keys
    `N.conv_block.{0,1}`), so they build it from here.
    """
    return nn.Sequential(
        ConvUnit(1, 32, 3, 1, 1), _same(32), _same(32),               # 80 x 16
        ConvUnit(32, 64, 3, (3, 1), 1), _same(64), _same(64),         # 27 x 16
        ConvUnit(64, 128, 3, 3, 1), _same(128), _same(128),           # 9 x 6
        ConvUnit(128, 256, 3, (3, 2), 1), _same(256),                 # 3 x 3
        ConvUnit(256, 512, 3, 1, 0), ConvUnit(512, 512, 1, 1, 0),     # 1 x 1
    )


def _up(cin: int, cout: int) -> ConvUnit:
    """A transposed convolution that doubles height and width."""
    return ConvUnit(cin, cout, 3, 2, 1, transpose=True, output_padding=1)


class Wav2Lip(nn.Module):
    """Generates the lower half of a face that speaks a 0.2 s window of audio.

    Input faces carry six channels: the target crop with its lower half masked
    out, then a reference crop of the same person (pose and identity). The face
    encoder shrinks them 96 -> 1 px, keeping each stage's output; the decoder
    grows the audio embedding back to 96 px, concatenating the encoder stage of
    the same size after each step (U-Net skips), so detail comes from the face
    and mouth shape from the audio.
    """

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(ConvUnit(6, 16, 7, 1, 3)),                                          # 96 px
            nn.Sequential(ConvUnit(16, 32, 3, 2, 1), _same(32), _same(32)),                   # 48
            nn.Sequential(ConvUnit(32, 64, 3, 2, 1), _same(64), _same(64), _same(64)),        # 24
            nn.Sequential(ConvUnit(64, 128, 3, 2, 1), _same(128), _same(128)),                # 12
            nn.Sequential(ConvUnit(128, 256, 3, 2, 1), _same(256), _same(256)),               # 6
            nn.Sequential(ConvUnit(256, 512, 3, 2, 1), _same(512)),                           # 3
            nn.Sequential(ConvUnit(512, 512, 3, 1, 0), ConvUnit(512, 512, 1, 1, 0)),          # 1
        ])
        # An (80 mel x 16 step) window becomes one 512-d vector (1 x 1 map).
        self.audio_encoder = speech_encoder()
        # Each block's input is the previous output concatenated with a face stage.
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(ConvUnit(512, 512, 1, 1, 0)),                                        # 1 px
            nn.Sequential(ConvUnit(1024, 512, 3, 1, 0, transpose=True), _same(512)),           # 3
            nn.Sequential(_up(1024, 512), _same(512), _same(512)),                             # 6
            nn.Sequential(_up(768, 384), _same(384), _same(384)),                              # 12
            nn.Sequential(_up(512, 256), _same(256), _same(256)),                              # 24
            nn.Sequential(_up(320, 128), _same(128), _same(128)),                              # 48
            nn.Sequential(_up(160, 64), _same(64), _same(64)),                                 # 96
        ])
        self.output_block = nn.Sequential(ConvUnit(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1), nn.Sigmoid())

    def forward(self, audio: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """(B, 1, 80, 16) mel windows and (B, 6, 96, 96) faces in [0, 1] -> (B, 3, 96, 96) in [0, 1].

        Colours come out in the order they went in (the published weights were
        trained on BGR crops).
        """
        skips = []
        x = faces
        for block in self.face_encoder_blocks:
            x = block(x)
            skips.append(x)
        x = self.audio_encoder(audio)
        for block, skip in zip(self.face_decoder_blocks, reversed(skips)):
            x = torch.cat((block(x), skip), dim=1)
        return self.output_block(x)

    def fold_batch_norms(self) -> Wav2Lip:
        """Fold every batch norm into its convolution (eval-only; see `ConvUnit.fold_batch_norm`)."""
        for unit in self.modules():
            if isinstance(unit, ConvUnit):
                unit.fold_batch_norm()
        return self
