"""Checking a voice sample before a cloning model copies the speaker from it.

`check_voice_sample(source)` decodes the upload (any format `media.load_audio`
reads) and refuses, each with one sentence saying what to do, a sample that is:

1. unreadable or not audio (load_audio's own messages);
2. shorter than `MIN_SAMPLE_S` or longer than `MAX_SAMPLE_S`;
3. silent, or with less than `MIN_SPEECH_S` of sound in it;
4. clipped: more than `MAX_CLIPPED_SHARE` of its samples in runs of 3 or more at
   full scale (distortion the model would copy into the voice);
5. noise or music rather than speech.

Features (10 ms hop, 25 ms Hann window, at the file's own rate; `sample_report`):

- *sound*: frames louder than both -50 dBFS and 30 dB under the loud frames
  (95th percentile); *pauses*: frames 25 dB under the loud frames;
- *flatness*: median spectral flatness (geometric / arithmetic mean of the power
  spectrum, 100-4000 Hz) over the sound frames; noise is flat, voices and
  instruments are not;
- *steady*: share of sound frames inside a run of 250 ms or more in which the
  strongest 80-1000 Hz peak stays within 3 %: a held note. Speech glides.

Measured (8 s files unless noted; synthetic signals are made with numpy, three
seeds each, as no recorded music is available offline):

| input | sound s | pauses | flatness | steady |
| --- | --- | --- | --- | --- |
| RD_Radio31_000 / RD_Radio34_002 (real speech) | 6.9 / 5.5 | 0.16 / 0.36 | 0.013 / 0.036 | 0 / 0 |
| their 4 s halves | 2.6-3.6 | 0.14-0.39 | 0.010-0.047 | 0 |
| the same with white noise at 10 dB SNR | 8.0 | 0.00 | 0.13 / 0.28 | 0 |
| Piper speech, four sentences (3-5 s each) | 3.3-4.1 | 0.26-0.31 | 0.011-0.020 | 0 |
| harmonic notes on a beat | 8.0 | 0 | 0.000 | 0.87-0.99 |
| chords held 2 s | 8.0 | 0 | 0.000 | 0.25-0.75 |
| sustained pad | 8.0 | 0 | 0.000 | 0 |
| melody with vibrato | 7.8 | 0.02 | 0.001-0.002 | 0 |
| white / pink noise | 8.0 | 0 | 0.57 / 0.38 | 0 |

Clipping (share of samples in full-scale runs): the real recordings 0.17 % and
0.02 % (broadcast audio is limited hard), the same made 3x louder 9.9 % and 3.1 %,
8x louder 36 % and 20 %; `MAX_CLIPPED_SHARE` is 1 %.

Rules, with their margins: noise when flatness > `NOISE_FLATNESS` (0.33; noisy
speech at most 0.28, pink noise 0.38); music when steady > `MUSIC_STEADY` (0.15;
speech 0, chords at least 0.25), or flatness < `TONAL_FLATNESS` (0.005; speech at
least 0.010, music at most 0.002), or when it never pauses (pauses <
`MIN_PAUSES`, 0.05; clean speech at least 0.14) while not noisy (flatness < 0.1).
Real music is less pure than these signals; a sample that slips through is still
only a voice the model copies badly, and the user hears it in the preview.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from avatar.errors import InputError
from avatar.media import load_audio

MIN_SAMPLE_S = 6.0
MAX_SAMPLE_S = 30.0
MIN_SPEECH_S = 3.0
MAX_CLIPPED_SHARE = 0.01
NOISE_FLATNESS = 0.33
TONAL_FLATNESS = 0.005
MUSIC_STEADY = 0.15
MIN_PAUSES = 0.05

_RECORD = f"record {MIN_SAMPLE_S:.0f} to {MAX_SAMPLE_S:.0f} s of one person speaking clearly, with no music"
_SILENT_DBFS = -50.0
_FULL_SCALE = 0.99


@dataclass(frozen=True)
class VoiceSample:
    """A checked voice sample: mono float32 samples, and a key for caching what a model makes of it."""

    samples: np.ndarray
    sample_rate: int
    sha256: str  # of the decoded samples and their rate: the same audio under another name has the same key
    name: str

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True)
class _Features:
    sound_s: float
    pauses: float
    flatness: float
    steady: float
    clipped: float


def check_voice_sample(source, name: Optional[str] = None) -> VoiceSample:
    """Decode and check a voice sample (see the module docstring); InputError says what is wrong."""
    speech = load_audio(source, max_seconds=10 * MAX_SAMPLE_S, name=name)
    name = Path(name or getattr(source, "name", None) or (source if isinstance(source, (str, Path)) else "sample")).name
    seconds = speech.duration
    if not MIN_SAMPLE_S <= seconds <= MAX_SAMPLE_S:
        raise InputError(f"The voice sample {name} is {seconds:.1f} s long; {_RECORD}.")
    features = _features(speech.samples, speech.sample_rate)
    if features.sound_s < MIN_SPEECH_S:
        what = "silent" if features.sound_s == 0 else f"almost silent ({features.sound_s:.1f} s of sound)"
        raise InputError(f"The voice sample {name} is {what}; {_RECORD}.")
    if features.clipped > MAX_CLIPPED_SHARE:
        raise InputError(f"The voice sample {name} is clipped ({features.clipped:.1%} of it at full scale); "
                         "record it again with the microphone level lower.")
    if features.flatness > NOISE_FLATNESS:
        raise InputError(f"The voice sample {name} sounds like noise rather than speech; {_RECORD}.")
    if _sounds_like_music(features):
        raise InputError(f"The voice sample {name} sounds like music rather than speech; {_RECORD}.")
    samples = np.ascontiguousarray(speech.samples, dtype=np.float32)
    digest = hashlib.sha256(samples.tobytes() + str(speech.sample_rate).encode()).hexdigest()
    return VoiceSample(samples=samples, sample_rate=speech.sample_rate, sha256=digest, name=name)


def sample_report(sample: VoiceSample) -> dict[str, float]:
    """The measured features of a checked sample, for the job's manifest."""
    features = _features(sample.samples, sample.sample_rate)
    return {key: round(float(value), 4) for key, value in features.__dict__.items()}


