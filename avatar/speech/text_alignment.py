"""Phoneme timing for speech whose text is known but whose timing is not (cloned voices).

Cloned voices (XTTS-v2, YourTTS) give bare audio, but the mouth is animated
from phonemes. `align_to_text(speech, text, language=...)` finds when each
phoneme and word of the text sounds in the audio and returns a `TextAlignment`:
a contiguous IPA timeline from 0 to the audio's end (PAUSE entries for silence,
exactly as Piper gives for typed text) and the written words with times.

How (method "dtw"): the bundled Piper voice speaks the same text, so the
reference's phoneme timeline is exact to the sample. Both signals become frame
features (16 kHz, 10 ms hop, 25 ms window): 13 MFCCs of a log-mel spectrum that is
floored 60 dB under its loudest frame (so silence looks alike whatever its noise
or gain), each coefficient mean- and variance-normalised (a channel or gain is a
constant offset there), next to the loudness of four mel band groups. Dynamic time
warping (steps (1,1), (1,0), (0,1); numpy, one vectorised row at a time) finds
the cheapest monotone match, and every reference phoneme and word boundary is
carried through the path to the target. Two details matter:

- Piper runs words together (its word gaps are ~50 ms of continuing sound) while
  a cloned voice may stop between them. One "pause" row, the target's own
  quietest frame, is inserted into the reference at every PAUSE and at both ends;
  holding it costs nothing extra, while holding any other reference frame costs
  `STRETCH_PENALTY` per frame. Inserted pauses of 150-600 ms were given to a
  neighbouring sound before (mean error 43 ms, p90 158); with the pause rows 7/15.
- Other languages: the same voice and ONNX session, with espeak switched to the
  language's voice (`ESPEAK_VOICES`); symbols missing from the English voice's
  id map are replaced by their base letter or dropped. The reference need not
  sound native, only keep the order and rough length of the sounds.

Measured (`python -m benchmarks.alignment`): targets are Piper itself with known
timing, spoken with another seed and then warped: rate 0.8 / 1.25, pauses
inserted in half the word gaps, phrases resampled by 0.7-1.4 each, the whole clip
resampled by 1/1.18 or 1.15 (pitch and formants of a smaller or larger speaker),
and 20 dB noise at gain 0.3 with pauses; 8 English texts of 5-14 s. Mean/p90
absolute error of phoneme boundaries and word starts/ends (ms), share of 25 fps
frames with the right phoneme / mouth shape, seconds per second of audio:

| method (all English targets) | phoneme | word | frame phoneme | frame viseme | s/s | fell back |
| --- | --- | --- | --- | --- | --- | --- |
| DTW, mfcc+envelope (chosen) | 9 / 19 | 20 / 40 | 87.5% | 87.7% | 0.034 | 0 of 56 |
| DTW, mfcc | 10 / 23 | 19 / 40 | 86.5% | 86.7% | 0.037 | 0 |
| DTW, log-mel | 8 / 18 | 18 / 43 | 88.7% | 88.9% | 0.036 | 0 |
| DTW, envelope | 9 / 21 | 20 / 46 | 88.6% | 88.8% | 0.036 | 0 |
| forced (recognize.align_recording) | 27 / 60 | 71 / 167 | - | 64.4% | 0.125 | 20 |

Per warp, DTW mfcc+envelope: rate 0.8 8/18, rate 1.25 6/13, pauses 7/16, stretch
13/30, voice up 8/17, voice down 9/19, noisy 14/19. MFCC alone is best on noise
(10/17) but worst on phrase stretching (20/53, where pitch moves); the band
envelope the reverse (9/21 and 20/47); together they are the most even. Forced
alignment was 3x worse on every warp and fell back to loudness on 20 of 56
targets (all noisy ones, most resampled ones: its confidence gate is tuned to
reject non-English). In es, fr, de, ru, zh-cn and hi (rate 0.8, 1.25, pauses,
voice up) DTW mean/p90 phoneme error was 6-8 / 15-17 ms, 85-92% of frames right.
So DTW is used for every language, English included; forced alignment stays
available as `method="forced"` for comparison.

Caveat: every target above is the Piper voice, warped; a cloned voice differs
more. On the two real radio recordings in the fixtures (8 s each, words as
pocketsphinx recognised them), DTW and forced alignment disagree on word
boundaries by 98 and 208 ms on average (p90 167 / 514) and agree on 58-61% of
frames' mouth shapes; without ground truth we cannot say which is nearer. Check
against a hand-timed XTTS clip when one is available.

When it falls back: the mean cost of the path's cells is 0.31-0.87 for the
warped Piper targets and 0.81 / 0.93 for the real recordings, but 1.39-1.44 for
white or pink noise and hum; `COST_THRESHOLD` 1.15 sends such audio to method
"loudness" (phonemes None, `detail` says why), as silent audio is. Synthetic
music (0.97) and speech of a different text (0.99) are NOT caught by it.

Speed: the cost is mostly Piper speaking the reference. A 42 s text aligned in
1.6 s, 1.34 s of it the synthesis (features, distances and DTW ~0.3 s; the DTW
grows with the square of the length); over the benchmark's 5-18 s targets it was
0.034 s per second of audio in all, so a 30 s text aligns in about a second. The
path is kept in a band around the diagonal (`BAND_SHARE`) so memory stays bounded.
Deterministic: the reference is Piper with seed 0, and nothing else is random.

Limits: espeak reads Japanese kana but not kanji, so Japanese written with kanji
aligns poorly; Arabic without vowel marks is diacritised by piper's bundled
tashkeel model first.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from avatar.errors import InputError
from avatar.progress import Progress, report
from avatar.speech.text import check_text
from avatar.speech.timeline import Phoneme, Speech, Word
from avatar.speech.resampling import resample

__all__ = [
    "COST_THRESHOLD",
    "ESPEAK_VOICES",
    "FEATURE_RATE",
    "TextAlignment",
    "align_to_text",
    "dtw_path",
    "features",
    "reference_speech",
]

_LOGGER = logging.getLogger(__name__)

PAUSE = " "
"""The `Phoneme.ipa` of silence, the same as `avatar.speech.piper_voice.PAUSE`."""

ESPEAK_VOICES: dict[str, str] = {
    "en": "en-us",
    "es": "es",
    "fr": "fr",
    "de": "de",
    "it": "it",
    "pt": "pt-br",
    "pl": "pl",
    "tr": "tr",
    "ru": "ru",
    "nl": "nl",
    "cs": "cs",
    "ar": "ar",
    "zh-cn": "cmn",
    "ja": "ja",
    "hu": "hu",
    "ko": "ko",
    "hi": "hi",
}
"""XTTS-v2 language code -> espeak-ng voice in piper's bundled espeak data.

