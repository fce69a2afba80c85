"""Image and audio loading: formats, orientation, limits and clear errors."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
import pytest
from PIL import Image

from avatar.errors import InputError
from avatar.media import MAX_IMAGE_SIDE, load_audio, load_image, resize_long_side, save_image, write_wav
from avatar.speech.timeline import Speech
from avatar.video_writer import Mp4Writer


def _png(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


def test_jpeg_fixture_loads_as_rgb(fixtures):
    image = load_image(fixtures / "obama.jpg")
    assert image.dtype == np.uint8 and image.shape == (1137, 910, 3)


def test_exif_rotation_is_applied():
    picture = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    image = load_image(_png(picture, format="JPEG", exif=exif.tobytes()))
    assert image.shape[:2] == (40, 20)


@pytest.mark.parametrize(
    "picture",
    [
        Image.new("RGBA", (8, 6), (10, 20, 30, 0)),
        Image.new("L", (8, 6), 128),
        Image.new("P", (8, 6), 3),
        Image.fromarray(np.full((6, 8), 65535, np.uint16)),
    ],
    ids=["rgba", "grayscale", "palette", "16-bit"],
)
def test_other_modes_become_rgb(picture):
    image = load_image(_png(picture))
    assert image.shape == (6, 8, 3) and image.dtype == np.uint8


def test_transparent_pixels_become_white():
    image = load_image(_png(Image.new("RGBA", (4, 4), (0, 0, 0, 0))))
    assert (image == 255).all()


def test_sixteen_bit_white_stays_white():
    image = load_image(_png(Image.fromarray(np.full((4, 4), 65535, np.uint16))))
    assert (image == 255).all()


def test_huge_image_is_scaled_down():
    image = load_image(_png(Image.new("RGB", (5000, 2500), (1, 2, 3))))
    assert max(image.shape[:2]) == MAX_IMAGE_SIDE and image.shape[:2] == (2048, 4096)


def test_decompression_bomb_is_refused():
    bomb = _png(Image.new("1", (12000, 12000)))  # a few kB claiming 144 megapixels
    with pytest.raises(InputError, match="megapixels"):
        load_image(bomb)


def test_corrupt_image_is_refused(fixtures):
    with pytest.raises(InputError, match="Cannot read image corrupt.jpg"):
        load_image(fixtures / "corrupt.jpg")


def test_unsupported_image_type_is_refused():
    with pytest.raises(InputError, match="GIF"):
        load_image(_png(Image.new("RGB", (4, 4)), format="GIF"))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_image(tmp_path / "nope.png")


def test_resize_long_side_makes_even_sides():
    image = resize_long_side(np.zeros((1001, 501, 3), np.uint8), 512)
    assert max(image.shape[:2]) <= 512 and image.shape[0] % 2 == 0 and image.shape[1] % 2 == 0


def test_save_image_leaves_no_temp_file(tmp_path):
    path = save_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_stereo_wav_fixture_is_downmixed(fixtures):
    speech = load_audio(fixtures / "RD_Radio31_000.wav")
    assert speech.sample_rate == 16000 and speech.samples.ndim == 1
    assert speech.duration == pytest.approx(8.0, abs=0.05)
    assert 0.01 < np.abs(speech.samples).max() <= 1.0


@pytest.mark.parametrize(
    "codec,suffix,rate", [("mp3", ".mp3", 44100), ("aac", ".m4a", 44100), ("libopus", ".ogg", 48000), ("flac", ".flac", 44100)]
)
def test_compressed_formats_decode(tmp_path, codec, suffix, rate):
    path = tmp_path / f"tone{suffix}"
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
        for chunk in resampler.resample(frame):
            container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))
    speech = load_audio(path)
    assert speech.duration == pytest.approx(1.0, abs=0.1)
    assert np.abs(speech.samples).max() > 0.1


def test_corrupt_audio_is_refused(fixtures):
    with pytest.raises(InputError, match="Cannot read audio corrupt.wav"):
        load_audio(fixtures / "corrupt.wav")


def test_unsupported_audio_type_is_refused(fixtures):
    with pytest.raises(InputError, match="not a supported audio type"):
        load_audio(fixtures / "obama.jpg")


def test_too_long_audio_is_refused(fixtures):
    with pytest.raises(InputError, match="longer than"):
        load_audio(fixtures / "RD_Radio31_000.wav", max_seconds=2.0)


def test_wav_round_trip(tmp_path):
    speech = Speech(samples=np.linspace(-0.5, 0.5, 1600, dtype=np.float32), sample_rate=16000)
    path = write_wav(tmp_path / "a.wav", speech)
    with wave.open(str(path)) as handle:
        assert (handle.getnchannels(), handle.getframerate(), handle.getnframes()) == (1, 16000, 1600)


def test_mp4_writer_streams_and_matches_audio(tmp_path):
    rate, seconds, fps = 22050, 1.3, 25
    speech = Speech(samples=np.zeros(int(rate * seconds), np.float32), sample_rate=rate)
    frames = int(np.ceil(seconds * fps))
    with Mp4Writer(tmp_path / "v.mp4", 64, 48, fps, speech) as writer:
        for i in range(frames):
            writer.write(np.full((48, 64, 3), i * 5, np.uint8))
    with av.open(str(tmp_path / "v.mp4")) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        assert video.frames == frames
        assert abs(float(video.duration * video.time_base) - seconds) <= 1 / fps
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
    data = (tmp_path / "v.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "faststart puts the index first, for playback while loading"


def test_mp4_writer_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with Mp4Writer(tmp_path / "v.mp4", 64, 48, 25) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("renderer failed")
    assert list(tmp_path.iterdir()) == []


def test_background_writer_reports_encoder_failure_and_leaves_nothing(tmp_path):
    from avatar.video_writer import BackgroundWriter

    with pytest.raises(Exception):
        with BackgroundWriter(Mp4Writer(tmp_path / "v.mp4", 64, 48, 25)) as writer:
            for _ in range(20):
                writer.write(np.zeros((10, 10, 3), np.uint8))  # wrong size: the encoder fails
    assert list(tmp_path.iterdir()) == []


def test_background_writer_encodes_every_frame(tmp_path):
    from avatar.video_writer import BackgroundWriter

    with BackgroundWriter(Mp4Writer(tmp_path / "v.mp4", 64, 48, 25)) as writer:
        frame = np.zeros((48, 64, 3), np.uint8)
        for i in range(30):
            frame[:] = i * 8  # the caller reuses its buffer, as engines do
            writer.write(frame)
    with av.open(str(tmp_path / "v.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24").mean() for f in container.decode(video=0)]
    assert len(decoded) == 30
    assert np.all(np.diff(decoded) > 0), "frames must keep their own content and order"


def _decoded_audio(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])


def _voice_like(rate: int, seconds: float) -> np.ndarray:
    """A gliding tone with a syllable-rate envelope: content that a shifted or dropped chunk would spoil."""
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * (200 + 150 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def _write_streamed(writer, audio: np.ndarray, frames: int, seed: int = 0) -> None:
    """Frames, with the audio given in uneven pieces before, between and after them."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, len(audio)), size=12, replace=False))
    pieces = np.split(audio, cuts)
    writer.add_audio(pieces.pop(0))
    frame = np.zeros((48, 64, 3), np.uint8)
    for i in range(frames):
        frame[:] = i * 3
        writer.write(frame)
        if pieces and rng.random() < 0.3:
            writer.add_audio(pieces.pop(0))
    for piece in pieces:
        writer.add_audio(piece)


