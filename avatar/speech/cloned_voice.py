"""Speaking typed text in a cloned voice: sample -> latents (cached) -> sentences -> aligned Speech.

`CloningVoice` puts each cloning model behind the voice interface (`voice.Voice`).
Its `speak` is `speak_cloned(text, sample, model_id=..., language=...)`, which yields
the speech piece by piece; `synthesize_cloned` is the whole of that stream. The
model comes from the registry (loaded once, shared); the speaker's latents are
computed once per (model, sample hash) and kept in a small in-process cache, so a
second sentence or a second video in the same voice costs no re-encoding. Text is spoken piece by piece (sentences grouped up to
`PIECE_CHARS`, well inside XTTS's per-language limits), each piece seeded from
(seed, piece index), paragraphs separated by the same pause as the bundled voice.

Cloned speech has no phoneme alignments of its own, so each piece is aligned to
its text (`text_alignment.align_to_text`) and the timelines are joined: the mouth
stays phoneme-driven. If any piece cannot be aligned the whole speech is animated
from loudness, as a recording would be, and the manifest says why.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import numpy as np

from avatar.errors import InputError, ModelNotInstalled, quoted
from avatar.progress import Progress, report, scaled
from avatar.speech.piper_voice import PARAGRAPH_PAUSE_S, check_rate, check_seed
from avatar.speech.text import check_text, split_paragraphs, split_sentences
from avatar.speech.timeline import PAUSE, Phoneme, Speech, SpeechChunk, Word
from avatar.speech.voice import Voice, VoiceInfo

if TYPE_CHECKING:
    from avatar.speech.voice_sample import VoiceSample

INSTALL_CODE = "pip install -e .[voices]"
"""Installs the optional Coqui TTS package the cloning models run on."""
PIECE_CHARS = 180
"""Longest piece spoken at once: under XTTS's shortest per-language limit (it warns past ~180-250)."""


@dataclass
class LatentsCache:
    """Speaker latents per (model install, sample hash), least recently used dropped first."""

    max_entries: int = 32
    hits: int = 0
    misses: int = 0
    _items: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple, compute: Callable[[], object]) -> object:
        with self._lock:
            if key in self._items:
                self.hits += 1
                self._items.move_to_end(key)
                return self._items[key]
            self.misses += 1
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


LATENTS = LatentsCache()


@dataclass
class ClonedSpeech:
    """The cloned voice's speech and how its mouth timing was found."""

    speech: Speech
    language: str
    method: str  # the alignment method of the pieces, or "loudness"
    detail: str = ""


@dataclass(frozen=True)
class CloningVoice(Voice):
    """A Coqui cloning model from the catalog behind the voice interface: it speaks in the voice of a sample.

    `languages` are what the published model speaks; an installed model's own
    config files are read instead (`check_ready`, `describe`). `speak` is
    `speak_cloned`, each piece aligned to its text ("dtw").
    """

    model_id: str = field()  # a field without default, though `Voice` defaults it to None
    languages: tuple[str, ...] = field()
    needs_sample = True

    @property
    def name(self) -> str:
        return self.model_id

    @property
    def title(self) -> str:
        from avatar.models.catalog import get_spec

        return get_spec(self.model_id).name

    @property
    def license(self) -> str:
        from avatar.models.catalog import get_spec

        return get_spec(self.model_id).license

    def check_language(self, language: str) -> str:
        """Any code: which languages an install speaks is known from its files (`check_ready`)."""
        return language

    def check_ready(self, language: str, registry=None) -> None:
        require_cloning(self.model_id, registry, language)

    def load(self, threads: int = 0) -> None:
        from avatar.models.registry import get_registry

        with get_registry().use(self.model_id):
            pass

    def speak(self, text: str, *, language: str = "en", rate: float = 1.0, seed: int = 0, sample=None,
              progress: Optional[Progress] = None, threads: int = 0) -> Iterator[SpeechChunk]:
        # `threads` is not honoured: torch's thread count belongs to the whole process.
        sample = self.check(language, sample)
        return speak_cloned(text, sample, model_id=self.model_id, language=language, rate=rate, seed=seed,
                            progress=progress)

    def describe(self, registry=None) -> VoiceInfo:
        from avatar.models.catalog import get_spec

        if registry is None:
            from avatar.models.registry import get_registry

            registry = get_registry()
        spec = get_spec(self.model_id)
        state, path = registry.resolve(self.model_id)
        languages = (read_languages(path, self.model_id) if path else ()) or self.languages
        if not coqui_installed():
            state, note = "no coqui-tts", f"`{INSTALL_CODE}`, then `{spec.install_command}`"
        elif state == "missing":
            note = f"`{spec.install_command}` ({spec.license})"
        else:
            note = spec.license
        return VoiceInfo(self.name, spec.name, True, state, tuple(languages), note)


def coqui_installed() -> bool:
    """Is the optional Coqui package there (found without importing it: that takes seconds)?"""
    return importlib.util.find_spec("TTS") is not None


def read_languages(folder: Path, model_id: str) -> tuple[str, ...]:
    """The languages an installed model speaks, from its small config files (no weights read)."""
    folder = Path(folder)
    try:
        if model_id == "your-tts":
            return tuple(json.loads((folder / "language_ids.json").read_text(encoding="utf-8")))
        return tuple(json.loads((folder / "config.json").read_text(encoding="utf-8")).get("languages") or ())
    except (OSError, ValueError, AttributeError):
        return ()