Portuguese is read as Brazilian ("pt-br"): most of XTTS's Portuguese is. Chinese
is Mandarin ("cmn"). espeak reads Japanese kana but not kanji (it spells a kanji
as "Chinese letter"), so Japanese written with kanji aligns poorly.
"""

ANALYSIS_RATE = 16000
"""Both signals are resampled to this rate before features are taken."""
FEATURE_RATE = 100
"""Feature frames per second (10 ms hop): the resolution of the warping path."""
_HOP = ANALYSIS_RATE // FEATURE_RATE
_WINDOW = 400  # 25 ms
_FFT = 512
_MEL_BANDS = 40
_MFCC = 13
_FLOOR_DB = 60.0
"""Spectral floor below each signal's loudest frame: silence looks alike whatever its noise or gain."""

FEATURES = "mfcc+envelope"
"""The frame features DTW compares (see `features` and the module docstring)."""

STEP_PENALTY = 0.0
"""Added to the cost of every vertical step (a reference frame skipped over one target frame)."""
STRETCH_PENALTY = 0.2
"""Added to every horizontal step (a reference frame held over another target frame),
except on the inserted pause frames, which may hold as long as the target is silent."""

BAND_SHARE = 0.4
BAND_MIN_S = 3.0
"""The warping path stays within max(3 s, 40 % of the longer signal) of the corner-to-corner
diagonal: any realistic difference of pace and pauses fits, and memory stays
bounded (back-pointers are 5 bytes per cell in the band)."""

COST_THRESHOLD = 1.15
"""Mean cost per path cell above which the audio is taken as not speaking the text:
speech measured at most 0.87 (warped Piper) and 0.93 (real radio speech), noise
and hum 1.39-1.44 (see the module docstring)."""

SILENT_PEAK = 10 ** (-50 / 20)
"""Peak level under which the audio is taken as silent (as the recording path does)."""

