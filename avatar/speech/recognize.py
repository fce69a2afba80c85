"""Phoneme timing for uploaded recordings of speech, from pocketsphinx.

An uploaded recording has no phoneme timeline, so the mouth would follow its
loudness only. For speech we can do better; in English: pocketsphinx's bundled US
English model recognises the words (or takes the words the user typed), then
force-aligns them to the audio phone by phone. The ARPAbet phones become the same
IPA `Phoneme` timeline Piper produces for typed text, contiguous from 0 to the end
with `PAUSE` entries for silence, so recordings take the same viseme path.
Speech whose words are not recognised (another language) gets phones without
words from the phone-loop search.

How (`align_recording`):

1. Mono, 16 kHz, int16 (what the model was trained on).
2. Words. Without a transcript, the recording is cut at quiet points into pieces
   of at most `MAX_PIECE_S` and each piece is recognised with the bundled
   language model; the cuts give progress reports and bound the search. With a
   transcript, its words (numbers read out, unknown words given rule-based
   pronunciations) are aligned to the whole recording.
3. Phones. The words are cut into chunks at the pauses between them and each chunk
   is force-aligned phone by phone (`set_alignment`). A chunk the aligner cannot
   place keeps its word timings and shares each word's time evenly among its
   dictionary phones.

Which timing (`method`), decided on real recordings:

1. Not speech (music, noise, silence; `avatar.speech.speech_presence`, from
   flatness, syllable-rate modulation and held pitch): "loudness", with the
   reason. Recognition never runs, so nothing is forced onto a song.
2. A typed transcript: its words, aligned ("transcript"). If they cannot be fitted
   to the audio, the phone loop below, with the reason.
3. Word recognition confidence `coverage x posterior` (the lattice posterior of
   the recognised words averaged over their frames, times the share of the loud
   frames they cover) of at least `WORDS_FROM_CONFIDENCE` = 0.3: the recognised
   words, aligned ("recognized").
4. Otherwise (another language, English under noise): phones heard without words
   ("phones"): pocketsphinx's phone-loop search with the phone bigram that ships
   in its wheel (`PHONE_MODEL`), over the same pieces. Any language's sounds come
   out as the nearest English phones, which is what the mouth needs.

Calibration: the mouth-open track of each method was correlated (Pearson r, 25-30
fps) with the real speaker's inner-lip gap over eye distance, measured with
dlib's landmarks on every frame of the four real_talk clips (5-7 s, English):

| clip | confidence | words | phone loop | loudness |
| --- | --- | --- | --- | --- |
| anchor_office | 0.345 | 0.64 | 0.39 | 0.51 |
| man_map | 0.619 | 0.42 | 0.26 | 0.20 |
| woman_blue | 0.591 | 0.30 | 0.04 | -0.20 |
| woman_glasses | 0.507 | 0.30 | 0.35 | 0.22 |
| mean | | 0.42 | 0.26 | 0.18 |

Recognised words time real English best, even at confidence 0.345, so the line
between words and the phone loop sits under every English recording measured
(RD_Radio fixtures 0.58 / 0.82, their 4 s halves 0.47-0.79, real_talk
0.345-0.619); English with white noise at 10 dB SNR (0.23, 0.24) and Piper's voice
reading other languages (0.24-0.55) fall to the phone loop or the words. The
phone loop still times the mouth better than loudness (mean r 0.26 vs 0.18). No
real recording in another language was available to calibrate on, so which
method times those best is not measured.

Recognition and alignment cost about 0.13 s per second of audio (57 s in ~7.5 s,
benchmarks/recording.py); noise and music are slower (up to ~1 s per second), as
the search finds nothing to settle on; they are no longer searched at all (the
speech check costs about 0.01 s per second of audio). Speech whose words are not
recognised with confidence stops the word search after the first piece
(GIVE_UP_AFTER_S) and is timed by the phone loop, about ten times cheaper. The decoder loads once per process
(`load_recognizer`) and serves one call at a time. The same recording always
gives the same result: each utterance starts from reset noise and cepstral
statistics, pocketsphinx's search has no randomness, and a decoder that learnt
guessed words for a transcript is replaced by a fresh one after that call.

Recordings of `PARALLEL_FROM_S` and longer are decoded on every core: the
pieces (words, phone loop) and the alignment chunks go to helper processes with
decoders of their own (`avatar.speech.decode_pool`; `AVATAR_DECODERS` caps how
many) and come back in order, so the result is the one a single decoder gives
(tests/test_recognize.py compares them); the word search still gives up on the
pieces in order. A 10-minute recording is recognised and aligned in about half
the time on two cores (README, Performance).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import re
import threading
import unicodedata
import warnings
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import numpy as np

from avatar.errors import InputError
from avatar.progress import Progress, report, scaled
from avatar.speech.arpabet import PAUSE_PHONES, guess_pronunciation, ipa_of, spoken_words
from avatar.speech.decode_pool import DecoderPool, decoder_count
from avatar.speech.speech_presence import detect_speech
from avatar.speech.text import MAX_TEXT_CHARS
from avatar.speech.timeline import Phoneme, Speech, Word
from avatar.speech.resampling import resample

__all__ = [
    "PAUSE",
    "PHONE_MODEL",
    "RecordingAlignment",
    "align_recording",
    "check_transcript",
    "load_recognizer",
    "WORDS_FROM_CONFIDENCE",
]

_LOGGER = logging.getLogger(__name__)

PAUSE = " "
"""The `Phoneme.ipa` of silence, the same as `avatar.speech.piper_voice.PAUSE`."""

MODEL_RATE = 16000
FRAME_S = 0.01
"""pocketsphinx analyses 100 frames per second."""
_FRAME_SAMPLES = int(MODEL_RATE * FRAME_S)

WORDS_FROM_CONFIDENCE = 0.3
"""From this word-recognition confidence on, speech is timed by its recognised words;
under it by the phone loop (see the module docstring)."""

PHONE_MODEL = "en-us/en-us-phone.lm.bin"
"""The phone bigram that ships in the pocketsphinx wheel, for the phone-loop search."""
_PHONE_SEARCH = "phones"

MAX_HMMS_PER_FRAME = 4000
"""The search keeps at most this many HMMs alive per frame (pocketsphinx's `maxhmmpf`; its default
30000). The first, tree-shaped pass spends most of the time on the few frames where many words
could start; this cap prunes them and decodes a 64 s real recording with about a quarter less
CPU. On every real clip measured (the four real_talk sound tracks, both radio fixtures, a
radio fixture at 10 dB SNR, Piper reading a transcript) it gives the same phonemes and words
as the default; confidences move by at most 0.04 (man_map 0.627 -> 0.666). At 3000 words
start to change (RD_Radio31_000)."""

MAX_PIECE_S = 20.0
GIVE_UP_AFTER_S = 15.0
GIVE_UP_BELOW = WORDS_FROM_CONFIDENCE
"""Once this much of a longer recording is recognised with a confidence under this,
the rest is not searched for words: the phone loop times it instead."""
MIN_PIECE_S = 10.0
"""Recognition pieces are cut at the quietest moment between these lengths."""

PARALLEL_FROM_S = 30.0
"""Recordings from this long on are decoded on every core (`avatar.speech.decode_pool`); shorter
ones in this process only, as starting a helper process and its decoder costs about a second."""

CHUNK_GAP_S = 0.1
"""A pause at least this long between two words may start a new alignment chunk..."""
MIN_CHUNK_S = 2.0
"""...once the chunk holds this much audio."""

MAX_GAIN = 10.0
"""Quiet recordings are raised to a 0.7 peak, but by 20 dB at most: more would only raise hiss."""

SILENT_PEAK = 10 ** (-50 / 20)
"""Peak level (re full scale) under which a recording is taken as silent, as the mouth track does."""

_BLOCK = 1 << 20
"""Samples scaled or measured at a time (65 s at 16 kHz): whole, a 10-minute recording's float64
temporaries took 230 MB."""

_LOUD_BELOW_PEAK_DB = 30.0
_LOUD_FLOOR_DB = -50.0
"""A frame is loud when within 30 dB of the recording's loud frames (95th percentile) and above -50 dBFS."""