@pytest.mark.parametrize("background", [False, True], ids=["inline", "encoder-thread"])
def test_audio_given_in_pieces_matches_audio_given_at_once(tmp_path, background):
    from avatar.video_writer import BackgroundWriter

    rate, fps, frames = 16000, 25, 50
    audio = _voice_like(rate, 2.1)
    with Mp4Writer(tmp_path / "once.mp4", 64, 48, fps, Speech(audio, rate)) as writer:
        for i in range(frames):
            writer.write(np.full((48, 64, 3), i * 3, np.uint8))
    streamed = Mp4Writer(tmp_path / "pieces.mp4", 64, 48, fps, audio_rate=rate)
    with BackgroundWriter(streamed) if background else streamed as writer:
        _write_streamed(writer, audio, frames)

    once, pieces = _decoded_audio(tmp_path / "once.mp4"), _decoded_audio(tmp_path / "pieces.mp4")
    assert abs(len(once) - len(pieces)) <= 1024, "lengths within one AAC frame"
    n = min(len(once), len(pieces))
    assert np.corrcoef(once[:n], pieces[:n])[0, 1] > 0.99
    assert len(pieces) >= len(audio) * 44100 // rate - 1024, "nothing given before close is lost"


def test_streamed_audio_is_not_held_once_the_video_has_passed_it(tmp_path):
    rate, fps = 16000, 25
    with Mp4Writer(tmp_path / "v.mp4", 64, 48, fps, audio_rate=rate) as writer:
        held = []
        for second in range(6):
            writer.add_audio(_voice_like(rate, 1.0))
            for _ in range(fps):
                writer.write(np.zeros((48, 64, 3), np.uint8))
            held.append(writer.pending_audio_seconds)
    assert max(held) < 1.0, "only audio ahead of the video waits; the rest is encoded"