_STAGE = "aligning speech to its text"


@dataclass(frozen=True)
class TextAlignment:
    """What `align_to_text` found.

    `phonemes` is a contiguous IPA timeline from 0 to the audio's end with `PAUSE`
    entries for silence (as Piper gives for typed text), or None when the audio
    could not be aligned (`method` "loudness": the mouth follows the signal and
    `detail` says why in one sentence). `words` are the written words with their
    times, for captions ([] for loudness). `method` is "dtw", "forced" or
    "loudness".
    """

    phonemes: Optional[list[Phoneme]]
    words: list[Word]
    method: str
    detail: str = ""


# --- languages and the reference voice ---------------------------------------------


def espeak_voice(language: str) -> str:
    """The espeak-ng voice for an XTTS language code, or InputError naming the codes that work."""
    code = language.strip().lower() if isinstance(language, str) else language
    if code not in ESPEAK_VOICES:
        raise InputError(
            f"Cannot align speech in language {language!r}; use one of "
            f"{', '.join(ESPEAK_VOICES)}."
        )
    return ESPEAK_VOICES[code]


def reference_speech(text: str, language: str = "en", *, rate: float = 1.0, seed: int = 0) -> Speech:
    """`text` spoken by the bundled Piper voice with espeak reading it as `language`.

    The phoneme timeline and written words come with it, exact to the sample: this
    is the template the target audio is warped onto.
    """
    from avatar.speech.piper_voice import synthesize

    return synthesize(text, rate, seed=seed, espeak_voice=espeak_voice(language))


# --- features ----------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _mel_filters(bands: int = _MEL_BANDS, low: float = 60.0, high: float = 7600.0) -> np.ndarray:
    """Triangular mel filters (bands x FFT bins), unit height."""

    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m):
        return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(low), mel(high), bands + 2))
    bins = np.fft.rfftfreq(_FFT, 1.0 / ANALYSIS_RATE)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _dct_matrix(count: int = _MFCC, bands: int = _MEL_BANDS) -> np.ndarray:
    n = np.arange(bands)
    k = np.arange(count)[:, None]
    return (np.cos(np.pi * k * (2 * n + 1) / (2 * bands)) * np.sqrt(2.0 / bands)).astype(np.float32)


def _to_analysis_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    return resample(samples, sample_rate, ANALYSIS_RATE).astype(np.float32, copy=False)