def require_cloning(model_id: str, registry=None, language: Optional[str] = None):
    """Fail in a moment, naming the command, when the cloning model or the Coqui package is missing, or
    the installed model does not speak `language` (read from its config, no weights loaded); return the registry."""
    if not coqui_installed():
        raise ModelNotInstalled(f"Voice cloning needs the optional Coqui TTS package; install it with `{INSTALL_CODE}`.")
    if registry is None:
        from avatar.models.registry import get_registry

        registry = get_registry()
    languages = read_languages(registry.require(model_id), model_id)
    if language is not None and languages:
        check_language(model_id, language, languages)
    return registry


def check_language(model_id: str, language: str, languages: tuple[str, ...]) -> str:
    if language not in languages:
        raise InputError(f"{model_id} does not speak {quoted(language)}; choose one of: {', '.join(languages)}.")
    return language


def synthesize_cloned(
    text: str,
    sample: "VoiceSample",
    *,
    model_id: str,
    language: str = "en",
    rate: float = 1.0,
    seed: int = 0,
    registry=None,
    progress: Optional[Progress] = None,
) -> ClonedSpeech:
    """Speak `text` in the voice of `sample` with a cloning model from the registry: the whole of `speak_cloned`.

    Raises InputError for bad text, rate, seed or language, ModelNotInstalled (with
    the command) when the model or Coqui is missing. Same inputs and seed, same samples.
    """
    from avatar.speech.voice import join_chunks, mouth_of

    chunks = list(speak_cloned(text, sample, model_id=model_id, language=language, rate=rate, seed=seed,
                               registry=registry, progress=progress))
    mouth = mouth_of(chunks)
    return ClonedSpeech(speech=join_chunks(chunks), language=language, method=mouth["method"],
                        detail=mouth.get("reason", ""))


def speak_cloned(
    text: str,
    sample: "VoiceSample",
    *,
    model_id: str,
    language: str = "en",
    rate: float = 1.0,
    seed: int = 0,
    registry=None,
    progress: Optional[Progress] = None,
) -> Iterator[SpeechChunk]:
    """Yield the cloned speech of `text` piece by piece (and paragraph gaps), each piece aligned to its text.

    Text, rate, seed, model and language are checked when the stream is made, before
    the first chunk. A piece that cannot be aligned has no phonemes (method
    "loudness", with the aligner's reason).
    """
    text, rate, seed = check_text(text), check_rate(rate), check_seed(seed)
    registry = require_cloning(model_id, registry, language)
    pieces = [(p, piece) for p, paragraph in enumerate(split_paragraphs(text))
              for piece in split_sentences(paragraph, PIECE_CHARS)]
    return _stream(registry, model_id, sample, pieces, language, rate, seed, progress)


def _stream(registry, model_id: str, sample: "VoiceSample", pieces: list[tuple[int, str]], language: str,
            rate: float, seed: int, progress: Optional[Progress]) -> Iterator[SpeechChunk]:
    from avatar.speech.text_alignment import align_to_text

    report(progress, "voice: loading the cloning model", 0.0)
    with registry.use(model_id) as model:
        model.check_language(language)
        report(progress, "voice: reading the sample", 0.05)
        key = (model_id, str(registry.require(model_id)), sample.sha256)
        latents = LATENTS.get(key, lambda: model.voice_latents(sample.samples, sample.sample_rate))
        sample_rate = int(model.sample_rate)
        gap = np.zeros(int(round(PARAGRAPH_PAUSE_S * sample_rate)), np.float32)
        position = 0
        previous = 0
        for index, (paragraph, piece) in enumerate(pieces):
            if paragraph != previous and position:
                yield SpeechChunk(gap, position, sample_rate,
                                  [Phoneme(PAUSE, position / sample_rate, (position + len(gap)) / sample_rate)],
                                  method="")
                position += len(gap)
            previous = paragraph
            span = scaled(progress, 0.1 + 0.9 * index / len(pieces), 0.1 + 0.9 * (index + 1) / len(pieces))
            report(span, f"voice: sentence {index + 1}/{len(pieces)}", 0.0)
            samples = model.speak(piece, language, latents, seed=_piece_seed(seed, index), rate=rate)
            report(span, f"voice: aligning sentence {index + 1}/{len(pieces)}", 0.7)
            aligned = align_to_text(Speech(samples, sample_rate), piece, language=_alignment_language(language))
            offset = position / sample_rate
            words = [Word(w.text, w.start + offset, w.end + offset) for w in aligned.words]
            phonemes = (None if aligned.phonemes is None
                        else [Phoneme(p.ipa, p.start + offset, p.end + offset) for p in aligned.phonemes])
            yield SpeechChunk(samples, position, sample_rate, phonemes, words, method=aligned.method,
                              reason=aligned.detail if phonemes is None else "")
            position += len(samples)
    report(progress, "voice", 1.0)


def _piece_seed(seed: int, index: int) -> int:
    """A torch seed for piece `index` that depends on both numbers and nothing else."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _alignment_language(language: str) -> str:
    """XTTS codes go to the aligner as they are; YourTTS's "fr-fr", "pt-br" by their language part."""
    from avatar.speech.text_alignment import ESPEAK_VOICES

    return language if language in ESPEAK_VOICES else language.split("-")[0]
