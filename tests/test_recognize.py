"""Phoneme timing for uploaded recordings: recognition, transcript alignment, fall-back."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from avatar.errors import InputError
from avatar.speech.arpabet import guess_pronunciation, ipa_of, spoken_words
from avatar.speech.piper_voice import PAUSE as PIPER_PAUSE
from avatar.speech.piper_voice import synthesize
from avatar.speech.recognize import PAUSE, RecordingAlignment, align_recording, check_transcript
from avatar.speech.text import MAX_TEXT_CHARS
from avatar.speech.timeline import Speech
from avatar.talk.visemes import NEUTRAL, viseme
from tests.test_mouth_track import read_fixture_wav

TYPED = "Zorblax bought 42 apples, then Maria went home."


@pytest.fixture(scope="module")
def radio(fixtures) -> Speech:
    return read_fixture_wav(fixtures / "RD_Radio34_002.wav")


@pytest.fixture(scope="module")
def recognised(radio) -> RecordingAlignment:
    return align_recording(radio)


@pytest.fixture(scope="module")
def typed_speech() -> Speech:
    return synthesize(TYPED)


def assert_contiguous(result: RecordingAlignment, duration: float) -> None:
    phonemes = result.phonemes
    assert phonemes and phonemes[0].start == 0.0
    assert phonemes[-1].end == pytest.approx(duration, abs=1e-9)
    for before, after in zip(phonemes, phonemes[1:]):
        assert after.start == before.end
        assert after.end > after.start
        assert not (before.ipa == PAUSE and after.ipa == PAUSE), "pauses are merged"
    assert all(p.ipa == PAUSE or viseme(p.ipa) is not NEUTRAL for p in phonemes)


def test_pause_is_the_typed_text_pause():
    assert PAUSE == PIPER_PAUSE


def test_recognised_english_covers_the_recording(recognised, radio):
    assert recognised.method == "recognized" and recognised.reason == ""
    assert recognised.confidence >= 0.5
    assert_contiguous(recognised, radio.duration)
    sounds = {p.ipa for p in recognised.phonemes}
    assert {"p", "b", "m"} <= sounds  # "politicians", "background", "medical"
    assert PAUSE in sounds
    speech_time = sum(p.end - p.start for p in recognised.phonemes if p.ipa != PAUSE)
    assert 0.5 * radio.duration < speech_time < radio.duration


def test_recognised_words_are_roughly_right(recognised, radio):
    words = [w.text for w in recognised.words]
    expected = {"politicians", "medical", "background", "know", "women", "who", "have"}
    assert len(expected & set(words)) >= 5, words
    starts = [w.start for w in recognised.words]
    assert starts == sorted(starts) and recognised.words[-1].end <= radio.duration + 1e-9


def test_closures_fall_inside_the_words_that_have_them(recognised):
    by_word = {w.text: w for w in recognised.words}
    word = by_word["politicians"]
    inside = [p.ipa for p in recognised.phonemes if word.start <= p.start < word.end + 0.05]
    assert "p" in inside


def test_other_sample_rates_are_resampled(radio, recognised):
    resampled = Speech(resample_poly(radio.samples, 441, 160).astype(np.float32), 44100)
    result = align_recording(resampled)
    assert result.method == "recognized"
    assert_contiguous(result, resampled.duration)
    same = {w.text for w in result.words} & {w.text for w in recognised.words}
    assert len(same) >= 0.7 * len(recognised.words)


def test_same_recording_same_result(radio, recognised, typed_speech):
    align_recording(typed_speech)  # another recording in between must not matter
    again = align_recording(radio)
    assert again == recognised


def test_typed_transcript_gives_the_typed_words(typed_speech):
    upload = Speech(typed_speech.samples, typed_speech.sample_rate)
    result = align_recording(upload, transcript=TYPED)
    assert result.method == "transcript"
    assert [w.text for w in result.words] == TYPED.split()
    for before, after in zip(result.words, result.words[1:]):
        assert before.start < before.end <= after.start
    assert result.words[0].start >= 0.0 and result.words[-1].end <= upload.duration
    assert_contiguous(result, upload.duration)
    # "bought" starts with b, "Maria" with m: the lips close inside those words.
    for text, closure in (("bought", "b"), ("Maria", "m")):
        word = next(w for w in result.words if w.text == text)
        assert any(p.ipa == closure and word.start - 0.05 <= p.start < word.end for p in result.phonemes)


def test_punctuation_only_tokens_join_a_word(typed_speech):
    upload = Speech(typed_speech.samples, typed_speech.sample_rate)
    result = align_recording(upload, transcript="— " + TYPED + " !")
    texts = [w.text for w in result.words]
    assert texts[0] == "— Zorblax" and texts[-1] == "home. !" and len(texts) == len(TYPED.split())


def noise(seconds: float, seed: int) -> Speech:
    rng = np.random.default_rng(seed)
    return Speech((0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), 16000)


def music(seconds: float, seed: int) -> Speech:
    """Harmonic notes on a half-second beat, with a noise drum on every other beat."""
    rng, rate = np.random.default_rng(seed), 16000
    beat = int(0.5 * rate)
    t = np.arange(beat) / rate
    notes = []
    for k in range(int(seconds / 0.5)):
        f = rng.choice([220, 247, 262, 294, 330, 349, 392, 440])
        note = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 6)) * np.exp(-4 * t)
        if k % 2 == 0:
            note += 0.6 * np.exp(-40 * t) * rng.standard_normal(beat)
        notes.append(note)
    samples = np.concatenate(notes)
    return Speech((0.3 * samples / np.abs(samples).max()).astype(np.float32), rate)


def pink_noise(seconds: float, seed: int) -> Speech:
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(int(seconds * 16000)))
    spectrum /= np.sqrt(np.maximum(1, np.arange(len(spectrum))))
    samples = np.fft.irfft(spectrum, int(seconds * 16000))
    return Speech((0.3 * samples / np.abs(samples).max()).astype(np.float32), 16000)


def melody(seconds: float, seed: int) -> Speech:
    """A legato tune with vibrato over a held chord: no beat, no syllables."""
    rng, rate = np.random.default_rng(seed), 16000
    t = np.arange(int(seconds * rate)) / rate
    pitch = np.repeat(rng.choice([262, 294, 330, 392, 440], int(seconds * 3) + 1), rate // 3)[: len(t)]
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))) / rate
    samples = sum(np.sin(h * phase) / h for h in range(1, 5)) + sum(np.sin(2 * np.pi * f * t) for f in (131, 165, 196))
    return Speech((0.3 * samples / np.abs(samples).max()).astype(np.float32), rate)


@pytest.mark.parametrize("speech, kind", [
    (noise(6, 3), "noise"), (pink_noise(6, 4), "noise"), (music(8, 2), "music"), (melody(8, 1), "music"),
    (Speech(np.zeros(16000, np.float32), 16000), "silent"),
], ids=["white noise", "pink noise", "notes on a beat", "melody", "silence"])
def test_noise_music_and_silence_fall_back_to_loudness(speech, kind):
    result = align_recording(speech)
    assert result.method == "loudness"
    assert result.phonemes is None and result.words == []
    assert result.confidence < 0.5
    assert result.reason and "\n" not in result.reason and kind in result.reason


def test_real_speakers_sound_track_is_timed_by_phonemes(fixtures):
    """A real person speaking to the camera (the clip's own AAC sound track) gets phoneme timing."""
    import av

    with av.open(str(fixtures / "real_talk" / "woman_glasses.mp4")) as container:
        rate = container.streams.audio[0].rate
        chunks = [frame.to_ndarray() for frame in container.decode(audio=0)]
    samples = np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32)
    speech = Speech(samples, rate)
    result = align_recording(speech)
    assert result.method == "recognized" and result.reason == ""
    assert_contiguous(result, speech.duration)
    speech_time = sum(p.end - p.start for p in result.phonemes if p.ipa != PAUSE)
    assert 0.4 * speech.duration < speech_time < speech.duration