def log_mel(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log mel energies (frames x bands, dB), floored `_FLOOR_DB` under the loudest frame.

    Frame i covers samples [i*hop - window/2, i*hop + window/2), so it describes
    the time i / FEATURE_RATE.
    """
    x = _to_analysis_rate(samples, sample_rate)
    frames = max(1, int(np.ceil(len(x) / _HOP)))
    padded = np.pad(x, (_WINDOW // 2, frames * _HOP + _WINDOW - len(x)))
    strides = (padded.strides[0] * _HOP, padded.strides[0])
    framed = np.lib.stride_tricks.as_strided(padded, (frames, _WINDOW), strides)
    spectrum = np.abs(np.fft.rfft(framed * np.hanning(_WINDOW).astype(np.float32), _FFT)) ** 2
    energy = spectrum.astype(np.float32) @ _mel_filters().T
    db = 10.0 * np.log10(energy + 1e-10)
    top = np.max(db)
    return np.maximum(db, top - _FLOOR_DB)


def features(samples: np.ndarray, sample_rate: int, kind: str = "mfcc+envelope") -> np.ndarray:
    """Frame features for DTW (frames x dims), with cepstral/channel mean normalisation.

    "mfcc": 13 cepstra of the floored log-mel (c0 is loudness), mean removed per
    coefficient (a different microphone or gain is a constant offset there) and
    scaled by the signal's own standard deviation. "logmel": the floored log-mel
    bands, mean removed. "envelope": loudness in four bands, for comparison.
    """
    mel = log_mel(samples, sample_rate)
    if kind == "mfcc+envelope":
        return np.hstack([_mfcc(mel), 1.5 * _envelope(mel)])
    if kind == "mfcc":
        return _mfcc(mel)
    if kind == "logmel":
        mel = mel - mel.mean(axis=0)
        return mel / (mel.std() + 1e-3)
    if kind == "envelope":
        return _envelope(mel)
    raise ValueError(f"unknown feature kind {kind!r}")


def _mfcc(mel: np.ndarray) -> np.ndarray:
    ceps = mel @ _dct_matrix().T
    ceps = ceps - ceps.mean(axis=0)
    return ceps / (ceps.std(axis=0) + 1e-3)


def _envelope(mel: np.ndarray) -> np.ndarray:
    groups = np.array_split(np.arange(mel.shape[1]), 4)
    env = np.stack([mel[:, g].mean(axis=1) for g in groups], axis=1)
    env = env - env.mean(axis=0)
    return env / (env.std(axis=0) + 1e-3)


# --- dynamic time warping -----------------------------------------------------------


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance between every frame of `a` and of `b`, divided by sqrt(dims)."""
    aa = np.sum(a * a, axis=1)[:, None]
    bb = np.sum(b * b, axis=1)[None, :]
    d2 = np.maximum(aa + bb - 2.0 * (a @ b.T), 0.0)
    return np.sqrt(d2 / a.shape[1]).astype(np.float32)


def dtw_path(
    cost: np.ndarray,
    band: Optional[int] = None,
    penalty: float = STEP_PENALTY,
    row_penalty: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, float]:
    """The cheapest monotone path through `cost` (n x m) from (0, 0) to (n-1, m-1).

    Steps (1,1), (1,0) and (0,1); a horizontal or vertical step pays `penalty` on
    top of the cell it enters. Rows are done one at a time in numpy: the
    within-row recursion D[i,j] = min(F[j], D[i,j-1] + C[i,j] + p) is a running
    minimum of F[k] - S[k] plus S[j], where S is the row's cumulative cost
    (`np.minimum.accumulate`), so the Python loop runs n times, not n*m.

    `row_penalty` (one per row) replaces `penalty` for horizontal steps, so some
    rows (inserted pauses) can stretch over many columns for free.

    `band` (frames) keeps the path within that distance of the straight line from
    corner to corner, for memory and time on long audio. Returns the path as an
    (L, 2) array of (i, j) and the mean cost of its cells (penalties left out).
    """
    n, m = cost.shape
    slope = (m - 1) / max(1, n - 1)
    if band is None:
        band = max(n, m)
    lows = np.empty(n, dtype=np.int64)
    highs = np.empty(n, dtype=np.int64)
    for i in range(n):
        centre = i * slope
        lows[i] = max(0, int(np.floor(centre - band)))
        highs[i] = min(m, int(np.ceil(centre + band)) + 1)
    highs[-1] = m
    lows[0] = 0
    # Each row's band must reach back to the previous row's.
    lows = np.minimum(lows, np.concatenate([[0], highs[:-1] - 1]))

    inf = np.inf
    previous = np.full(m + 1, inf)  # D[i-1, j] at index j + 1; index 0 is D[i-1, -1]
    starts: list[np.ndarray] = []  # per row: start k of the horizontal run ending at j
    verticals: list[np.ndarray] = []  # per row: True when the run was entered vertically
    for i in range(n):
        lo, hi = lows[i], highs[i]
        row = cost[i, lo:hi].astype(np.float64)
        if i == 0:
            diagonal = np.full(hi - lo, inf)
            diagonal[0] = 0.0 if lo == 0 else inf
            vertical = np.full(hi - lo, inf)
        else:
            diagonal = previous[lo : hi]  # D[i-1, j-1]
            vertical = previous[lo + 1 : hi + 1] + penalty  # D[i-1, j]
        from_vertical = vertical < diagonal
        entry = np.where(from_vertical, vertical, diagonal) + row
        if i == 0:
            entry[0] = row[0]
            from_vertical[0] = False
        running = np.cumsum(row + (penalty if row_penalty is None else row_penalty[i]))
        shifted = entry - running
        best = np.minimum.accumulate(shifted)
        # Position where the running minimum was last improved (ties keep the earliest).
        improved = np.concatenate([[True], shifted[1:] < best[:-1]])
        start = np.maximum.accumulate(np.where(improved, np.arange(hi - lo), 0))
        current = np.full(m + 1, inf)
        current[lo + 1 : hi + 1] = best + running
        starts.append((start + lo).astype(np.int32))
        verticals.append(from_vertical)
        previous = current

    # Back-track: in row i, a horizontal run from k to j, entered at k diagonally or vertically.
    path: list[tuple[int, int]] = []
    i, j = n - 1, m - 1
    while True:
        k = int(starts[i][j - lows[i]])
        for col in range(j, k - 1, -1):
            path.append((i, col))
        if i == 0:
            break
        if verticals[i][k - lows[i]]:
            i, j = i - 1, k
        else:
            i, j = i - 1, k - 1
    path_array = np.asarray(path[::-1], dtype=np.int64)
    return path_array, float(np.mean(cost[path_array[:, 0], path_array[:, 1]]))


def _edge_map(path: np.ndarray, n: int) -> np.ndarray:
    """Target frame edge for every reference frame edge 0..n (edge e lies between frames e-1 and e).

    Edge e maps half-way between the end of the last target frame matched to
    reference frame e-1 and the start of the first matched to e: the same edge
    after a diagonal step, the middle of the shared target frame after a vertical
    one. A run of target frames held on one reference frame stays with that frame.
    """
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, -1)
    np.minimum.at(first, path[:, 0], path[:, 1])
    np.maximum.at(last, path[:, 0], path[:, 1])
    edges = np.empty(n + 1)
    edges[0] = 0.0
    edges[n] = last[n - 1] + 1.0
    edges[1:n] = (last[:-1] + 1.0 + first[1:]) / 2.0
    return edges


