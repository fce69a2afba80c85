"""The voice of the person in a video, as a voice sample for a cloning voice (`avatar dub --clone-from-video`).

A talk's sound track holds the speaker's own voice, but also pauses, applause,
music under the intro. The sample is the stretch of at most `MAX_SAMPLE_S` (30 s)
with the most active speech (10 ms frames above -50 dBFS and within 30 dB of the
loud ones, as the voice-sample check counts them), and it is then checked exactly
as an uploaded sample is: length, silence, clipping, noise, music. A video whose
sound cannot give a sample is refused with the check's sentence.
"""

from __future__ import annotations

import io
import wave

import numpy as np

from avatar.errors import InputError
from avatar.speech.timeline import Speech
from avatar.speech.voice_sample import MAX_SAMPLE_S, MIN_SAMPLE_S, VoiceSample, check_voice_sample

_HOP_S = 0.01


def _active(samples: np.ndarray, rate: int) -> np.ndarray:
    """One bool per 10 ms: the frame's level is above -50 dBFS and within 30 dB of the loud frames."""
    hop = max(1, int(rate * _HOP_S))
    count = len(samples) // hop
    if count == 0:
        return np.zeros(0, bool)
    frames = samples[: count * hop].astype(np.float64).reshape(count, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.percentile(level, 95)
    return (level > -50.0) & (level > loud - 30.0)


def best_stretch(speech: Speech) -> tuple[int, int]:
    """Sample indices (start, end) of the at most 30 s long stretch with the most active speech."""
    rate = speech.sample_rate
    length = min(len(speech.samples), int(MAX_SAMPLE_S * rate))
    active = _active(speech.samples, rate)
    window = max(1, int(length / rate / _HOP_S))
    if len(active) <= window:
        return 0, length
    sums = np.convolve(active.astype(np.int32), np.ones(window, np.int32), mode="valid")
    start = int(np.argmax(sums)) * int(rate * _HOP_S)  # the first of equally good stretches
    return start, start + length


def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())
    return buffer.getvalue()


def voice_sample_from_video(sound: Speech | None, name: str = "the video") -> VoiceSample:
    """The checked voice sample taken from a video's sound (`Video.audio()`); one sentence when there is none."""
    if sound is None or len(sound.samples) == 0:
        raise InputError(f"{name} has no sound to take a voice from; give a voice sample instead.")
    if sound.duration < MIN_SAMPLE_S:
        raise InputError(f"The sound of {name} is {sound.duration:.1f} s long, and a voice sample needs at least "
                         f"{MIN_SAMPLE_S:.0f} s of one person speaking; give a voice sample instead.")
    start, end = best_stretch(sound)
    try:
        return check_voice_sample(_wav_bytes(sound.samples[start:end], sound.sample_rate), name="")
    except InputError as error:
        # The check's sentences read "The voice sample is <problem>; <what to record>." Only the problem applies.
        problem = str(error).split(";")[0].rstrip(".").replace("The voice sample", "its clearest stretch of speech")
        raise InputError(f"The voice in {name} cannot be copied: {problem}; give a voice sample instead.") from None