def test_speech_without_recognisable_words_gets_phones(radio):
    """Speech under loud noise: the words are not recognised, the phone loop still times the mouth."""
    mono = radio.samples.mean(axis=1) if radio.samples.ndim == 2 else radio.samples
    hiss = np.random.default_rng(1).standard_normal(len(mono))
    hiss *= np.sqrt(np.mean(mono**2) / np.mean(hiss**2)) / 10 ** 0.5  # 10 dB SNR
    noisy = Speech((mono + hiss).astype(np.float32), radio.sample_rate)
    result = align_recording(noisy)
    assert result.method == "phones" and result.words == [] and result.reason
    assert result.confidence < 0.3
    assert_contiguous(result, noisy.duration)
    sounds = {p.ipa for p in result.phonemes}
    assert PAUSE in sounds and len(sounds) > 10


def test_transcript_of_noise_also_falls_back():
    result = align_recording(noise(4, 5), transcript="hello there")
    assert result.method == "loudness" and result.reason


@pytest.mark.parametrize("text", ["", "   \n\t", "x" * (MAX_TEXT_CHARS + 1), "— … !", "你好世界", 42])
def test_bad_transcripts_raise_input_error(text):
    with pytest.raises(InputError) as error:
        check_transcript(text)
    message = str(error.value)
    assert message.endswith(".") and ". " not in message  # one sentence