def _contiguous(bounds: np.ndarray, duration: float, shortest: float = 0.01) -> np.ndarray:
    """Boundaries 0 = b0 < b1 < ... < bn = duration, each gap at least `shortest` when there is room."""
    b = np.asarray(bounds, dtype=np.float64).copy()
    count = len(b) - 1
    shortest = min(shortest, duration / max(1, 2 * count))
    b[0], b[-1] = 0.0, duration
    b = np.maximum.accumulate(np.clip(b, 0.0, duration))
    for k in range(1, count + 1):
        b[k] = max(b[k], b[k - 1] + shortest)
    b[-1] = duration
    for k in range(count - 1, 0, -1):
        b[k] = min(b[k], b[k + 1] - shortest)
    return b


# --- the aligners ------------------------------------------------------------------


def _pause_points(reference: Speech) -> list[float]:
    """Reference times where the target may hold a pause the reference lacks.

    The start, the end, and the middle of every PAUSE entry inside the timeline:
    Piper runs words together (its word gaps are ~50 ms of continuing sound),
    while a cloned voice may stop between them. Without a silent reference
    frame to match, a target pause is given to the sound before or after it.
    """
    inner = [(p.start + p.end) / 2 for p in reference.phonemes[1:-1] if p.ipa == PAUSE]
    return [0.0] + inner + [reference.duration]


