"""What every voice source produces: samples plus, when known, a phoneme timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Phoneme:
    """One IPA phoneme (as Piper/espeak spells it) and when it sounds, in seconds."""

    ipa: str
    start: float
    end: float


@dataclass
class Speech:
    """Mono float32 samples in [-1, 1] at `sample_rate`.

    `phonemes` is the timeline from TTS alignments; it is None for uploaded audio,
    whose mouth track is then derived from the signal itself.
    """

    samples: np.ndarray
    sample_rate: int
    phonemes: Optional[list[Phoneme]] = None

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)
