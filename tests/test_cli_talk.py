"""`avatar talk` from a terminal: success, exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import av
import pytest

from tests.conftest import PROJECT_DIR


def run_cli(*args: str, cwd=PROJECT_DIR) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avatar", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_talk_with_default_avatar_writes_the_mp4(tmp_path):
    out = tmp_path / "clip.mp4"
    done = run_cli("talk", "--avatar", "astronaut", "--text", "Hello from orbit.", "--size", "256", "--still", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.streams.subtitles[0].codec_context.name == "mov_text"
    assert "Hello from orbit." in out.with_suffix(".srt").read_text(encoding="utf-8")
    assert f"{out.with_suffix('.srt')}  (1 caption)" in done.stdout and "Automatic" not in done.stdout


def test_recording_with_transcript_file(fixtures, tmp_path):
    transcript = tmp_path / "words.txt"
    transcript.write_text("Holidays are a time of celebrating with loved ones, enjoying the festivities.", encoding="utf-8")
    out = tmp_path / "clip.mp4"
    done = run_cli("talk", "--image", str(fixtures / "obama_small.jpg"), "--audio", str(fixtures / "RD_Radio31_000.wav"),
                   "--transcript-file", str(transcript), "--size", "256", "--still", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "mouth timing: phonemes of the transcript" in done.stdout
    assert "Holidays are a time" in out.with_suffix(".srt").read_text(encoding="utf-8")
    assert not (tmp_path / "clip.auto.srt").exists() and "Automatic captions" not in done.stdout


def test_recognised_captions_are_copied_as_auto_srt_and_said_to_be_automatic(fixtures, tmp_path):
    out = tmp_path / "clip.mp4"
    done = run_cli("talk", "--image", str(fixtures / "obama_small.jpg"), "--audio", str(fixtures / "RD_Radio34_002.wav"),
                   "--size", "256", "--still", "-o", str(out))
    assert done.returncode == 0, done.stderr
    srt = tmp_path / "clip.auto.srt"
    assert srt.is_file() and not out.with_suffix(".srt").exists()
    assert "politicians" in srt.read_text(encoding="utf-8")
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"{srt}  (") and "caption" in line for line in lines)
    assert any(line.startswith("Automatic captions: recognised from the recording, check them") for line in lines)


def test_list_avatars_names_the_defaults():
    done = run_cli("talk", "--list-avatars")
    assert done.returncode == 0 and "astronaut" in done.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--image", "{fx}/no_face.png", "--text", "Hi"], "No face was found"),
        (["--image", "{fx}/corrupt.jpg", "--text", "Hi"], "Cannot read image corrupt.jpg"),
        (["--image", "{fx}/obama.jpg", "--text", "   "], "text is empty"),
        (["--image", "{fx}/obama.jpg", "--text", "... !!!"], "The text has nothing the voice can speak; use words or numbers."),
        (["--avatar", "maya", "--text", "?!"], "The text has nothing the voice can speak; use words or numbers."),
        (["--image", "{fx}/obama.jpg", "--audio", "{fx}/corrupt.wav"], "Cannot read audio corrupt.wav"),
        (["--image", "{fx}/obama.jpg", "--audio", "{fx}/obama.jpg"], "not a supported audio type"),
        (["--image", "{fx}/two_people.jpg", "--text", "Hi", "--face-index", "5"], "2 faces found"),
        (["--image", "{fx}/obama.jpg"], "give --text, --text-file or --audio"),
        (["--avatar", "nobody", "--text", "Hi"], "nobody"),
        (["--image", "{fx}/obama.jpg", "--text-file", "{fx}/missing.txt"], "Cannot read the text file"),
        (["--image", "{fx}/obama.jpg", "--text", "Hi", "--rate", "9"], "rate"),
        (["--image", "{fx}/obama.jpg", "--text", "Hi", "--transcript", "Hi"], "only for an uploaded recording"),
        (["--image", "{fx}/obama.jpg", "--text", "Hi", "--engine", "wav2lip"], "avatar models import wav2lip-gan PATH"),
        (["--image", "{fx}/obama.jpg", "--text", "Hi", "--engine", "wav2lip", "--pads", "0", "10", "0", "999"],
         "pads must be from 0 to 200, not 999."),
        (["--image", "{fx}/obama.jpg", "--text", "Hi", "--engine", "wav2lip", "--pads", "0,10,0"],
         "pads must be a list of 4 whole numbers"),
        (["--image", "{fx}/obama.jpg", "--text", "Hi", "--pads", "0", "10", "0", "0"],
         "pads is an option of the Wav2Lip engine, which the builtin engine does not take"),
        (["--image", "{fx}/obama.jpg", "--text", "Hi", "--pose-style", "46", "--engine", "sadtalker"],
         "pose_style must be from 0 to 45, not 46."),
        (["--image", "{fx}/obama.jpg", "--text", "Hi", "--size", "9999"], "size must be from 64 to 4096, not 9999."),
        (["--image", "{fx}/obama.jpg", "--audio", "{fx}/RD_Radio31_000.wav", "--transcript", " "], "transcript is empty"),
        (["--image", "{fx}/obama.jpg", "--audio", "{fx}/RD_Radio31_000.wav", "--transcript-file", "{fx}/missing.txt"],
         "Cannot read the transcript file"),
    ],
)
def test_bad_input_exits_2_with_one_line(fixtures, tmp_path, args, message):
    args = [a.format(fx=fixtures) for a in args]
    done = run_cli("talk", *args, "-o", str(tmp_path / "out.mp4"))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_text_over_limit_is_refused(fixtures, tmp_path):
    text_file = tmp_path / "long.txt"
    text_file.write_text("word " * 1200)
    done = run_cli("talk", "--image", str(fixtures / "obama.jpg"), "--text-file", str(text_file))
    assert done.returncode == 2 and "limit of 5,000" in done.stderr


def _wav(path, seconds: float, rate: int = 8000, amplitude: float = 0.0):
    import wave

    import numpy as np

    samples = (amplitude * np.sin(np.arange(int(seconds * rate)) * 0.3) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return path


@pytest.mark.parametrize(
    "seconds,amplitude,message", [(2.0, 0.0, "is silent"), (601.0, 0.3, "longer than 10 minutes")]
)
def test_unusable_recordings_exit_2(fixtures, tmp_path, seconds, amplitude, message):
    audio = _wav(tmp_path / "take.wav", seconds, amplitude=amplitude)
    done = run_cli("talk", "--image", str(fixtures / "obama_small.jpg"), "--audio", str(audio))
    assert done.returncode == 2 and message in done.stderr, done.stderr