def test_good_transcript_is_returned_stripped():
    assert check_transcript("  Hello, world! \n") == "Hello, world!"


def test_bad_transcript_is_refused_before_any_work(radio):
    with pytest.raises(InputError):
        align_recording(radio, transcript="  ")


def test_progress_is_reported(radio):
    seen: list[tuple[str, float]] = []
    align_recording(radio, progress=lambda stage, fraction: seen.append((stage, fraction)))
    fractions = [f for _, f in seen]
    assert seen[0][0] == "recognising speech" and fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0


# --- ARPAbet helpers --------------------------------------------------------------


def test_every_arpabet_phone_has_a_viseme():
    phones = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
    for phone in phones.split():
        symbols = ipa_of(phone)
        assert symbols and all(viseme(s) is not NEUTRAL for s in symbols), phone
    assert ipa_of("AW") == ("a", "ʊ") and ipa_of("SIL") is None


@pytest.mark.parametrize("token, words", [
    ("Hello,", ["hello"]), ("42", ["forty", "two"]), ("1984", ["nineteen", "eighty", "four"]),
    ("3.5%", ["three", "point", "five", "percent"]), ("$5", ["five", "dollars"]),
    ("don’t", ["don't"]), ("well-known", ["well", "known"]), ("—", []),
])
def test_spoken_words(token, words):
    assert spoken_words(token) == words


def test_guessed_pronunciations_sound_like_the_spelling():
    assert guess_pronunciation("zorblax") == ["Z", "AO", "R", "B", "L", "AE", "K", "S"]
    assert guess_pronunciation("knight") == ["N", "AY", "T"]
    assert guess_pronunciation("") == []


def test_a_long_noise_is_given_up_early(monkeypatch):
    """Noise is not searched to the end: a long upload falls back in bounded time."""
    from avatar.speech import recognize

    decoded = []
    recognizer = recognize.load_recognizer()
    real_decode = type(recognizer).decode
    monkeypatch.setattr(type(recognizer), "decode", lambda self, samples: decoded.append(len(samples)) or real_decode(self, samples))
    long_noise = noise(60, 7)
    result = align_recording(long_noise)
    assert result.method == "loudness"
    assert sum(decoded) < 0.6 * len(recognize._model_samples(long_noise))


# --- decoding on every core -------------------------------------------------------


PARALLEL_FROM_S = 20.0
"""Lowered from the module's 30 s for these tests: 24 s are two recognition pieces already."""


@pytest.fixture(scope="module")
def radio_24s(fixtures) -> Speech:
    """The radio fixtures in turn, 24 s: two recognition pieces."""
    clips = [read_fixture_wav(fixtures / f"{name}.wav") for name in ("RD_Radio31_000", "RD_Radio34_002")]
    samples = np.concatenate([clips[i % 2].samples for i in range(3)])
    return Speech(samples, clips[0].sample_rate)


def both_ways(monkeypatch, speech: Speech, transcript=None) -> tuple[RecordingAlignment, RecordingAlignment]:
    """align_recording with two decoders in helper processes, then with this process' decoder only."""
    from avatar.speech import recognize

    monkeypatch.setattr(recognize, "PARALLEL_FROM_S", PARALLEL_FROM_S)
    assert speech.duration >= PARALLEL_FROM_S and len(recognize._pieces(recognize._model_samples(speech))) >= 2
    monkeypatch.setenv("AVATAR_DECODERS", "2")
    assert recognize._helpers(speech.duration) == 2
    parallel = align_recording(speech, transcript=transcript)
    monkeypatch.setenv("AVATAR_DECODERS", "1")
    assert recognize._helpers(speech.duration) == 0
    return parallel, align_recording(speech, transcript=transcript)


def test_decoding_on_every_core_gives_the_same_result(monkeypatch, radio_24s):
    parallel, serial = both_ways(monkeypatch, radio_24s)
    assert parallel.method == "recognized" and len(parallel.words) > 40
    assert parallel == serial