ALIGNMENT_DELAY_S = 0.025
"""Added to every aligned time. Half of it is pocketsphinx's analysis window: frame i
covers 0-25.6 ms after i x 10 ms, so it describes the sound 12.8 ms later. The rest
is how early the aligner places phone changes against Piper's own timeline
(benchmarks/recording.py: the jaw correlation peaks between 25 and 30 ms)."""

WORD_GAP_S = 0.03
"""Short pause put between two words that follow each other without one.

Piper's timeline, and so the typed-text path, has a pause at every word boundary
(46 ms median), so its mouth relaxes briefly between words; recordings get the
same so that both paths look alike. Neighbouring sounds keep at least half their
length. Raised the benchmark's jaw correlation from 0.77 to 0.80."""

QUIET_BELOW_PEAK_DB = 20.0
"""A 10 ms frame is quiet when its level is this far under the recording's loud frames (95th percentile)..."""
QUIET_RUN_S = 0.3
"""...and quiet frames in a run this long are a pause, whatever phones were aligned there. Longer than
the silent closure of a stop (about 0.05-0.12 s), which keeps its phone and its open jaw."""

_PROGRESS_STAGE = "recognising speech"
_RECOGNITION_SHARE = 0.7
"""Share of the progress bar for recognition; word and phone alignment take the rest."""


