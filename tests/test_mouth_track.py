"""Mouth tracks from phoneme timelines (TTS) and from recorded audio."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from avatar.errors import InputError
from avatar.speech.piper_voice import synthesize
from avatar.speech.timeline import Phoneme, Speech
from avatar.talk.builtin.mouth_track import MOUTH_PARAMS, MouthTrack, frame_count, is_silent, mouth_track

OPEN, WIDE, ROUND, CLOSED, TEETH = (MOUTH_PARAMS.index(name) for name in MOUTH_PARAMS)
SR = 16000


def timeline_speech(*parts: tuple[str, float], rate: int = SR) -> Speech:
    """Speech whose phonemes are (ipa, duration) in order; the samples are a quiet hum."""
    phonemes, t = [], 0.0
    for ipa, duration in parts:
        phonemes.append(Phoneme(ipa, t, t + duration))
        t += duration
    n = int(round(t * rate))
    samples = (0.1 * np.sin(2 * np.pi * 200 * np.arange(n) / rate)).astype(np.float32)
    return Speech(samples=samples, sample_rate=rate, phonemes=phonemes)


def read_fixture_wav(path) -> Speech:
    """Decode the 16-bit PCM fixture and mix it down to mono."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        channels, rate = wav.getnchannels(), wav.getframerate()
    mono = data.reshape(-1, channels).astype(np.float32).mean(axis=1) / 32768.0
    return Speech(samples=mono, sample_rate=rate)


@pytest.fixture(scope="module")
def radio(fixtures) -> Speech:
    return read_fixture_wav(fixtures / "RD_Radio31_000.wav")


def crossing(curve: np.ndarray, fps: float, level: float = 0.5) -> float:
    """Time of the first frame where `curve` reaches `level`."""
    return int(np.argmax(curve >= level)) / fps


# --- timing ----------------------------------------------------------------------


@pytest.mark.parametrize("duration, fps, frames", [(1.03, 25, 26), (1.0, 25, 25), (2.0, 30, 60), (0.5, 24, 12)])
def test_frame_count_covers_the_audio(duration, fps, frames):
    speech = timeline_speech((" ", 0.2), ("ɑ", duration - 0.2))
    track = mouth_track(speech, fps=fps)
    assert isinstance(track, MouthTrack)
    assert frame_count(speech.duration, fps) == frames
    assert track.values.shape == (frames, len(MOUTH_PARAMS)) and track.values.dtype == np.float32
    assert track.energy.shape == (frames,)
    assert 0 <= track.n_frames / fps - speech.duration < 1 / fps
    assert ((track.values >= 0) & (track.values <= 1)).all()


def test_lead_moves_the_mouth_earlier():
    speech = timeline_speech((" ", 0.5), ("ɑ", 0.5), (" ", 0.5))
    fps = 100.0
    on_time = mouth_track(speech, fps=fps, lead=0.0).param("open")
    led = mouth_track(speech, fps=fps, lead=0.08).param("open")
    assert crossing(on_time, fps) == pytest.approx(0.5, abs=0.015)
    assert crossing(on_time, fps) - crossing(led, fps) == pytest.approx(0.08, abs=0.015)


def test_neighbouring_sounds_blend_without_jumps():
    speech = timeline_speech((" ", 0.3), ("ɑ", 0.3), ("i", 0.3), ("u", 0.3), (" ", 0.3))
    track = mouth_track(speech, fps=100, lead=0.0)
    jumps = np.abs(np.diff(track.values, axis=0)).max(axis=0)
    assert jumps.max() < 0.25  # a held step would jump by 1.0 in one frame
    # Targets are still reached in the middle of each sound.
    assert track.param("open")[45] == pytest.approx(1.0, abs=0.02)
    assert track.param("wide")[75] == pytest.approx(0.8, abs=0.02)
    assert track.param("round")[105] == pytest.approx(1.0, abs=0.02)
    # Coarticulation: the lips start rounding before the "u" begins.
    assert 0.05 < track.param("round")[88] < 0.5


@pytest.mark.parametrize("offset", [0.0, 0.008, 0.017, 0.026, 0.033])
@pytest.mark.parametrize("symbol", ["m", "b", "p"])
def test_short_bilabial_inside_a_word_closes_the_lips(symbol, offset):
    """'ɑ m ɑ' with a 35 ms closure, at several phases relative to the 25 fps frames."""
    speech = timeline_speech((" ", 0.2 + offset), ("ɑ", 0.15), (symbol, 0.035), ("ɑ", 0.15), (" ", 0.2))
    track = mouth_track(speech, fps=25, lead=0.05)
    closure = speech.phonemes[2]
    centre = 0.5 * (closure.start + closure.end) - 0.05  # where the lead puts it
    near = [i for i in range(track.n_frames) if abs(i / 25 - centre) <= 0.04]
    best = max(near, key=lambda i: track.values[i, CLOSED])
    assert track.values[best, CLOSED] >= 0.99
    assert track.values[best, OPEN] <= 0.01
    # ...while the vowels around it are open.
    assert track.param("open").max() > 0.75  # 150 ms vowels: the blending takes the top off