def _sounds_like_music(features: _Features) -> bool:
    return (features.steady > MUSIC_STEADY or features.flatness < TONAL_FLATNESS
            or (features.pauses < MIN_PAUSES and features.flatness < 0.1))


def _features(samples: np.ndarray, sample_rate: int) -> _Features:
    hop, window = sample_rate // 100, int(0.025 * sample_rate)
    count = 1 + max(0, (len(samples) - window) // hop)
    frames = samples[np.arange(window)[None, :] + hop * np.arange(count)[:, None]] * np.hanning(window)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.percentile(level, 95)
    sound = level > max(_SILENT_DBFS, loud - 30)
    pauses = float(np.mean(level < loud - 25))
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(window, 1 / sample_rate)
    band = power[:, (freqs > 100) & (freqs < 4000)]
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    low = (freqs > 80) & (freqs < 1000)
    peak = freqs[low][np.argmax(power[:, low], axis=1)]
    return _Features(
        sound_s=float(np.sum(sound)) / 100 if loud > _SILENT_DBFS else 0.0,
        pauses=pauses,
        flatness=float(np.median(flatness[sound])) if sound.any() else 1.0,
        steady=float(np.mean(_held_notes(peak, sound)[sound])) if sound.any() else 0.0,
        clipped=_clipped_share(samples),
    )


def _held_notes(peak: np.ndarray, sound: np.ndarray, frames: int = 25) -> np.ndarray:
    """Frames inside a run of `frames` or more sound frames whose strongest low peak stays within 3 %."""
    same = sound[1:] & sound[:-1] & (np.abs(np.diff(peak)) <= 0.03 * peak[:-1])
    held = np.zeros(len(peak), bool)
    start = 0
    for index in range(len(same) + 1):
        if index == len(same) or not same[index]:
            if index + 1 - start >= frames:
                held[start:index + 1] = True
            start = index + 1
    return held


def _clipped_share(samples: np.ndarray) -> float:
    """Share of samples in runs of 3 or more at full scale."""
    at_full = np.abs(samples) >= _FULL_SCALE
    if not at_full.any():
        return 0.0
    padded = np.concatenate([[False], at_full, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    lengths = edges[1::2] - edges[::2]
    return float(np.sum(lengths[lengths >= 3])) / len(samples)