@dataclass
class RecordingAlignment:
    """What `align_recording` found out about a recording.

    `method` is "transcript" (the typed words, aligned), "recognized" (recognised
    words, aligned), "phones" (the phone loop; `words` is [] and `reason` says why)
    or "loudness" (not speech: `phonemes` is None and `reason` says why in one
    sentence). `words` are for captions: the typed tokens with their
    spelling and punctuation, the recognised words, or [] for loudness.
    `confidence` (0..1) is what the fall-back decision was based on.
    """

    method: str
    phonemes: Optional[list[Phoneme]]
    words: list[Word]
    confidence: float
    reason: str = ""
    word_confidence: list[float] = field(default_factory=list)
    """Per recognised word (same order as `words`), its lattice posterior (0..1); [] for typed or no words."""


@dataclass(frozen=True)
class _Segment:
    """A dictionary word (variants as "to(3)") over frames [start, end), with its posterior."""

    word: str
    start: int
    end: int
    prob: float = 1.0


@dataclass(frozen=True)
class _Phone:
    """An ARPAbet phone (or SIL/noise) over frames [start, end)."""

    name: str
    start: int
    end: int
    starts_word: bool = False


# --- the decoder -----------------------------------------------------------------


class _Recognizer:
    """The pocketsphinx decoder, with a lock: one decoder serves one utterance at a time."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder, get_model_path

        # FATAL: the aligner reports expected failures on stderr; we log our own.
        self.decoder = Decoder(loglevel="FATAL", maxhmmpf=MAX_HMMS_PER_FRAME)
        self.decoder.add_allphone_file(_PHONE_SEARCH, get_model_path(PHONE_MODEL))
        self.decoder.activate_search()  # the language model stays the default search
        self.initial_cmn = self.decoder.get_cmn()
        self.lock = threading.Lock()

    def decode(self, samples: np.ndarray) -> None:
        """Run the active search over one utterance from a fixed starting state."""
        with warnings.catch_warnings():
            # Deprecated in pocketsphinx 5, but still the one call that forgets the
            # previous utterance's noise and cepstral statistics: without it the
            # same recording decodes slightly differently after another one.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.decoder.start_stream()
        self.decoder.set_cmn(self.initial_cmn)
        self.decoder.start_utt()
        self.decoder.process_raw(samples.tobytes(), full_utt=True)
        self.decoder.end_utt()


_recognizer: Optional[_Recognizer] = None
_recognizer_lock = threading.Lock()


def load_recognizer() -> _Recognizer:
    """The decoder with the bundled English model, loaded once per process (about 0.5 s)."""
    global _recognizer
    with _recognizer_lock:
        if _recognizer is None:
            _recognizer = _Recognizer()
        return _recognizer


def _forget_recognizer(recognizer: _Recognizer) -> None:
    """Load a fresh decoder next time: this one learnt guessed words for a transcript.

    Added words join the language model too, so later recordings could be heard
    as them; a fresh decoder keeps every recording's result independent of the
    jobs before it, and the same in this process as in a helper's decoder.
    """
    global _recognizer
    with _recognizer_lock:
        if _recognizer is recognizer:
            _recognizer = None


_LOAD_IN_HELPER = f"{__name__}:load_recognizer"


def _helpers(duration: float) -> int:
    """Helper decoding processes for a recording this long: one per decoder (a core each), none for short
    recordings or a single decoder (then this process decodes)."""
    decoders = decoder_count()
    return decoders if duration >= PARALLEL_FROM_S and decoders > 1 else 0


# --- public API ------------------------------------------------------------------


def check_transcript(text: object) -> str:
    """Return the transcript with outer whitespace removed, or raise InputError saying why it cannot be used."""
    if not isinstance(text, str):
        raise InputError("The transcript must be text; type the words spoken in the recording.")
    stripped = text.strip()
    if not stripped:
        raise InputError("The transcript is empty; type the words spoken in the recording, or leave it out.")
    if len(stripped) > MAX_TEXT_CHARS:
        raise InputError(
            f"The transcript has {len(stripped):,} characters, more than the limit of "
            f"{MAX_TEXT_CHARS:,}; shorten the recording and its transcript."
        )
    if not any(_token_words(token) for token in stripped.split()):
        raise InputError("The transcript has no English words or numbers to align; type what is said, in English.")
    return stripped


def align_recording(
    speech: Speech, transcript: Optional[str] = None, progress: Optional[Progress] = None
) -> RecordingAlignment:
    """Phoneme and word timings for a recording, or the reason to animate it from loudness.

    `transcript` (optional) is what the recording says; its words are aligned
    instead of the recognised ones and become the caption words. Raises InputError
    for an unusable transcript; an unusable recording is not an error but a
    "loudness" result.
    """
    if transcript is not None:
        transcript = check_transcript(transcript)
    with DecoderPool(_helpers(speech.duration), initializer=_LOAD_IN_HELPER) as pool:
        pool.start()  # helpers load their decoders while the recording is prepared and checked
        return _align(speech, transcript, pool, progress)


def _align(speech: Speech, transcript: Optional[str], pool: DecoderPool,
           progress: Optional[Progress]) -> RecordingAlignment:
    """`align_recording` with the decoding pool at hand."""
    samples = _model_samples(speech)
    n_frames = len(samples) // _FRAME_SAMPLES
    report(progress, _PROGRESS_STAGE, 0.0)
    if n_frames < 10 or _peak(speech.samples) < SILENT_PEAK:
        return _loudness(0.0, "the recording is silent or too short to hold speech")

    verdict = detect_speech(samples, MODEL_RATE)
    if not verdict.speech:
        return _loudness(0.0, verdict.reason)

    loud = _loud_frames(samples)
    recognizer = load_recognizer()
    reason = ""
    guessed: dict[str, str] = {}
    with recognizer.lock:
        recognition_end = _RECOGNITION_SHARE * (0.85 if transcript else 1.0)
        recognised = _recognise(pool, samples, loud, scaled(progress, 0.0, recognition_end))
        confidence = _confidence(recognised, loud)
        segments: Optional[list[_Segment]] = None
        words: list[Word] = []
        if transcript is not None:
            tokens = _caption_tokens(transcript)
            guessed = _add_unknown_words(recognizer, [w for _, spoken in tokens for w in spoken])
            segments = _align_words(recognizer, samples, [w for _, spoken in tokens for w in spoken])
            report(progress, _PROGRESS_STAGE, _RECOGNITION_SHARE)
            if segments is None:
                reason = "the recording did not match the typed words, so its phones were heard without words"
            else:
                words = _caption_words(tokens, segments, speech.duration)
                method = "transcript"
        elif confidence >= WORDS_FROM_CONFIDENCE:
            segments = recognised
            words = [_word(_base(s.word), s.start, s.end, speech.duration) for s in recognised]
            method = "recognized"
        else:
            reason = "no words were recognised with confidence (another language, or unclear English), so its phones were heard without words"
        if segments is None:
            method = "phones"
            phones = _phone_loop(pool, samples, scaled(progress, _RECOGNITION_SHARE, 1.0))
        else:
            phones = _align_phones(pool, samples, segments, guessed, scaled(progress, _RECOGNITION_SHARE, 1.0))
    if guessed:
        _forget_recognizer(recognizer)

    phones = _silence_quiet_runs(phones, _frame_levels(samples))
    boundaries = [p.start * FRAME_S for p in phones if p.starts_word]
    phonemes = _with_word_gaps(_timeline(phones, speech.duration), boundaries)
    report(progress, _PROGRESS_STAGE, 1.0)
    word_confidence = [s.prob for s in segments] if method == "recognized" and segments else []
    return RecordingAlignment(method=method, phonemes=phonemes, words=words, confidence=confidence,
                              word_confidence=word_confidence, reason=reason)


def _loudness(confidence: float, reason: str) -> RecordingAlignment:
    _LOGGER.info("recording animated from loudness (confidence %.2f): %s", confidence, reason)
    return RecordingAlignment(method="loudness", phonemes=None, words=[], confidence=confidence, reason=reason)


# --- audio -----------------------------------------------------------------------


def _mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:  # (n, channels) or (channels, n): average the short axis
        samples = samples.mean(axis=int(np.argmin(samples.shape)))
    return samples.reshape(-1)


def _blocks(n: int) -> Iterator[slice]:
    """Consecutive slices of at most `_BLOCK` samples covering [0, n)."""
    for start in range(0, n, _BLOCK):
        yield slice(start, min(n, start + _BLOCK))


def _abs_peak(samples: np.ndarray) -> float:
    """Largest magnitude of a 1-D signal (0 when empty), measured block by block."""
    return max((float(np.max(np.abs(samples[block]))) for block in _blocks(len(samples))), default=0.0)


def _peak(samples: np.ndarray) -> float:
    return _abs_peak(_mono(samples))


def _model_samples(speech: Speech) -> np.ndarray:
    """Mono int16 at 16 kHz, peak-normalised so quiet recordings keep their resolution.

    Scaled block by block (the same arithmetic, in float64, as on the whole signal at
    once), so memory does not grow with the recording beyond the result itself.
    Other rates are resampled in one go, which does.
    """
    samples = _mono(speech.samples)
    rate = int(speech.sample_rate)
    if rate != MODEL_RATE and samples.size:
        samples = resample(samples.astype(np.float64), rate, MODEL_RATE)
    peak = _abs_peak(samples)
    gain = min(MAX_GAIN, 0.7 / peak) if peak >= SILENT_PEAK else None
    out = np.empty(len(samples), dtype=np.int16)
    for block in _blocks(len(samples)):
        scaled = samples[block].astype(np.float64)
        if gain is not None:
            scaled = scaled * gain
        out[block] = np.clip(np.round(scaled * 32767.0), -32768, 32767).astype(np.int16)
    return out


def _frame_levels(samples: np.ndarray) -> np.ndarray:
    """Level (dB re full scale) of each 10 ms frame, measured block by block."""
    n = len(samples) // _FRAME_SAMPLES
    levels = np.empty(n, dtype=np.float64)
    step = _BLOCK // _FRAME_SAMPLES
    for first in range(0, n, step):
        last = min(n, first + step)
        frames = samples[first * _FRAME_SAMPLES : last * _FRAME_SAMPLES].astype(np.float64)
        frames = frames.reshape(last - first, _FRAME_SAMPLES) / 32768.0
        levels[first:last] = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return levels


def _loud_frames(samples: np.ndarray) -> np.ndarray:
    """Frames that carry sound (speech, music, noise) rather than a pause."""
    levels = _frame_levels(samples)
    if not levels.size:
        return np.zeros(0, dtype=bool)
    return levels > max(_LOUD_FLOOR_DB, float(np.percentile(levels, 95)) - _LOUD_BELOW_PEAK_DB)


def _pieces(samples: np.ndarray) -> list[tuple[int, int]]:
    """Frame ranges of at most MAX_PIECE_S, cut at the quietest 0.2 s between MIN_ and MAX_PIECE_S."""
    n = len(samples) // _FRAME_SAMPLES
    levels = _frame_levels(samples)
    smooth = np.convolve(levels, np.ones(20) / 20, mode="same") if n else levels
    longest, shortest = int(MAX_PIECE_S / FRAME_S), int(MIN_PIECE_S / FRAME_S)
    pieces, start = [], 0
    while n - start > longest:
        cut = start + shortest + int(np.argmin(smooth[start + shortest : start + longest]))
        pieces.append((start, cut))
        start = cut
    pieces.append((start, n))
    return pieces


def _frames(samples: np.ndarray, start: int, end: int) -> np.ndarray:
    return samples[start * _FRAME_SAMPLES : end * _FRAME_SAMPLES]


# --- words -----------------------------------------------------------------------


def _is_filler(word: str) -> bool:
    """Silence and noise entries: <s>, </s>, <sil>, [NOISE], [SPEECH]."""
    return word.startswith("<") or word.startswith("[")


def _base(word: str) -> str:
    """A dictionary entry without its variant number: "to(3)" -> "to"."""
    return re.sub(r"\(\d+\)$", "", word)


def _segments(recognizer: _Recognizer, offset: int) -> list[_Segment]:
    """The current hypothesis' words (fillers left out), shifted by `offset` frames."""
    return [
        _Segment(s.word, offset + s.start_frame, offset + s.end_frame + 1, min(1.0, max(0.0, s.prob)))
        for s in recognizer.decoder.seg()
        if not _is_filler(s.word)
    ]


