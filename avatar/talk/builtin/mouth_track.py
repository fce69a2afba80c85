"""The mouth track: five mouth parameters per video frame, derived from speech.

Two sources, one result:

- **Phonemes** (typed text spoken by TTS). Each phoneme's viseme is held for the
  phoneme's duration on a fine 200 Hz grid, then smoothed with a short Gaussian so
  neighbouring sounds blend into each other (coarticulation: the lips round for
  the "oo" while still on the "t" of "two"). Smoothing would also blur a short
  "m" into a half-open mouth, but real lips must touch on p/b/m and the lower lip
  must reach the teeth on f/v, so those contacts are then pinned back to their
  full value around the sound's centre, wide enough that at least one video frame
  lands on them.
- **Audio** (uploaded recordings have no phonemes). The jaw follows the loudness
  of the speech band (300-3400 Hz) in dB between a noise gate and a robust peak
  (95th percentile), so silence closes the mouth and a loud recording does not
  hold it wide open. The balance of high to low speech-band energy, relative to
  the speaker's own median, moves the lips towards spread ("ee", "s") or rounded
  ("oo", "w"). Attack is fast and release slower, as with a real jaw.

In both cases the mouth leads the sound by `lead` seconds (the lips take their
shape before the sound comes out), and `energy` (0..1, not led) is returned for
the engine's head motion: the speech-band loudness for recordings, the smoothed
voicing of the phonemes for TTS.

The phoneme path works on a window of the timeline around the frames asked for,
so a track can be built piece by piece while speech is still being synthesized:
any frame whose neighbourhood (`LOOKAHEAD` seconds) is known gets exactly the
values it would get from the whole timeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from avatar.errors import InputError
from avatar.speech.timeline import Phoneme, Speech
from avatar.talk.engine import frame_count
from avatar.talk.visemes import MOUTH_PARAMS, REST, MouthShape, is_silence, viseme

__all__ = ["MOUTH_PARAMS", "MouthTrack", "frame_count", "is_silent", "mouth_track"]

_OPEN, _WIDE, _ROUND, _CLOSED, _TEETH = range(len(MOUTH_PARAMS))

# Phoneme path.
FINE_RATE = 200.0
"""Samples per second of the grid on which visemes are blended."""
COARTICULATION_SIGMA = 0.05
"""Standard deviation (s) of the blending kernel; about 120 ms at half height.

Calibrated on real speakers: their inner-lip gap moves at the syllable rate
(spectral centroid 1.1-2.5 Hz, 1.2-2.4 opening peaks per second), while a 20 ms
kernel followed every phoneme (centroid 2.6-4 Hz, 2.4-3.6 peaks per second).
"""
CONTACT_RAMP = 0.08
"""Time (s) the lips take to move into or out of a pinned contact (p/b/m, f/v)."""
VOICING_SIGMA = 0.04
"""Smoothing (s) of the voicing curve that stands in for loudness with phonemes."""
WINDOW_MARGIN = 0.5
"""Timeline (s) evaluated beyond the frames asked for: covers blending, contacts and lead."""
LOOKAHEAD = WINDOW_MARGIN + 0.1
"""Seconds of timeline needed after a frame's time before its values are final."""

# Audio path.
ENVELOPE_RATE = 100.0
"""Analysis frames per second of the audio envelope."""
ENVELOPE_WINDOW = 0.032
"""Analysis window (s): long enough to resolve the 300 Hz band edge."""
SPEECH_BAND = (300.0, 3400.0)
SPLIT_HZ = 1000.0
"""Low part of the speech band holds F1 and the low F2 of rounded vowels; high holds spread vowels' F2 and hiss."""
DYNAMIC_RANGE_DB = 30.0
"""Loudness span mapped onto the jaw: anything 30 dB below the speaker's peaks is closed."""
GATE_ABOVE_NOISE_DB = 6.0
ABSOLUTE_FLOOR_DB = -70.0
"""Band level (dB re full scale) under which nothing counts as speech."""
ATTACK = 0.03
RELEASE = 0.08
"""Time constants (s) of the loudness follower: a jaw opens quickly and closes more slowly."""
GATE_RELEASED = 0.03
"""Follower level under which the mouth counts as shut (an exponential decay never reaches 0)."""
AUDIO_MAX_OPEN = 0.85
"""Jaw opening at the speaker's loud peaks; without phonemes we cannot tell "ah" from "ee"."""
WIDE_TILT = 0.4
ROUND_TILT = 0.15
"""Tilt (high-band share above the speaker's median) giving fully spread / fully rounded lips.

Asymmetric because the share is skewed: "ee" and hiss push it up by 0.3-0.6, while
"oo", "oh" and "w" lower it by only 0.1-0.2 (measured on the fixture and on Piper).
"""