def _with_pause_frames(
    ref_features: np.ndarray, target_features: np.ndarray, points: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference features with one "silence" frame inserted at each of `points`, the
    reference time of every frame edge of the result (an inserted frame has zero
    length), and which rows were inserted.

    The inserted frame is the target's own quietest frame, so a pause in the target
    matches it at almost no cost whatever its noise floor; where the target has no
    pause the path crosses it in one step and pays one frame of mismatch.
    """
    quietest = target_features[int(np.argmin(target_features[:, 0]))][None, :]
    n = len(ref_features)
    positions = sorted({min(n, max(0, int(round(t * FEATURE_RATE)))) for t in points})
    rows: list[np.ndarray] = []
    inserted: list[np.ndarray] = []
    edges: list[np.ndarray] = [np.zeros(1)]
    previous = 0
    for position in positions + [None]:
        stop = n if position is None else position
        rows.append(ref_features[previous:stop])
        inserted.append(np.zeros(stop - previous, dtype=bool))
        edges.append((np.arange(previous, stop) + 1.0) / FEATURE_RATE)
        if position is not None:
            rows.append(quietest)
            inserted.append(np.ones(1, dtype=bool))
            edges.append(np.array([position / FEATURE_RATE]))
        previous = stop
    return np.concatenate(rows), np.concatenate(edges), np.concatenate(inserted)


def _dtw_align(
    speech: Speech, text: str, language: str, kind: str = FEATURES, pause_frames: bool = True
) -> tuple[TextAlignment, float]:
    """Align by warping the Piper reference onto `speech`; also returns the path's mean cost."""
    reference = reference_speech(text, language)
    if reference.phonemes is None:
        return TextAlignment(None, [], "loudness", "The text could not be turned into timed phonemes."), float("nan")
    ref_features = features(reference.samples, reference.sample_rate, kind)
    target_features = features(speech.samples, speech.sample_rate, kind)
    if pause_frames:
        ref_features, ref_edges, inserted = _with_pause_frames(
            ref_features, target_features, _pause_points(reference)
        )
    else:
        ref_edges = np.arange(len(ref_features) + 1) / FEATURE_RATE
        inserted = np.zeros(len(ref_features), dtype=bool)
    cost = _distances(ref_features, target_features)
    band = int(max(BAND_MIN_S * FEATURE_RATE, BAND_SHARE * max(cost.shape)))
    row_penalty = np.where(inserted, 0.0, STRETCH_PENALTY)
    path, mean_cost = dtw_path(cost, band, STEP_PENALTY, row_penalty)
    target_edges = _edge_map(path, len(ref_features)) / FEATURE_RATE
    duration = speech.duration

    def mapped(times: np.ndarray) -> np.ndarray:
        return np.clip(np.interp(times, ref_edges, target_edges), 0.0, duration)

    bounds = np.array([p.start for p in reference.phonemes] + [reference.phonemes[-1].end])
    bounds = _contiguous(mapped(bounds), duration)
    phonemes = [Phoneme(p.ipa, float(a), float(b)) for p, a, b in zip(reference.phonemes, bounds[:-1], bounds[1:])]

    words: list[Word] = []
    if reference.words:
        starts = mapped(np.array([w.start for w in reference.words]))
        ends = np.maximum(mapped(np.array([w.end for w in reference.words])), starts)
        words = [Word(w.text, float(a), float(b)) for w, a, b in zip(reference.words, starts, ends)]
    return TextAlignment(phonemes, words, "dtw"), mean_cost


def _forced_align(speech: Speech, text: str, progress: Optional[Progress]) -> TextAlignment:
    from avatar.speech.recognize import align_recording

    result = align_recording(speech, transcript=text, progress=progress)
    if result.phonemes is None:
        return TextAlignment(None, [], "loudness", result.reason)
    return TextAlignment(result.phonemes, result.words, "forced")


def align_to_text(
    speech: Speech,
    text: str,
    *,
    language: str = "en",
    progress: Optional[Progress] = None,
    method: str = "dtw",
) -> TextAlignment:
    """Time the phonemes and words of `text` in `speech`, which is known to say it in `language`.

    See the module docstring for how and how well; `method="forced"` (English
    only) uses pocketsphinx forced alignment instead, for comparison. Raises InputError for an
    unknown language code or text with nothing speakable; silent audio, and audio
    far from speech (noise, hum), give method "loudness" with `phonemes` None and
    a reason in `detail`. Stereo is mixed to mono.
    """
    voice_name = espeak_voice(language)
    if method not in ("dtw", "forced"):
        raise ValueError(f"unknown alignment method {method!r}")
    if method == "forced" and voice_name != ESPEAK_VOICES["en"]:
        raise InputError("Forced alignment works for English only; use the default method for other languages.")
    text = check_text(text)
    report(progress, _STAGE, 0.0)
    samples = np.asarray(speech.samples, dtype=np.float32)
    if samples.ndim == 2:  # (n, channels) or (channels, n): average the short axis
        samples = samples.mean(axis=int(np.argmin(samples.shape)))
    samples = samples.reshape(-1)
    speech = Speech(samples, speech.sample_rate)
    if samples.size == 0 or float(np.max(np.abs(samples))) < SILENT_PEAK:
        report(progress, _STAGE, 1.0)
        return TextAlignment(None, [], "loudness", "The audio is silent, so there is nothing to align the text to.")
    if method == "forced":
        result = _forced_align(speech, text, progress)
    else:
        result, mean_cost = _dtw_align(speech, text, language)
        if result.phonemes is not None and not mean_cost <= COST_THRESHOLD:
            result = TextAlignment(
                None, [], "loudness",
                f"The audio does not sound like the text spoken (alignment cost {mean_cost:.2f}, "
                f"speech stays under {COST_THRESHOLD:.2f}), so the mouth follows its loudness.",
            )
    report(progress, _STAGE, 1.0)
    return result