def _recognise(pool: DecoderPool, samples: np.ndarray, loud: np.ndarray,
               progress: Optional[Progress]) -> list[_Segment]:
    """Recognised words with the language model, piece by piece (on every core; see `DecoderPool`).

    Stops early (see GIVE_UP_AFTER_S) when what has been heard so far is clearly
    not English speech; the words found until then are returned. The decision is
    taken on the pieces in order, so it is the same however many cores decode.
    """
    pieces = _pieces(samples)
    segments: list[_Segment] = []
    results = pool.ordered(_piece_words, [(_frames(samples, start, end), start) for start, end in pieces])
    try:
        for (start, end), found in zip(pieces, results):
            segments += found
            report(progress, _PROGRESS_STAGE, end / pieces[-1][1])
            heard = end * FRAME_S >= GIVE_UP_AFTER_S and end < pieces[-1][1]
            if heard and _confidence(segments, loud[:end]) < GIVE_UP_BELOW:
                break
    finally:
        results.close()  # pieces not decoded yet are dropped
    return segments


def _piece_words(samples: np.ndarray, offset: int) -> list[_Segment]:
    """One piece's words from the language model search (a job: runs here or in a helper process)."""
    recognizer = load_recognizer()
    recognizer.decoder.activate_search()  # the language model
    recognizer.decode(samples)
    return _segments(recognizer, offset)