# Silence check.
SILENT_PEAK = 10 ** (-50 / 20)
SILENT_RMS = 10 ** (-60 / 20)


@dataclass
class MouthTrack:
    """Mouth parameters for every video frame.

    `values[i, k]` is parameter `MOUTH_PARAMS[k]` (0..1) for frame i, shown at time
    i / fps. `energy[i]` is the speech loudness around frame i (0..1).
    """

    values: np.ndarray  # (n_frames, 5) float32
    fps: float
    energy: np.ndarray  # (n_frames,) float32

    @property
    def n_frames(self) -> int:
        return int(self.values.shape[0])

    def param(self, name: str) -> np.ndarray:
        """One parameter's curve by name, e.g. `track.param("open")`."""
        return self.values[:, MOUTH_PARAMS.index(name)]


def mouth_track(
    speech: Speech,
    fps: float = 25.0,
    lead: float = 0.05,
    expression_scale: float = 1.0,
    frames: range | None = None,
) -> MouthTrack:
    """The mouth track of `speech` at `fps`, from its phonemes when it has them, else its audio.

    `lead` (s) moves the mouth earlier than the sound; `expression_scale` scales how
    far the mouth opens, spreads and rounds (contacts such as closed lips stay full).
    `frames` limits the track to those frame indices (default: all frames of the
    audio); with phonemes, only the timeline is read then, not the samples.
    """
    _check_options(fps, lead, expression_scale)
    if frames is None:
        frames = range(frame_count(len(speech.samples) / float(speech.sample_rate), fps))
    frame_times = np.arange(frames.start, frames.stop, dtype=np.float64) / fps

    if speech.phonemes is not None:
        values, energy = _phoneme_values(speech.phonemes, frame_times, lead, fps)
    else:
        envelope = _Envelope.of(_mono(speech.samples), speech.sample_rate)
        energy = envelope.sample(envelope.level, frame_times)
        values = _audio_values(envelope, frame_times + lead)

    values[:, [_OPEN, _WIDE, _ROUND]] *= expression_scale
    values = np.clip(values, 0.0, 1.0).astype(np.float32)
    return MouthTrack(values=values, fps=float(fps), energy=np.clip(energy, 0.0, 1.0).astype(np.float32))


def is_silent(speech: Speech) -> bool:
    """True when the audio holds nothing audible (peak under -50 dBFS or RMS under -60 dBFS)."""
    samples = _mono(speech.samples)
    if samples.size == 0:
        return True
    peak = float(np.max(np.abs(samples)))
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return peak < SILENT_PEAK or rms < SILENT_RMS


def _check_options(fps: float, lead: float, expression_scale: float) -> None:
    if not (math.isfinite(fps) and 1.0 <= fps <= 120.0):
        raise InputError(f"The frame rate {fps} is outside 1..120 frames per second; use 25.")
    if not (math.isfinite(lead) and 0.0 <= lead <= 0.5):
        raise InputError(f"The mouth lead {lead} s is outside 0..0.5 s; use 0.05.")
    if not (math.isfinite(expression_scale) and 0.0 <= expression_scale <= 2.0):
        raise InputError(f"The expression scale {expression_scale} is outside 0..2; use 1.0.")


def _mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    return samples.mean(axis=1) if samples.ndim == 2 else samples.reshape(-1)


# --- from phonemes -------------------------------------------------------------