def test_adding_audio_to_a_writer_without_audio_is_refused(tmp_path):
    from avatar.video_writer import BackgroundWriter

    with Mp4Writer(tmp_path / "v.mp4", 64, 48) as writer:
        with pytest.raises(ValueError, match="audio_rate"):
            writer.add_audio(np.zeros(100, np.float32))
        background = BackgroundWriter(writer)
        with pytest.raises(ValueError, match="audio_rate"):
            background.add_audio(np.zeros(100, np.float32))
        background._finish_thread()
        writer.write(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="not both"):
        Mp4Writer(tmp_path / "w.mp4", 64, 48, speech=Speech(np.zeros(10, np.float32), 16000), audio_rate=16000)


def _subtitle_cues(path) -> list[tuple[float, float, str]]:
    """(start, end, text) of each non-empty sample of the first subtitle track, decoded by FFmpeg."""
    cues = []
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        assert stream.codec_context.name == "mov_text" and stream.language == "eng"
        for packet in container.demux(stream):
            if packet.pts is None or packet.size <= 2:  # empty samples fill the gaps between cues
                continue
            text = "\n".join(s.dialogue.decode() for s in stream.decode(packet))
            start = float(packet.pts * packet.time_base)
            cues.append((round(start, 3), round(start + float(packet.duration * packet.time_base), 3), text))
    return cues


@pytest.mark.parametrize("background", [False, True], ids=["inline", "encoder-thread"])
def test_captions_become_a_soft_subtitle_track(tmp_path, background):
    from avatar.captions import Cue
    from avatar.video_writer import BackgroundWriter

    rate, fps, frames = 16000, 25, 75
    cues = [Cue(1, 0.2, 1.1, "Hello, world."), Cue(2, 1.5, 2.4, "Grüße {\\b1} 世界\nsecond line"), Cue(3, 2.8, 9.0, "cut")]
    writer = Mp4Writer(tmp_path / "v.mp4", 64, 48, fps, audio_rate=rate, captions=True)
    with BackgroundWriter(writer) if background else writer as out:
        for i in range(frames):
            out.write(np.full((48, 64, 3), i, np.uint8))
            if i % 10 == 0:
                out.add_audio(_voice_like(rate, 0.4))
        out.set_subtitles(cues)

    assert _subtitle_cues(tmp_path / "v.mp4") == [
        (0.2, 1.1, "Hello, world."),
        (1.5, 2.4, "Grüße {\\b1} 世界\nsecond line"),  # stored as plain text, not read as ASS markup
        (2.8, 3.2, "cut"),  # cut where the media ends: 3.2 s of audio (the video is 3.0 s)
    ]
    with av.open(str(tmp_path / "v.mp4")) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.codec_context.pix_fmt, audio.codec_context.name) == ("h264", "yuv420p", "aac")
        assert float(container.duration / 1e6) == pytest.approx(3.2, abs=0.1), "captions do not lengthen the file"
    data = (tmp_path / "v.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_bad_captions_are_refused_and_leave_nothing(tmp_path):
    from avatar.captions import Cue

    plain = Mp4Writer(tmp_path / "v.mp4", 64, 48)
    with pytest.raises(ValueError, match="captions=True"):
        plain.set_subtitles([])
    plain.abort()
    writer = Mp4Writer(tmp_path / "w.mp4", 64, 48, captions=True)
    writer.write(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="overlap"):
        writer.close(subtitles=[Cue(1, 0.0, 1.0, "a"), Cue(2, 0.5, 1.5, "b")])
    assert list(tmp_path.iterdir()) == [], "a failed close drops the partial file"


def test_encoder_settings_follow_frame_size_and_explicit_values_win(tmp_path):
    from avatar.video_writer import encoder_settings

    writer = Mp4Writer(tmp_path / "v.mp4", 1024, 1024, crf=28)
    try:
        assert writer.encoder.crf == 28 and writer.encoder.preset == encoder_settings(1024, 1024).preset
    finally:
        writer.abort()