def _confidence(segments: Sequence[_Segment], loud: np.ndarray) -> float:
    """Frame-weighted word posterior times the share of loud frames the words cover."""
    if not segments or not loud.any():
        return 0.0
    covered = np.zeros(len(loud), dtype=bool)
    weighted, frames = 0.0, 0
    for segment in segments:
        covered[segment.start : segment.end] = True
        weighted += segment.prob * (segment.end - segment.start)
        frames += segment.end - segment.start
    coverage = float(np.count_nonzero(covered & loud)) / float(np.count_nonzero(loud))
    return round(coverage * weighted / max(1, frames), 4)


def _token_words(token: str) -> list[str]:
    """The spoken words of one typed token, accents folded (café -> cafe)."""
    folded = unicodedata.normalize("NFKD", token)
    return spoken_words("".join(ch for ch in folded if not unicodedata.combining(ch)))


def _caption_tokens(transcript: str) -> list[tuple[str, list[str]]]:
    """(caption text, spoken words) per typed word; punctuation-only tokens join a neighbour."""
    tokens: list[tuple[str, list[str]]] = []
    loose = ""  # punctuation seen before the first word
    for token in transcript.split():
        spoken = _token_words(token)
        if spoken:
            tokens.append((f"{loose} {token}".strip(), spoken))
            loose = ""
        elif tokens:
            tokens[-1] = (f"{tokens[-1][0]} {token}", tokens[-1][1])
        else:
            loose = f"{loose} {token}".strip()
    return tokens


