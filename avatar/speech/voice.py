"""The voice interface: every voice that speaks typed text looks the same to its callers.

A voice (the bundled Piper voice, a Coqui cloning model, or any later one) is a
`Voice`: its name, title, languages, catalog model (None for the bundled voice)
and whether it copies a speaker from a sample, plus three calls:

- `check(language, sample)`: the cheap checks of a choice (a sample given to a
  voice that takes none or missing for one that needs it, a language it cannot
  speak), one sentence each; returns the checked sample (None for a voice that
  takes none). Reads no model.
- `check_ready(language, registry)`: what is missing to speak (a model not
  installed, an optional package), one sentence naming the command that fixes it,
  still before any weights load.
- `speak(text, language=, rate=, seed=, sample=, progress=)`: the speech as
  `SpeechChunk`s, one sentence (or paragraph gap) at a time, each with its samples
  and, when known, its phonemes and words, yielded as soon as it is spoken, so a
  caller can animate one sentence while the next is being spoken. The text, rate,
  seed and choice are checked when the stream is made, before the first chunk.
  The same text, rate, seed (and sample) give the same samples.

`join_chunks` and `mouth_of` turn a finished stream into one `Speech` and the
manifest's account of what timed the mouth. The table of voices, their shared
settings (`VoiceOptions`) and the listing live in `avatar.speech.voices`; adding a
voice is one class implementing this interface and one line in that table.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from avatar.errors import InputError, quoted
from avatar.progress import Progress
from avatar.speech.timeline import Phoneme, Speech, SpeechChunk, join_timelines

if TYPE_CHECKING:
    from avatar.speech.voice_sample import VoiceSample

__all__ = ["SpeechChunk", "Voice", "VoiceInfo", "join_chunks", "mouth_of"]

@dataclass(frozen=True)
class VoiceInfo:
    """One voice choice as the CLI and the page show it."""

    name: str
    title: str
    cloning: bool
    state: str  # "bundled", "installed", "missing" (model not installed) or "no coqui-tts"
    languages: tuple[str, ...]
    note: str  # what to run to use it, or its license

    @property
    def kind(self) -> str:
        return "cloning" if self.cloning else "bundled"

    @property
    def ready(self) -> bool:
        return self.state in ("bundled", "installed")


class Voice(ABC):
    """A voice that speaks typed text (see the module docstring).

    Subclasses provide `name`, `title`, `languages`, `model_id`, `needs_sample` and
    `license` (as dataclass fields or class attributes), `speak`, and, when the
    defaults do not fit, `check_language`, `check_ready`, `load` and `describe`.
    """

    name: str
    title: str
    languages: tuple[str, ...]  # what it speaks (a cloning model's install may say more exactly)
    model_id: Optional[str] = None  # its catalog entry; None for a voice that needs no download
    needs_sample: bool = False  # copies the speaker of a voice sample
    license: str = ""
    quick: bool = False
    """A sentence takes a fraction of a second: worth speaking once before the first real one (a live session
    does, while the face idles), where a cloning model's sentence would keep the first typed one waiting."""

    @property
    def queue(self) -> str:
        """The job queue a video in this voice needs: a learned model's voice goes to "gpu", the bundled one
        leaves the choice to the engine ("cpu" for the built-in engine)."""
        return "cpu" if self.model_id is None else "gpu"

    def check(self, language: str, sample: Any = None) -> Optional["VoiceSample"]:
        """The choice's cheap checks (sample, language); the checked sample, or None for a voice that takes none."""
        from avatar.speech.voice_sample import MAX_SAMPLE_S, MIN_SAMPLE_S, VoiceSample, check_voice_sample

        self.check_language(language)
        if not self.needs_sample:
            if sample is not None:
                raise InputError(f"The {self.name} voice takes no voice sample; leave the sample out, or choose a "
                                 "cloning voice (`avatar voices list` shows them).")
            return None
        if sample is None:
            raise InputError(f"The {self.name} voice copies a speaker: give a voice sample of "
                             f"{MIN_SAMPLE_S:.0f} to {MAX_SAMPLE_S:.0f} s of their speech.")
        return sample if isinstance(sample, VoiceSample) else check_voice_sample(sample)

    def check_language(self, language: str) -> str:
        """InputError unless the voice speaks `language`."""
        if language not in self.languages:
            raise InputError(f"The {self.name} voice does not speak {quoted(language)}; "
                             f"choose one of: {', '.join(self.languages)}.")
        return language

    def check_ready(self, language: str, registry=None) -> None:
        """ModelNotInstalled (naming the command) when something the voice needs is missing; nothing is loaded."""
        self.check_language(language)

    def load(self, threads: int = 0) -> None:
        """Load what the voice speaks with on `threads` (as `speak` takes them), so the first sentence does not wait
        for it; cheap when loaded."""

    @abstractmethod
    def speak(self, text: str, *, language: str = "en", rate: float = 1.0, seed: int = 0,
              sample: Union["VoiceSample", Any, None] = None, progress: Optional[Progress] = None,
              threads: int = 0) -> Iterator[SpeechChunk]:
        """The speech of `text`, one sentence (or paragraph gap) at a time (see the module docstring).

        `threads` > 0 asks for each sentence to be computed on that many threads, so that work running beside
        the voice (a live session's frames, a dub's face tracking) keeps the other cores; 0 leaves it to the
        voice's runtime (every core). The same speech either way (sums taken in another order move samples by
        well under one 16-bit step); a voice whose runtime cannot be limited per call ignores it."""

    def describe(self, registry=None) -> VoiceInfo:
        """This voice as `avatar voices list` and the page's picker show it."""
        return VoiceInfo(self.name, self.title, self.needs_sample, "bundled" if self.model_id is None else "installed",
                         tuple(self.languages), self.license)


def join_chunks(chunks: Iterable[SpeechChunk]) -> Speech:
    """One `Speech` of a whole stream: samples joined, phoneme timelines joined (pauses meeting at a chunk
    boundary merged into one; None when any chunk has none), words listed."""
    chunks = list(chunks)
    if not chunks:
        raise InputError("The text has nothing the voice can speak; use words or numbers.")
    samples = np.concatenate([chunk.samples for chunk in chunks])
    phonemes: Optional[list[Phoneme]] = None
    if all(chunk.phonemes is not None for chunk in chunks):
        phonemes = join_timelines(chunk.phonemes for chunk in chunks)
    words = [word for chunk in chunks for word in chunk.words]
    return Speech(np.ascontiguousarray(samples), chunks[0].sample_rate, phonemes=phonemes, words=words)


def mouth_of(chunks: Sequence[SpeechChunk]) -> dict[str, str]:
    """What timed the mouth of a whole stream, for the manifest: {"method": ...} and, for loudness, a "reason".

    The methods of the sentences joined ("voice", "dtw", ...), or "loudness" when
    any sentence has no timeline (the whole speech is then animated from the audio).
    """
    untimed = [chunk for chunk in chunks if chunk.phonemes is None]
    if untimed:
        reasons = [chunk.reason for chunk in untimed if chunk.reason]
        return {"method": "loudness", **({"reason": reasons[-1]} if reasons else {})}
    methods = sorted({chunk.method for chunk in chunks if chunk.method})
    return {"method": "+".join(methods) or "voice"}