def _phoneme_values(phonemes: Sequence[Phoneme], frame_times: np.ndarray, lead: float,
                    fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Mouth values (led) and voicing energy (not led) at `frame_times`, from the timeline."""
    if len(frame_times) == 0:
        return np.zeros((0, len(MOUTH_PARAMS))), np.zeros(0)
    first = max(0, int(np.floor((frame_times[0] - WINDOW_MARGIN) * FINE_RATE)))
    last = int(np.ceil((frame_times[-1] + lead + WINDOW_MARGIN) * FINE_RATE)) + 1
    grid_times, curves, voicing = _phoneme_curves(phonemes, fps, first, last)
    values = np.stack(
        [np.interp(frame_times + lead, grid_times, curves[:, k], left=0.0, right=0.0) for k in range(len(MOUTH_PARAMS))],
        axis=1,
    )
    return values, np.interp(frame_times, grid_times, voicing)


def _phoneme_curves(phonemes: Sequence[Phoneme], fps: float, first: int, last: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blended viseme curves and voicing on fine-grid indices [first, last).

    Indices are absolute (index i is time i / FINE_RATE), so a window's values are
    exactly those of the whole timeline wherever the window reaches far enough.
    """
    times = np.arange(first, last) / FINE_RATE
    targets = np.zeros((last - first, len(MOUTH_PARAMS)), dtype=np.float64)  # REST outside phonemes
    voiced = np.zeros(last - first)
    nearby = [p for p in phonemes if p.end >= times[0] - 1.0 and p.start <= times[-1] + 1.0]
    for phoneme in nearby:
        start, end = (min(max(i - first, 0), last - first) for i in _grid_span(phoneme))
        shape = viseme(phoneme.ipa)
        targets[start:end] = shape.as_array()
        voiced[start:end] = 0.0 if shape == REST and is_silence(phoneme.ipa) else 1.0

    from scipy.ndimage import gaussian_filter1d  # loaded on first use: scipy takes a while to import

    curves = gaussian_filter1d(targets, sigma=COARTICULATION_SIGMA * FINE_RATE, axis=0, mode="nearest")
    voicing = gaussian_filter1d(voiced, sigma=VOICING_SIGMA * FINE_RATE, mode="nearest")

    for phoneme in nearby:
        shape = viseme(phoneme.ipa)
        if shape.closed >= 1.0 or shape.teeth >= 1.0:
            _pin_contact(curves, times, phoneme, shape, fps)
    return times, curves, voicing


def _grid_span(phoneme: Phoneme) -> tuple[int, int]:
    """Fine-grid indices covered by a phoneme; at least one, so no sound is lost."""
    first = int(round(phoneme.start * FINE_RATE))
    return first, max(first + 1, int(round(phoneme.end * FINE_RATE)))


def _pin_contact(curves: np.ndarray, times: np.ndarray, phoneme: Phoneme, shape: MouthShape, fps: float) -> None:
    """Force the lip contact of p/b/m or f/v around the phoneme's centre.

    The weight is 1 over a flat top at least one video frame wide (so a frame always
    shows the contact, however short the sound) and falls off with a raised cosine
    over CONTACT_RAMP. Only jaw, lip closure and lip-to-teeth are pinned: width and
    rounding keep their coarticulated values ("m" before "oo" is already rounding).
    """
    centre = 0.5 * (phoneme.start + phoneme.end)
    flat = max(0.5 / fps + 1.0 / FINE_RATE, 0.35 * (phoneme.end - phoneme.start))
    distance = np.abs(times - centre)
    ramp = np.clip((distance - flat) / CONTACT_RAMP, 0.0, 1.0)
    weight = 0.5 * (1.0 + np.cos(np.pi * ramp))
    target = shape.as_array()
    for k in (_OPEN, _CLOSED, _TEETH):
        curves[:, k] = curves[:, k] * (1.0 - weight) + target[k] * weight


# --- from audio ----------------------------------------------------------------


@dataclass
class _Envelope:
    """Speech-band loudness (0..1, gated and smoothed) and spectral tilt per analysis frame."""

    times: np.ndarray
    level: np.ndarray
    tilt: np.ndarray  # high-band share minus the speaker's median share, about -0.5..0.5

    @classmethod
    def of(cls, samples: np.ndarray, sample_rate: int) -> "_Envelope":
        band_power, high_share = _band_powers(samples, sample_rate)
        hop = 1.0 / ENVELOPE_RATE
        times = np.arange(len(band_power)) * hop
        if len(band_power) == 0:
            empty = np.zeros(0)
            return cls(times, empty, empty)

        db = 10.0 * np.log10(band_power + 1e-12)
        peak = float(np.percentile(db, 95))
        noise = float(np.percentile(db, 10))
        gate = max(peak - DYNAMIC_RANGE_DB, noise + GATE_ABOVE_NOISE_DB, ABSOLUTE_FLOOR_DB)
        if peak <= gate:  # nothing stands out of the noise: all silence
            level = np.zeros_like(db)
        else:
            level = np.clip((db - gate) / (peak - gate), 0.0, 1.0)
        level = _attack_release(level, ATTACK, RELEASE, ENVELOPE_RATE)
        level[level < GATE_RELEASED] = 0.0  # the follower only decays; shut it once it is near zero

        voiced = level > 0.2
        median_share = float(np.median(high_share[voiced])) if np.any(voiced) else 0.5
        from scipy.ndimage import gaussian_filter1d

        tilt = gaussian_filter1d(high_share - median_share, sigma=4.0, mode="nearest")
        return cls(times, level, tilt)

    def sample(self, curve: np.ndarray, at: np.ndarray) -> np.ndarray:
        """A curve at arbitrary times, held at its end values outside the audio.

        Holding (not dropping to silence) matters at the end: with the lead, the last
        frames look past the audio, and a recording cut off mid-word would otherwise
        snap the mouth shut in one frame.
        """
        if len(self.times) == 0:
            return np.zeros(len(at))
        return np.interp(at, self.times, curve)


def _band_powers(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean power in the speech band and the share of it above SPLIT_HZ, per analysis frame.

    Frames are centred on multiples of the hop so frame j describes time j / ENVELOPE_RATE.
    Work goes in blocks so memory stays flat for long recordings.
    """
    hop = sample_rate / ENVELOPE_RATE
    size = 1 << int(math.ceil(math.log2(ENVELOPE_WINDOW * sample_rate)))
    n_frames = int(math.ceil(len(samples) / hop)) if len(samples) else 0
    padded = np.pad(samples.astype(np.float64), (size // 2, size))
    window = np.hanning(size)
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    top = min(SPEECH_BAND[1], 0.45 * sample_rate)
    in_band = (freqs >= SPEECH_BAND[0]) & (freqs <= top)
    high = in_band & (freqs >= SPLIT_HZ)
    # Parseval: bin power -> mean square of the windowed band signal.
    scale = 2.0 / (size * np.sum(window**2))

    power = np.zeros(n_frames)
    share = np.full(n_frames, 0.5)
    starts = np.round(np.arange(n_frames) * hop).astype(np.int64)
    for block in range(0, n_frames, 1024):
        idx = starts[block : block + 1024, None] + np.arange(size)[None, :]
        spectrum = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
        band = spectrum[:, in_band].sum(axis=1)
        power[block : block + 1024] = band * scale
        share[block : block + 1024] = spectrum[:, high].sum(axis=1) / np.maximum(band, 1e-20)
    return power, share


def _attack_release(level: np.ndarray, attack: float, release: float, rate: float) -> np.ndarray:
    """One-pole follower that rises with time constant `attack` and falls with `release`."""
    rise = 1.0 - math.exp(-1.0 / (attack * rate))
    fall = 1.0 - math.exp(-1.0 / (release * rate))
    out = np.empty_like(level)
    state = 0.0
    for i, target in enumerate(level):
        state += (target - state) * (rise if target > state else fall)
        out[i] = state
    return out


def _audio_values(envelope: _Envelope, at: np.ndarray) -> np.ndarray:
    """Mouth parameters from loudness (jaw) and spectral tilt (spread vs rounded lips)."""
    level = envelope.sample(envelope.level, at)
    tilt = envelope.sample(envelope.tilt, at)
    values = np.zeros((len(at), len(MOUTH_PARAMS)))
    values[:, _OPEN] = AUDIO_MAX_OPEN * level
    values[:, _WIDE] = np.clip(tilt / WIDE_TILT, 0.0, 1.0) * level
    values[:, _ROUND] = np.clip(-tilt / ROUND_TILT, 0.0, 1.0) * level
    return values