def _add_unknown_words(recognizer: _Recognizer, words: Sequence[str]) -> dict[str, str]:
    """Give words missing from the dictionary a pronunciation from spelling rules; return them (word: phones)."""
    decoder = recognizer.decoder
    unknown = sorted({w for w in words if decoder.lookup_word(w) is None})
    guessed = {word: " ".join(guess_pronunciation(word) or ["AH"]) for word in unknown}
    _learn_words(recognizer, guessed)
    return guessed


def _learn_words(recognizer: _Recognizer, pronunciations: dict[str, str]) -> None:
    """Add the words the dictionary does not have yet, with the given phones."""
    new = {word: phones for word, phones in pronunciations.items() if recognizer.decoder.lookup_word(word) is None}
    for i, (word, phones) in enumerate(sorted(new.items())):
        _LOGGER.info("guessed pronunciation of %r: %s", word, phones)
        recognizer.decoder.add_word(word, phones, update=(i == len(new) - 1))


def _align_words(recognizer: _Recognizer, samples: np.ndarray, words: Sequence[str]) -> Optional[list[_Segment]]:
    """Where each of `words` (in order) is spoken in the whole recording; None if they do not fit."""
    try:
        recognizer.decoder.set_align_text(" ".join(words))
        recognizer.decode(samples)
        segments = _segments(recognizer, 0)
    except RuntimeError:
        _LOGGER.warning("the typed words could not be aligned to the recording")
        return None
    finally:
        recognizer.decoder.activate_search()  # back to the language model
    if [_base(s.word) for s in segments] != list(words):
        _LOGGER.warning("word alignment returned %d of %d words", len(segments), len(words))
        return None
    return segments


def _caption_words(tokens: Sequence[tuple[str, list[str]]], segments: Sequence[_Segment], duration: float) -> list[Word]:
    """One caption Word per typed token, spanning the aligned words it is spoken as."""
    words, i = [], 0
    for text, spoken in tokens:
        first, last = segments[i], segments[i + len(spoken) - 1]
        words.append(_word(text, first.start, last.end, duration))
        i += len(spoken)
    return words


def _word(text: str, start: int, end: int, duration: float) -> Word:
    """A caption word over frames [start, end), on the same clock as the phonemes, inside the audio."""
    return Word(
        text,
        min(duration, start * FRAME_S + ALIGNMENT_DELAY_S),
        min(duration, end * FRAME_S + ALIGNMENT_DELAY_S),
    )


# --- phones ----------------------------------------------------------------------


def _chunks(segments: Sequence[_Segment], n_frames: int) -> Iterator[tuple[int, int, list[_Segment]]]:
    """Groups of words with the frame range to align them in, cut in the middle of pauses."""
    gap, shortest = int(CHUNK_GAP_S / FRAME_S), int(MIN_CHUNK_S / FRAME_S)
    longest = int(MAX_PIECE_S / FRAME_S)
    start, group = 0, []
    for i, segment in enumerate(segments):
        group.append(segment)
        after = segments[i + 1] if i + 1 < len(segments) else None
        if after is None:
            break
        pause = after.start - segment.end
        length = segment.end - start
        if (pause >= gap and length >= shortest) or after.end - start > longest:
            cut = segment.end + max(0, pause) // 2
            yield start, cut, group
            start, group = cut, []
    if group:
        yield start, n_frames, group


