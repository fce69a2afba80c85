"""Checking a voice sample before a cloning model (XTTS-v2, YourTTS) copies the speaker.

A cloning model copies whatever it is given: hiss, distortion, a backing track.
It is also the slowest step of the job, so a sample that cannot work is refused
here, before anything heavy runs, with one sentence saying what is wrong and
what to record instead. `check_voice_sample(source)` runs the checks in this
order and stops at the first failure:

1. readable: an audio file `media.load_audio` accepts (wav, mp3, m4a, ogg, flac),
   not corrupt, with an audio track;
2. length: the whole file, pauses included, from `MIN_SAMPLE_S` (6 s) to
   `MAX_SAMPLE_S` (30 s), the range XTTS-v2 and YourTTS are meant to be given;
   the message says the measured length;
3. silent: at least `MIN_SPEECH_S` (3 s) of active frames;
4. clipped: at most `MAX_CLIPPED_SHARE` (1 %) of the samples in flat runs at full
   scale (a cloned voice copies the distortion and comes out harsh);
5. noise or music rather than speech.

Features (`_analyse`; the audio is first resampled to 16 kHz so that every rate
measures alike; 25 ms Hann frames every 10 ms; `sample_report` returns them):

- *active*: frames above -50 dBFS and within 30 dB of the loud frames (95th
  percentile of frame levels): the seconds the silence check counts.
- *flatness*: median spectral flatness (geometric / arithmetic mean of the power
  in 100-4000 Hz) over the active frames. Noise is flat; voices and instruments
  are peaky.
- *modulation*: how much the loudness moves at the syllable rate. In each of four
  bands (100-500, 500-1000, 1000-2000, 2000-4000 Hz) the band's amplitude envelope
  is band-passed to 2-8 Hz (by FFT) and its standard deviation divided by its mean;
  the four are averaged. Speech opens and closes three to eight times a second
  and pauses; music and noise are sustained, or move at the beat only.
- *held*: share of the voiced frames (within 20 dB of the loudest) that lie in a run of
  at least 200 ms in which the strongest 80-1000 Hz peak (64 ms frames,
  interpolated) moves by at most 1 % from frame to frame. Instruments and singers
  hold notes; speaking pitch glides all the time. Frames 20 dB under the voice are
  left out so that a mains hum or a fan whine in the pauses does not count.
- *clipped*: share of samples in runs of three or more at |x| >= 0.99 (in the
  file's own samples, before resampling).

Measured with this module's `_analyse` (a one-off script, not shipped). Real
speech: the two fixtures, 8 s, 16 kHz, and their 4 s halves. Piper: the bundled
voice, five 7.0-7.7 s texts (seed 0, 22050 Hz). Noisy speech: white noise at
30/20/10 dB SNR (fixtures and Piper), pink noise on RD_Radio31_000. Synthetic
signals are generated with numpy, seeds 0-2 (no recorded music is available
offline): plucked harmonic notes on a 90-150 bpm beat with kick and hat bursts;
triads held 1-2 s; a sustained detuned pad; a legato melody with 5.5 Hz vibrato
and portamento; a "song" mixing those three with a faint noise floor.

| input | active s | flatness | modulation | held |
| --- | --- | --- | --- | --- |
| RD_Radio31_000 / RD_Radio34_002 (real speech, 8 s) | 6.9 / 5.5 | 0.013 / 0.037 | 0.87 / 1.02 | 0 / 0 |
| their 4 s halves | 2.6-3.6 | 0.010-0.047 | 0.82-1.07 | 0 |
| the fixtures with 2 s of silence before and after (12 s) | 7.0 / 5.5 | 0.013 / 0.037 | 1.06 / 1.26 | 0 |
| Piper, five texts | 5.1-6.0 | 0.009-0.020 | 1.08-1.28 | 0 |
| speech + white/pink noise, 30 dB SNR (4 clips) | 5.5-7.0 | 0.015-0.050 | 0.85-1.10 | 0 |
| speech + white/pink noise, 20 dB (4) | 7.5-8.0 | 0.029-0.164 | 0.78-0.99 | 0 |
| speech + white/pink noise, 10 dB (4) | 7.5-8.0 | 0.075-0.276 | 0.59-0.77 | 0 |
| RD_Radio34_002 + 50 Hz hum at -10 dB / 1 kHz whine at -20 dB | 8.0 / 8.0 | 0.012 / 0.015 | 1.00 / 0.95 | 0.11 / 0 |
| the fixtures + the synthetic song 20 dB under the voice | 8.0 | 0.015-0.020 | 0.81-0.96 | 0 |
| ... 10 dB under the voice | 8.0 | 0.017 | 0.65-0.78 | 0.12-0.31 |
| notes on a beat | 8.0 | 0.000 | 0.35-0.41 | 0.97 |
| chords | 7.9 | 0.000-0.001 | 0.19-0.20 | 0.99-1.00 |
| sustained pad | 8.0 | 0.002-0.006 | 0.13-0.18 | 0.08-0.53 |
| melody with vibrato | 8.0 | 0.000 | 0.07-0.09 | 0.90-0.97 |
| song (melody + chords + beat + noise floor) | 8.0 | 0.005-0.006 | 0.08-0.09 | 0.88-0.95 |
| white / pink noise | 8.0 | 0.57 / 0.38 | 0.06 / 0.07 | 0 |

Clipped share: the fixtures 0.17 % / 0.02 % (broadcast audio, limited hard),
amplified x2 3.0 % / 0.9 %, x3 9.9 % / 3.1 %, x8 36 % / 20 %; Piper and the
synthetic signals 0.

Rules and their margins:

- silent: active < `MIN_SPEECH_S` = 3 s. Every 8 s speech clip has 5.1 s or more;
  a 4 s half can have 2.6 s, but halves are refused for length first. Steady
  background noise counts as active, so a noisy file with little speech in it
  passes this check and is left to the noise check.
- clipped: > `MAX_CLIPPED_SHARE` = 1 %. The cleanest real file is 0.17 %; doubling
  the louder fixture's level already gives 3 %.
- noise: flatness > `NOISE_FLATNESS` = 0.33 (speech at most 0.28, even at 10 dB
  SNR; pink noise 0.38, white 0.57).
- music: held > `MUSIC_HELD` = 0.5 (speech at most 0.31, and that with music
  10 dB under the voice; every synthetic kind except the pad at least 0.88), or
  modulation < `MIN_MODULATION` = 0.5 (speech at least 0.59, at 10 dB SNR;
  music at most 0.41, the pad 0.18): margins of about 0.09 on both sides. Each synthetic kind is caught by at least
  one rule; the notes on a beat, chords, melody and song by both.

Flatness does not separate music from speech well (music 0.000-0.006, speech from
0.009), so it is used for noise only. Limits: the music signals are synthetic and
purer than recorded music; rap, spoken word over a beat or a solo voice singing
with speech-like rhythm may pass, and speech over loud music may be refused as
music. A sample that slips through is still only a voice the model copies badly,
which the user hears in the preview. All features are plain arithmetic on the
samples: the same file always gives the same verdict.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from avatar.errors import InputError
from avatar.media import AudioSource, AudioTooLong, load_audio, read_source
from avatar.speech.timeline import Speech
from avatar.speech.resampling import resample

__all__ = [
    "MAX_CLIPPED_SHARE",
    "MAX_SAMPLE_S",
    "MIN_MODULATION",
    "MIN_SAMPLE_S",
    "MIN_SPEECH_S",
    "MUSIC_HELD",
    "NOISE_FLATNESS",
    "VoiceSample",
    "check_voice_sample",
    "sample_report",
]

MIN_SAMPLE_S: float = 6.0
MAX_SAMPLE_S: float = 30.0
MIN_SPEECH_S: float = 3.0
"""Fewer active seconds than this is "silent" or "almost silent"."""
MAX_CLIPPED_SHARE: float = 0.01
NOISE_FLATNESS: float = 0.33
MUSIC_HELD: float = 0.5
MIN_MODULATION: float = 0.5

DECODE_LIMIT_S: float = 10 * MAX_SAMPLE_S
"""Decoding stops here: a long file is refused for its length without being decoded in full."""

_RATE = 16000
_HOP = 160  # 10 ms
_FRAME = 400  # 25 ms
_PITCH_FRAME = 1024  # 64 ms: 15.6 Hz bins, interpolated, for the held-note peak
_SILENT_DBFS = -50.0
_FULL_SCALE = 0.99
_RECORD = f"record {MIN_SAMPLE_S:.0f} to {MAX_SAMPLE_S:.0f} s of one person speaking"


@dataclass(frozen=True)
class VoiceSample:
    """A checked voice sample: what a cloning model is given, and a key to cache its result by."""

    samples: np.ndarray  # mono float32 in [-1, 1]
    sample_rate: int
    sha256: str  # of the decoded samples (float32 bytes) and the rate: a renamed re-upload keeps its key
    name: str  # the file name as given, for messages and listings

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True)
class _Features:
    speech_s: float
    clipped: float
    flatness: float
    modulation: float
    held: float


def check_voice_sample(source: AudioSource, name: Optional[str] = None) -> VoiceSample:
    """Decode an uploaded voice sample and check it, in the order of the module docstring.

    `source` is a path, bytes or a file-like object (whatever `media.load_audio`
    takes). Raises `InputError` with one sentence at the first failed check.
    """
    data, given = read_source(source, "audio")
    name = Path(name or given or "").name
    speech = _decode(data, name)
    called = f" {name}" if name else ""
    seconds = speech.duration
    if seconds < MIN_SAMPLE_S or seconds > MAX_SAMPLE_S:
        raise InputError(f"The voice sample{called} is {seconds:.1f} s long; {_RECORD}.")
    features = _analyse(speech.samples, speech.sample_rate)
    if features.speech_s < MIN_SPEECH_S:
        what = "silent" if features.speech_s == 0 else f"almost silent ({features.speech_s:.1f} s of sound)"
        raise InputError(f"The voice sample{called} is {what}; {_RECORD} close to the microphone.")
    if features.clipped > MAX_CLIPPED_SHARE:
        raise InputError(
            f"The voice sample{called} is clipped ({features.clipped:.1%} of it at full scale), "
            "which the cloned voice would copy; record it again with the microphone level lower."
        )
    if features.flatness > NOISE_FLATNESS:
        raise InputError(f"The voice sample{called} sounds like noise rather than speech; {_RECORD} in a quiet room.")
    if features.held > MUSIC_HELD or features.modulation < MIN_MODULATION:
        raise InputError(f"The voice sample{called} sounds like music rather than speech; {_RECORD}, with no music.")
    samples = np.ascontiguousarray(speech.samples, dtype=np.float32)
    return VoiceSample(samples=samples, sample_rate=speech.sample_rate,
                       sha256=_audio_key(samples, speech.sample_rate), name=name or "sample")


def sample_report(sample: VoiceSample) -> dict[str, float]:
    """The measured features of a sample (seconds of speech, clipped share, flatness,
    modulation, held), rounded, for a job's manifest: what the checks saw."""
    features = _analyse(sample.samples, sample.sample_rate)
    return {key: round(float(value), 4) for key, value in asdict(features).items()}


