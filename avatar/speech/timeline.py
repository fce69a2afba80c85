"""What every voice source produces: samples plus, when known, a phoneme timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np

PAUSE = " "
"""The `Phoneme.ipa` of silence: sentence edges, word gaps, punctuation and paragraph gaps."""


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


@dataclass(frozen=True)
class SpeechChunk:
    """One spoken sentence (or paragraph gap) of a longer speech, as every voice yields it.

    `start` is the sample offset of `samples` in the whole speech, and `phonemes`
    and `words` are in seconds of the whole speech, so a consumer can append chunks
    as they come. `phonemes` is None when the sentence could not be timed; then
    `reason` says why. `method` says what timed the phonemes ("voice": the voice's
    own alignments; "dtw": the text aligned to the audio; "" for a silent gap).
    """

    samples: np.ndarray
    start: int
    sample_rate: int
    phonemes: Optional[list[Phoneme]]
    words: list[Word] = field(default_factory=list)
    method: str = "voice"
    reason: str = ""

    @property
    def end(self) -> int:
        """Sample offset just after this chunk."""
        return self.start + len(self.samples)


def join_timelines(timelines: Iterable[list[Phoneme]]) -> list[Phoneme]:
    """Concatenate chunk timelines, merging a pause that ends one chunk with one that starts the next."""
    joined: list[Phoneme] = []
    for timeline in timelines:
        for phoneme in timeline:
            if joined and phoneme.ipa == PAUSE and joined[-1].ipa == PAUSE:
                joined[-1] = Phoneme(PAUSE, joined[-1].start, phoneme.end)
            else:
                joined.append(phoneme)
    return joined
