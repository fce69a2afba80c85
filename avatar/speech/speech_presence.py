"""Whether an uploaded recording is speech, before any recognition runs.

Speech of any language gets phoneme timing (`avatar.speech.recognize`); music,
noise and silence are animated from loudness. The decision uses the signal
features of the voice-sample check (`avatar.speech.voice_sample`, 25 ms frames
every 10 ms at 16 kHz): *flatness* (noise is flat), *modulation* (speech rises
and falls three to eight times a second, music and noise are sustained or move
at the beat) and *held* (instruments and singers hold a pitch for 200 ms and
more, speaking pitch glides), with the same thresholds.

Measured (`voice_sample._analyse`, whole clips):

| input | flatness | modulation | held |
| --- | --- | --- | --- |
| RD_Radio31_000 / RD_Radio34_002 (real English, 8 s) | 0.012 / 0.037 | 0.89 / 1.02 | 0 / 0 |
| their 4 s halves | 0.010-0.047 | 0.82-1.07 | 0 |
| the same with white noise at 10 dB SNR | 0.130 / 0.279 | 0.61 / 0.71 | 0 |
| real_talk sound tracks (anchor_office, man_map, woman_blue, woman_glasses; 5-7 s) | 0.007-0.032 | 0.85-1.07 | 0-0.07 |
| synthetic notes on a beat (3 seeds) | 0.000 | 0.72-0.74 | 0.98-0.99 |
| chords held 1-2 s | 0.000 | 0.15-0.17 | 0.41-0.57 |
| melody with vibrato | 0.000 | 0.15-0.17 | 0.92-0.93 |
| detuned pad | 0.000 | 0.20 | 0.83 |
| song (melody + chords + beat + noise floor) | 0.001 | 0.16-0.18 | 0.37-0.60 |
| white / pink noise | 0.57 / 0.39 | 0.06 / 0.07 | 0 |
| tests' legato tune over a held chord (3 seeds) | 0.0000002 | 0.56-0.58 | 0 |

Rules: noise when flatness > 0.33, music when held > 0.5, flatness <
`TONAL_FLATNESS` = 0.003 (pure tones) or modulation < 0.5. Every real speech clip
passes with margins of 0.05 (flatness, noisy speech), a factor of 2.3 (flatness,
tones), 0.11 (modulation) and 0.43 (held); every synthetic kind is refused by at
least one rule (the notes on a beat by held and tones, the tune over a chord by
tones only, which its beating with the chord lets through the other two). Silence, or
under `MIN_ACTIVE_S` of sound, is not speech.

Long recordings are judged in windows of `WINDOW_S`, at most `MAX_WINDOWS` of
them spread evenly (about 0.2 s of analysis per window); the recording is speech
when the windows that sound like speech hold more than half of the sound. Limits:
the music is synthetic; rap or speech over loud music may go either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar.speech.voice_sample import MIN_MODULATION, MUSIC_HELD, NOISE_FLATNESS, _analyse

__all__ = ["MAX_WINDOWS", "MIN_ACTIVE_S", "TONAL_FLATNESS", "WINDOW_S", "SpeechVerdict", "detect_speech"]

WINDOW_S = 20.0
MAX_WINDOWS = 8
TONAL_FLATNESS = 0.003
"""Flatter than noise is not enough: under this the sound is pure tones (speech measures 0.007 and up)."""
MIN_ACTIVE_S = 1.0
"""Less sound than this (frames above -50 dBFS and within 30 dB of the loud ones) holds no speech to time."""

_REASONS = {
    "noise": "the recording sounds like noise, not speech",
    "music": "the recording holds notes or pure tones like music, not speech",
    "steady": "the recording's loudness does not rise and fall with syllables as speech does (music or a steady sound)",
    "quiet": "the recording has too little sound to hold speech",
}


@dataclass(frozen=True)
class SpeechVerdict:
    """`speech` True, or False with `reason` (one sentence fragment, lower case)."""

    speech: bool
    reason: str = ""


def _window_kind(samples: np.ndarray, rate: int) -> tuple[str, float]:
    """("speech" | "noise" | "music" | "steady", seconds of sound) for one window."""
    features = _analyse(samples, rate)
    if features.flatness > NOISE_FLATNESS:
        kind = "noise"
    elif features.held > MUSIC_HELD or features.flatness < TONAL_FLATNESS:
        kind = "music"
    elif features.modulation < MIN_MODULATION:
        kind = "steady"
    else:
        kind = "speech"
    return kind, features.speech_s


def _window_signal(samples: np.ndarray) -> np.ndarray:
    """One window as float64; int16 PCM is read as value / 32768 (in float32 first, as it always was)."""
    if samples.dtype == np.int16:
        return (samples.astype(np.float32) / 32768.0).astype(np.float64)
    return np.asarray(samples, dtype=np.float64)


def detect_speech(samples: np.ndarray, sample_rate: int) -> SpeechVerdict:
    """Whether mono `samples` (float, or int16 PCM; any rate, 16 kHz is cheapest) hold speech.

    Only the windows judged are converted to float, so a long recording costs no
    more memory than a short one."""
    samples = np.asarray(samples).reshape(-1)
    size = int(WINDOW_S * sample_rate)
    count = max(1, math.ceil(len(samples) / size))
    picked = sorted({round(i * (count - 1) / max(1, MAX_WINDOWS - 1)) for i in range(min(count, MAX_WINDOWS))})
    weight: dict[str, float] = {}
    for index in picked:
        start = index * size if count > 1 else 0
        window = samples[start:start + size] if count > 1 else samples
        if count > 1 and len(window) < size // 2:  # a short tail: judge the last full window's length instead
            window = samples[max(0, len(samples) - size):]
        kind, active = _window_kind(_window_signal(window), sample_rate)
        weight[kind] = weight.get(kind, 0.0) + active
    total = sum(weight.values())
    if total * count / len(picked) < MIN_ACTIVE_S:
        return SpeechVerdict(False, _REASONS["quiet"])
    if weight.get("speech", 0.0) > total / 2:
        return SpeechVerdict(True)
    kind = max((k for k in weight if k != "speech"), key=lambda k: weight[k])
    return SpeechVerdict(False, _REASONS[kind])