def test_short_labiodental_reaches_the_teeth():
    speech = timeline_speech((" ", 0.2), ("ɑ", 0.15), ("f", 0.03), ("ɑ", 0.15), (" ", 0.2))
    track = mouth_track(speech, fps=25)
    assert track.param("teeth").max() >= 0.99


def test_expression_scale_scales_motion_but_keeps_contacts():
    speech = timeline_speech((" ", 0.2), ("ɑ", 0.2), ("m", 0.1), ("u", 0.2), (" ", 0.2))
    full = mouth_track(speech, expression_scale=1.0)
    half = mouth_track(speech, expression_scale=0.5)
    assert half.param("open").max() == pytest.approx(0.5 * full.param("open").max(), abs=1e-6)
    assert half.param("round").max() == pytest.approx(0.5 * full.param("round").max(), abs=1e-6)
    assert half.param("closed").max() == full.param("closed").max() >= 0.99


@pytest.mark.parametrize(
    "options", [{"fps": 0}, {"fps": float("nan")}, {"lead": -0.1}, {"lead": 2.0}, {"expression_scale": -1}]
)
def test_bad_options_are_refused(options):
    with pytest.raises(InputError):
        mouth_track(timeline_speech(("ɑ", 0.5)), **options)


# --- real Piper speech -----------------------------------------------------------


def test_piper_speech_closes_on_m_and_stays_smooth():
    speech = synthesize("Mommy bought a bump of pepper.", seed=0)  # fixed noise: the same speech every run
    track = mouth_track(speech, fps=25, lead=0.05)
    assert 0 <= track.n_frames / 25 - speech.duration < 1 / 25

    bilabials = [p for p in speech.phonemes if p.ipa in ("m", "b", "p")]
    assert len(bilabials) >= 6
    for phoneme in bilabials:
        centre = 0.5 * (phoneme.start + phoneme.end) - 0.05
        frame = int(np.argmin([abs(i / 25 - centre) for i in range(track.n_frames)]))
        window = track.values[max(0, frame - 1) : frame + 2]
        assert window[:, CLOSED].max() >= 0.99, phoneme
        assert window[:, OPEN].min() <= 0.01, phoneme

    # At a fine frame rate the motion is continuous: no parameter jumps in 10 ms.
    fine = mouth_track(speech, fps=100)
    assert np.abs(np.diff(fine.values, axis=0)).max() < 0.3
    # Loudness follows the audio: quiet at the start, loud somewhere in the middle.
    assert track.energy[0] < 0.2 and track.energy.max() > 0.8


# --- recorded audio -----------------------------------------------------------


def test_audio_envelope_opens_for_speech_and_not_for_pauses(radio):
    track = mouth_track(radio, fps=25, lead=0.05)
    assert track.n_frames == 200  # 8.0 s
    open_ = track.param("open")
    t = np.arange(track.n_frames) / 25 + 0.05  # the audio time each frame shows
    quiet = ((t > 2.72) & (t < 2.95)) | ((t > 5.9) & (t < 6.2))  # the speaker's pauses
    speaking = ((t > 0.2) & (t < 2.5)) | ((t > 3.0) & (t < 5.7)) | ((t > 6.3) & (t < 7.9))
    assert open_[speaking].mean() > 0.4
    assert open_[quiet].mean() < 0.12
    assert open_[speaking].mean() > 4 * open_[quiet].mean()
    assert track.energy[speaking].mean() > 4 * track.energy[quiet].mean()
    # Lips move with the spectrum, not only the jaw.
    assert track.param("wide").max() > 0.3 and track.param("round").max() > 0.1
    assert (track.values[:, [CLOSED, TEETH]] == 0).all()
    # The audio follower is smooth too.
    fine = mouth_track(radio, fps=100)
    assert np.abs(np.diff(fine.values, axis=0)).max() < 0.3


def test_digital_silence_closes_the_mouth(radio):
    silence = np.zeros(SR, dtype=np.float32)  # 1 s inserted at 4.0 s
    samples = np.concatenate([radio.samples[: 4 * SR], silence, radio.samples[4 * SR :]])
    track = mouth_track(Speech(samples, SR), fps=25, lead=0.05)
    t = np.arange(track.n_frames) / 25
    inside = (t > 4.0 + 0.35) & (t < 5.0 - 0.1)  # away from the edges (release, lead)
    assert inside.sum() >= 10
    assert np.allclose(track.values[inside], 0.0, atol=1e-3)
    assert np.allclose(track.energy[inside], 0.0, atol=1e-3)
    assert track.param("open")[(t > 3.0) & (t < 3.9)].max() > 0.5


def test_silence_check(radio):
    assert not is_silent(radio)
    assert is_silent(Speech(np.zeros(SR, dtype=np.float32), SR))
    assert is_silent(Speech(radio.samples * 1e-4, SR))  # about -100 dBFS
    assert is_silent(Speech(np.zeros(0, dtype=np.float32), SR))
    # A very quiet but real recording (-40 dB) still counts as sound.
    assert not is_silent(Speech(radio.samples * 0.01, SR))


def test_silent_audio_gives_a_closed_track():
    track = mouth_track(Speech(np.zeros(SR, dtype=np.float32), SR), fps=25)
    assert track.n_frames == 25
    assert not track.values.any() and not track.energy.any()