def _align_phones(
    pool: DecoderPool, samples: np.ndarray, segments: Sequence[_Segment], guessed: dict[str, str],
    progress: Optional[Progress],
) -> list[_Phone]:
    """Phone-level forced alignment of the words, chunk by chunk (on every core).

    `guessed` are the pronunciations given to words the dictionary lacks: a
    helper's decoder learns those of its chunk before aligning it.
    """
    n_frames = len(samples) // _FRAME_SAMPLES
    chunks = list(_chunks(segments, n_frames))
    jobs = [
        (_frames(samples, start, end), group, start,
         {s.word: guessed[s.word] for s in group if s.word in guessed})
        for start, end, group in chunks
    ]
    phones: list[_Phone] = []
    for (_, end, _), aligned in zip(chunks, pool.ordered(_chunk_phones, jobs)):
        phones += aligned
        report(progress, _PROGRESS_STAGE, end / max(1, n_frames))
    return phones


def _chunk_phones(samples: np.ndarray, group: Sequence[_Segment], offset: int,
                  guessed: dict[str, str]) -> list[_Phone]:
    """One chunk's phones, aligned, or spread evenly over its words if that fails (a job, like `_piece_words`)."""
    recognizer = load_recognizer()
    if guessed:
        _learn_words(recognizer, guessed)
    aligned = _align_chunk(recognizer, samples, group, offset)
    return aligned if aligned is not None else _even_phones(recognizer, group)


def _align_chunk(
    recognizer: _Recognizer, samples: np.ndarray, group: Sequence[_Segment], offset: int
) -> Optional[list[_Phone]]:
    """Phones of one chunk from pocketsphinx's two-pass alignment; None if it fails."""
    decoder = recognizer.decoder
    try:
        decoder.set_align_text(" ".join(s.word for s in group))
        recognizer.decode(samples)
        decoder.set_alignment()
        recognizer.decode(samples)
        return [
            _Phone(phone.name, offset + phone.start, offset + phone.start + phone.duration, starts_word=(i == 0))
            for word in decoder.get_alignment().words()
            for i, phone in enumerate(word)
        ]
    except RuntimeError:
        _LOGGER.info("phone alignment failed for %r; spreading phones evenly", " ".join(s.word for s in group)[:60])
        return None
    finally:
        decoder.activate_search()


def _phone_loop(pool: DecoderPool, samples: np.ndarray, progress: Optional[Progress]) -> list[_Phone]:
    """Phones heard without words: the phone-loop search with the bundled phone bigram, piece by piece (on every core)."""
    pieces = _pieces(samples)
    jobs = [(_frames(samples, start, end), start) for start, end in pieces]
    phones: list[_Phone] = []
    for (_, end), heard in zip(pieces, pool.ordered(_piece_phones, jobs)):
        phones += heard
        report(progress, _PROGRESS_STAGE, end / max(1, pieces[-1][1]))
    return phones


def _piece_phones(samples: np.ndarray, offset: int) -> list[_Phone]:
    """One piece's phones from the phone loop (a job, like `_piece_words`)."""
    recognizer = load_recognizer()
    decoder = recognizer.decoder
    try:
        decoder.activate_search(_PHONE_SEARCH)
        recognizer.decode(samples)
        return [_Phone(s.word, offset + s.start_frame, offset + s.end_frame + 1) for s in decoder.seg()]
    finally:
        decoder.activate_search()  # back to the language model


def _even_phones(recognizer: _Recognizer, group: Sequence[_Segment]) -> list[_Phone]:
    """Each word's dictionary phones sharing its time equally (when alignment fails)."""
    phones: list[_Phone] = []
    for segment in group:
        names = (recognizer.decoder.lookup_word(segment.word) or "").split()
        edges = np.linspace(segment.start, segment.end, len(names) + 1).round().astype(int)
        phones += [
            _Phone(name, int(a), int(b), starts_word=(i == 0))
            for i, (name, a, b) in enumerate(zip(names, edges[:-1], edges[1:]))
            if b > a
        ]
    return phones


def _quiet_runs(levels: np.ndarray) -> list[tuple[int, int]]:
    """Frame ranges [start, end) where the sound stays QUIET_BELOW_PEAK_DB under its loud frames for QUIET_RUN_S or more."""
    if not levels.size:
        return []
    quiet = levels < float(np.percentile(levels, 95)) - QUIET_BELOW_PEAK_DB
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    shortest = int(round(QUIET_RUN_S / FRAME_S))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= shortest]