def _audio_key(samples: np.ndarray, sample_rate: int) -> str:
    """sha256 of the float32 samples and the rate: the audio, not the file, so a re-encoded
    container or a new name of the same audio finds the same cached speaker."""
    digest = hashlib.sha256(np.ascontiguousarray(samples, dtype="<f4").tobytes())
    digest.update(str(int(sample_rate)).encode())
    return digest.hexdigest()


def _decode(data: bytes, name: str) -> Speech:
    """`media.load_audio` (same formats, same messages), except that a file longer than
    `DECODE_LIMIT_S` is refused with the voice-sample sentence, not the app-wide one."""
    try:
        return load_audio(data, max_seconds=DECODE_LIMIT_S, name=name or None)
    except AudioTooLong:
        called = f" {name}" if name else ""
        raise InputError(f"The voice sample{called} is longer than {DECODE_LIMIT_S:.0f} s; {_RECORD}.") from None


def _analyse(samples: np.ndarray, sample_rate: int) -> _Features:
    """The features of the module docstring, at 16 kHz."""
    clipped = _clipped_share(samples)
    x = _at_analysis_rate(np.asarray(samples, dtype=np.float64), sample_rate)
    if len(x) < _PITCH_FRAME:
        x = np.pad(x, (0, _PITCH_FRAME - len(x)))
    frames = _frames(x, _FRAME) * np.hanning(_FRAME)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    top = float(np.percentile(level, 95))
    active = level > max(_SILENT_DBFS, top - 30.0)
    voiced = active & (level > top - 20.0)

    power = np.abs(np.fft.rfft(frames, 512, axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(512, 1 / _RATE)
    band = power[:, (freqs > 100) & (freqs < 4000)]
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)

    modulation = float(np.mean([
        _syllable_modulation(np.sqrt(power[:, (freqs >= low) & (freqs < high)].sum(axis=1)))
        for low, high in ((100, 500), (500, 1000), (1000, 2000), (2000, 4000))
    ]))
    return _Features(
        speech_s=float(np.sum(active)) * _HOP / _RATE,
        clipped=clipped,
        flatness=float(np.median(flatness[active])) if active.any() else 1.0,
        modulation=modulation,
        held=_held_share(x, voiced),
    )


def _at_analysis_rate(x: np.ndarray, sample_rate: int) -> np.ndarray:
    return resample(x, sample_rate, _RATE)


def _frames(x: np.ndarray, size: int) -> np.ndarray:
    count = 1 + max(0, (len(x) - size) // _HOP)
    return x[np.arange(size)[None, :] + _HOP * np.arange(count)[:, None]]


def _syllable_modulation(envelope: np.ndarray) -> float:
    """Std of the envelope's 2-8 Hz part over its mean: how strongly it moves at the syllable rate."""
    mean = float(envelope.mean())
    if mean <= 0:
        return 0.0
    spectrum = np.fft.rfft(envelope - mean)
    rates = np.fft.rfftfreq(len(envelope), _HOP / _RATE)
    spectrum[(rates < 2.0) | (rates > 8.0)] = 0
    return float(np.std(np.fft.irfft(spectrum, len(envelope)))) / mean


def _held_share(x: np.ndarray, voiced: np.ndarray, tolerance: float = 0.01, run: int = 20) -> float:
    """Share of the voiced frames inside a run of `run` frames (200 ms) whose strongest
    80-1000 Hz peak stays within `tolerance` from frame to frame: held notes."""
    frames = _frames(x, _PITCH_FRAME) * np.hanning(_PITCH_FRAME)
    spectrum = np.log(np.abs(np.fft.rfft(frames, 2 * _PITCH_FRAME, axis=1)) ** 2 + 1e-12)
    freqs = np.fft.rfftfreq(2 * _PITCH_FRAME, 1 / _RATE)
    candidates = np.flatnonzero((freqs > 80) & (freqs < 1000))
    bins = candidates[np.argmax(spectrum[:, candidates], axis=1)]
    rows = np.arange(len(bins))
    left, centre, right = spectrum[rows, bins - 1], spectrum[rows, bins], spectrum[rows, bins + 1]
    peak = (bins + 0.5 * (left - right) / (left - 2 * centre + right - 1e-12)) * (freqs[1] - freqs[0])
    offset = round((_PITCH_FRAME - _FRAME) / 2 / _HOP)  # line up the frames' centres
    voiced = voiced[offset:offset + len(peak)]
    voiced = np.pad(voiced, (0, len(peak) - len(voiced)))
    if not voiced.any():
        return 0.0
    steady = voiced[1:] & voiced[:-1] & (np.abs(np.diff(peak)) <= tolerance * np.abs(peak[:-1]))
    held = np.zeros(len(peak), dtype=bool)
    padded = np.concatenate([[False], steady, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for start, end in zip(edges[::2], edges[1::2]):  # steady[start:end] links frames start..end
        if end - start + 1 >= run:
            held[start:end + 1] = True
    return float(np.mean(held[voiced]))


def _clipped_share(samples: np.ndarray) -> float:
    """Share of samples in runs of three or more at full scale (a lone full-scale peak is not clipping)."""
    at_full = np.abs(samples) >= _FULL_SCALE
    if not at_full.any():
        return 0.0
    padded = np.concatenate([[False], at_full, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    lengths = edges[1::2] - edges[::2]
    return float(np.sum(lengths[lengths >= 3])) / len(samples)
