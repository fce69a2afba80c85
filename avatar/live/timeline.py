"""What a live session has placed on its clock: spoken sentences, each at the time its sound starts.

Times are seconds of the session's clock (0 = the session's start). A sentence's
phonemes are shifted to that time, so the mouth track of the whole session is one
timeline and lips and sound cannot drift apart, however long the session runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence

import numpy as np

from avatar.speech.timeline import Phoneme

FADE_S = 0.01
"""Sound cut by Stop fades out over this long, so the cut makes no click."""


@dataclass
class Utterance:
    """One sentence on the clock: its samples (at the session's rate) from `start` seconds.

    `phonemes` time the mouth; `head_phonemes` time the head's speaking motion and
    are cut later than the mouth on Stop (see `LiveSession.stop`), so a head that was
    already moving keeps its path. `head_from` is the first frame whose head motion
    may follow this sentence: frames delivered before it was placed never change.
    """

    text: str
    start: float
    samples: np.ndarray  # float32 mono
    sample_rate: int
    phonemes: list[Phoneme]
    head_phonemes: list[Phoneme]
    head_from: int
    interrupted: bool = False
    voice: Optional[np.ndarray] = None
    """The sentence as the voice made it (int16 at `voice_rate`), kept compactly so a saved session sounds as it did;
    None when nothing is to be saved."""
    voice_rate: int = 0

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / self.sample_rate

    @property
    def first_sample(self) -> int:
        return int(round(self.start * self.sample_rate))

    def cut(self, at: float, head_until: float) -> None:
        """End the sentence at clock time `at` (sound faded, mouth closing) and the head's motion at `head_until`."""
        self.samples = cut_sound(self.samples, self.sample_rate, at - self.start)
        if self.voice is not None:
            self.voice = cut_sound(self.voice, self.voice_rate, at - self.start)
        self.phonemes = _cut(self.phonemes, at)
        self.head_phonemes = _cut(self.head_phonemes, head_until)
        self.interrupted = True

    def line(self, with_voice: bool = False) -> "Line":
        """The sentence's place on the clock without its session-rate sound (with the voice's copy if asked)."""
        return Line(self.text, self.start, self.end, self.phonemes, self.head_phonemes, self.head_from,
                    self.interrupted, self.voice if with_voice else None, self.voice_rate)


def cut_sound(samples: np.ndarray, sample_rate: int, seconds: float) -> np.ndarray:
    """`samples` cut after `seconds`, fading out over `FADE_S` (float or int16, the type kept)."""
    keep = max(0, int(round(seconds * sample_rate)))
    fade = int(FADE_S * sample_rate)
    cut = samples[: keep + fade].astype(np.float32)
    tail = cut[keep:]
    cut[keep:] = tail * np.linspace(1.0, 0.0, len(tail), dtype=np.float32)
    return cut if samples.dtype == np.float32 else np.round(cut).astype(samples.dtype)


@dataclass(frozen=True)
class Line:
    """A sentence's place on the clock, as the frames need it (and, to save a session, its sound as the voice made
    it): what a saved session is re-made from, and a light copy of the timeline for rendering outside its lock."""

    text: str
    start: float
    end: float
    phonemes: list[Phoneme]
    head_phonemes: list[Phoneme]
    head_from: int
    interrupted: bool = False
    voice: Optional[np.ndarray] = None  # int16 at voice_rate
    voice_rate: int = 0


class Placed(Protocol):
    """What placing a sentence on the clock means to the frames: an `Utterance` or a `Line`."""

    text: str
    start: float
    phonemes: list[Phoneme]
    head_phonemes: list[Phoneme]
    head_from: int
    interrupted: bool

    @property
    def end(self) -> float: ...


def _cut(phonemes: list[Phoneme], at: float) -> list[Phoneme]:
    return [Phoneme(p.ipa, p.start, min(p.end, at)) for p in phonemes if p.start < at]


@dataclass(frozen=True)
class Said:
    """One line of the transcript: a sentence whose sound started, when, and whether Stop cut it."""

    text: str
    start: float
    end: float
    interrupted: bool


@dataclass
class Timeline:
    """The sentences placed on the clock, oldest first; nothing here is thread-safe (the session locks).

    A live session's timeline holds `Utterance`s (with their sound); the frames need
    only their places, so a timeline of `Line`s (a snapshot, or a saved session)
    renders the same frames.
    """

    utterances: Sequence[Placed] = field(default_factory=list)

    @property
    def end(self) -> float:
        """When the last placed sentence's sound ends (0 when none)."""
        return self.utterances[-1].end if self.utterances else 0.0

    def phonemes_near(self, t0: float, t1: float, head: bool = False) -> list[Phoneme]:
        """The phonemes (mouth, or head when `head`) of sentences overlapping [t0, t1], in clock time."""
        found: list[Phoneme] = []
        for u in self.utterances:
            if u.end >= t0 and u.start <= t1:
                found.extend(u.head_phonemes if head else u.phonemes)
        return found

    def head_mask(self, frames: range, fps: float) -> np.ndarray:
        """1 where a frame may follow the energy of the speech around it, 0 before a sentence's `head_from`."""
        mask = np.ones(len(frames), np.float32)
        index = np.arange(frames.start, frames.stop)
        for u in self.utterances:
            if u.end >= frames.start / fps - 1.0 and u.start <= frames.stop / fps + 1.0:
                mask[index < u.head_from] = 0.0
        return mask

    def audio(self, start: int, count: int, sample_rate: int) -> np.ndarray:
        """Samples start..start+count-1 of the session's sound: the sentences where they sound, silence elsewhere."""
        out = np.zeros(count, np.float32)
        for u in self.utterances:
            first = u.first_sample
            lo, hi = max(start, first), min(start + count, first + len(u.samples))
            if lo < hi:
                out[lo - start: hi - start] += u.samples[lo - first: hi - first]
        return out

    def drop_after(self, t: float) -> None:
        """Forget sentences that start after `t` (never heard)."""
        self.utterances = [u for u in self.utterances if u.start <= t]

    def forget_before(self, t: float) -> list[Utterance]:
        """Drop sentences that ended before `t` from memory and return them (the session keeps what it needs)."""
        old = [u for u in self.utterances if u.end < t]
        self.utterances = [u for u in self.utterances if u.end >= t]
        return old  # type: ignore[return-value]

    def near(self, t0: float, t1: float) -> "Timeline":
        """A copy of the places (no sound) of the sentences overlapping [t0, t1]: renders frames there the same."""
        return Timeline([u.line() for u in self.utterances if u.end >= t0 and u.start <= t1])  # type: ignore[union-attr]


def said(u: Placed) -> Said:
    return Said(u.text, u.start, u.end, u.interrupted)