def test_phones_heard_on_every_core_are_the_same(monkeypatch, radio_24s):
    """With the bar for words raised out of reach, the word search gives up after its first piece (a helper
    may already be decoding the next) and the phone loop runs: in helpers or not, the same."""
    from avatar.speech import recognize

    for name in ("WORDS_FROM_CONFIDENCE", "GIVE_UP_BELOW"):
        monkeypatch.setattr(recognize, name, 1.01)
    monkeypatch.setattr(recognize, "GIVE_UP_AFTER_S", 5.0)
    parallel, serial = both_ways(monkeypatch, radio_24s)
    assert parallel.method == "phones" and len(parallel.phonemes) > 100
    assert parallel == serial


def test_guessed_words_reach_the_helpers_and_are_forgotten_after(monkeypatch, typed_speech):
    """A transcript with a word the dictionary lacks ("Zorblax") aligns the same in helpers; the next
    recording is heard by a decoder without it."""
    from avatar.speech import recognize

    repeats = int(np.ceil(21.0 / typed_speech.duration))
    upload = Speech(np.tile(typed_speech.samples, repeats), typed_speech.sample_rate)
    parallel, serial = both_ways(monkeypatch, upload, transcript=" ".join([TYPED] * repeats))
    assert parallel.method == "transcript" and parallel == serial
    assert recognize.load_recognizer().decoder.lookup_word("zorblax") is None


def test_a_quiet_stretch_is_a_pause_whatever_was_aligned_there():
    """Phones stretched across a pause keep only their sounding parts; a stop's short silence keeps its phone."""
    from avatar.speech.recognize import _Phone, _silence_quiet_runs

    levels = np.full(100, -10.0)
    levels[40:75] = -60.0  # 0.35 s of quiet: a pause
    levels[10:18] = -60.0  # 0.08 s: the closure of a stop
    phones = [_Phone("K", 5, 20, starts_word=True), _Phone("T", 20, 50), _Phone("R", 50, 60, starts_word=True),
              _Phone("IH", 60, 80)]
    out = _silence_quiet_runs(phones, levels)
    assert [(p.name, p.start, p.end, p.starts_word) for p in out] == [
        ("K", 5, 20, True), ("T", 20, 40, False), ("SIL", 40, 50, False), ("SIL", 50, 60, False),
        ("SIL", 60, 75, False), ("IH", 75, 80, False)]


def test_a_real_speakers_pauses_are_pauses(fixtures):
    """No sound is timed inside a real clip's pauses (man_map: "district" ran 0.3 s into one)."""
    import av

    from avatar.speech.recognize import (ALIGNMENT_DELAY_S, FRAME_S, QUIET_RUN_S, _frame_levels, _model_samples,
                                        _quiet_runs)

    with av.open(str(fixtures / "real_talk" / "man_map.mp4")) as container:
        rate = container.streams.audio[0].rate
        chunks = [frame.to_ndarray() for frame in container.decode(audio=0)]
    speech = Speech(np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32), rate)
    result = align_recording(speech)
    assert_contiguous(result, speech.duration)
    runs = _quiet_runs(_frame_levels(_model_samples(speech)))
    assert runs and all((b - a) * FRAME_S >= QUIET_RUN_S for a, b in runs)
    for a, b in runs:
        start, end = a * FRAME_S + ALIGNMENT_DELAY_S, b * FRAME_S + ALIGNMENT_DELAY_S  # on the phonemes' clock
        assert [p for p in result.phonemes if p.ipa != PAUSE and p.end > start + 1e-6 and p.start < end - 1e-6] == []


def test_long_recordings_are_scaled_and_measured_block_by_block(radio_24s):
    """Block by block (bounded memory) gives the very samples and levels of the whole signal at once."""
    from avatar.speech import recognize
    from avatar.speech.speech_presence import detect_speech

    samples = np.tile(radio_24s.samples, 4)  # 96 s: more than one block
    assert len(samples) > recognize._BLOCK
    model = recognize._model_samples(Speech(samples, radio_24s.sample_rate))
    whole = samples.astype(np.float64) * min(recognize.MAX_GAIN, 0.7 / float(np.max(np.abs(samples))))
    assert np.array_equal(model, np.clip(np.round(whole * 32767.0), -32768, 32767).astype(np.int16))
    n = len(model) // 160
    frames = model[: n * 160].astype(np.float64).reshape(n, 160) / 32768.0
    assert np.array_equal(recognize._frame_levels(model), 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12))
    assert detect_speech(model, 16000) == detect_speech(model.astype(np.float32) / 32768.0, 16000)