def _silence_quiet_runs(phones: Sequence[_Phone], levels: np.ndarray) -> list[_Phone]:
    """The phones with every quiet run (`_quiet_runs`) cut out of them and given to silence.

    The aligner gives each phone of a word at least three frames, and a
    recognised word's end often takes in the silence after it, so a word's last
    phones can be stretched across a pause ("district" in a real clip ran 0.3 s
    into one, and the mouth stayed open there). Nothing is said in silence, so the
    mouth rests. A phone keeps its sounding parts; its word starts at the first.
    """
    runs = _quiet_runs(levels)
    if not runs:
        return list(phones)
    run_ends = [end for _, end in runs]
    out: list[_Phone] = []
    for phone in phones:
        if phone.name in PAUSE_PHONES:
            out.append(phone)
            continue
        starts_word = phone.starts_word
        first = bisect.bisect_right(run_ends, phone.start)  # runs ending before the phone cannot cut it
        for start, end, quiet in _split_at_runs(phone.start, phone.end, runs, first):
            out.append(_Phone("SIL" if quiet else phone.name, start, end, starts_word=starts_word and not quiet))
            starts_word = starts_word and quiet
    return out


def _split_at_runs(start: int, end: int, runs: Sequence[tuple[int, int]],
                   first: int = 0) -> list[tuple[int, int, bool]]:
    """Frames [start, end) cut at the edges of `runs` (in order, apart), as (start, end, inside a run) pieces
    in order. Only `runs[first:]` are looked at, up to the first that starts after `end`: a long
    recording has hundreds of runs and tens of thousands of phones."""
    pieces, at = [], start
    for run_start, run_end in itertools.islice(runs, first, None):
        if run_start >= end:
            break
        a, b = max(run_start, at), min(run_end, end)
        if a >= b:
            continue
        if a > at:
            pieces.append((at, a, False))
        pieces.append((a, b, True))
        at = b
    if at < end:
        pieces.append((at, end, False))
    return pieces


def _timeline(phones: Sequence[_Phone], duration: float) -> list[Phoneme]:
    """Contiguous IPA Phonemes from 0 to `duration`, with PAUSE for silence, noise and gaps."""
    entries: list[list] = []  # [ipa, start_s, end_s]

    def add(ipa: str, start: float, end: float) -> None:
        start = max(start, entries[-1][2] if entries else 0.0)
        end = min(end, duration)
        if end <= start:
            return
        if entries and entries[-1][2] < start:  # a gap: nothing was aligned there
            add(PAUSE, entries[-1][2], start)
        if not entries and start > 0.0:
            entries.append([PAUSE, 0.0, start])
        if ipa == PAUSE and entries and entries[-1][0] == PAUSE:
            entries[-1][2] = end
        else:
            entries.append([ipa, start, end])

    for phone in phones:
        start, end = phone.start * FRAME_S + ALIGNMENT_DELAY_S, phone.end * FRAME_S + ALIGNMENT_DELAY_S
        symbols = None if phone.name in PAUSE_PHONES else ipa_of(phone.name, end - start)
        if not symbols:
            add(PAUSE, start, end)
            continue
        edges = np.linspace(start, end, len(symbols) + 1)
        for symbol, a, b in zip(symbols, edges[:-1], edges[1:]):
            add(symbol, float(a), float(b))
    add(PAUSE, entries[-1][2] if entries else 0.0, duration)  # trailing silence, or all of it
    return [Phoneme(ipa, start, end) for ipa, start, end in entries]


def _with_word_gaps(phonemes: list[Phoneme], boundaries: Sequence[float]) -> list[Phoneme]:
    """Insert a WORD_GAP_S pause at each word boundary (times before ALIGNMENT_DELAY_S) between two sounds."""
    out = list(phonemes)
    for boundary in boundaries:
        at = boundary + ALIGNMENT_DELAY_S
        i = next((k for k, p in enumerate(out) if p.start <= at < p.end), None)
        if i is None or i == 0:
            continue
        before, after = out[i - 1], out[i]
        if before.ipa == PAUSE or after.ipa == PAUSE or not math.isclose(after.start, at, abs_tol=1e-6):
            continue
        cut_before = min(WORD_GAP_S / 2, (before.end - before.start) / 2)
        cut_after = min(WORD_GAP_S / 2, (after.end - after.start) / 2)
        out[i - 1 : i + 1] = [
            Phoneme(before.ipa, before.start, at - cut_before),
            Phoneme(PAUSE, at - cut_before, at + cut_after),
            Phoneme(after.ipa, at + cut_after, after.end),
        ]
    return out
