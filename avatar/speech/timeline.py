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


@dataclass(frozen=True)
class Word:
    """One spoken word as written (for captions) and when it sounds, in seconds."""

    text: str
    start: float
    end: float


@dataclass
class Speech:
    """Mono float32 samples in [-1, 1] at `sample_rate`.

    `phonemes` is the timeline from TTS alignments or from aligning a recording to
    its words; it is None when neither is known, and the mouth track is then
    derived from the signal itself. `words` (when known) feed the captions.
    """

    samples: np.ndarray
    sample_rate: int
    phonemes: Optional[list[Phoneme]] = None
    words: Optional[list[Word]] = None

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)
