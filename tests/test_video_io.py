"""Checked video input: types, damage, missing streams, limits, constant frame rate, rotation, sound."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Optional

import av
import imageio_ffmpeg
import numpy as np
import pytest

from avatar.errors import InputError
from avatar.speech.timeline import Speech
from avatar.video.io import VIDEO_EXTENSIONS, VideoLimits, open_video
from avatar.video_writer import Mp4Writer


def grey_frame(index: int, width: int = 64, height: int = 36) -> np.ndarray:
    """A flat frame whose grey level names its index (steps of 20 survive compression)."""
    return np.full((height, width, 3), 20 + 20 * index, np.uint8)


def tone(seconds: float, rate: int = 16000, hz: float = 440.0) -> Speech:
    t = np.arange(int(seconds * rate)) / rate
    return Speech(samples=(0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), sample_rate=rate)


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 10, audio: Optional[Speech] = None) -> Path:
    """An H.264 MP4 through the app's own writer."""
    height, width = frames[0].shape[:2]
    with Mp4Writer(path, width, height, fps=fps, speech=audio) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


def write_with_pyav(path: Path, frames: list[np.ndarray], codec: str = "libx264", fps: int = 10,
                    rotation: Optional[int] = None, pix_fmt: str = "yuv420p") -> Path:
    """Any container PyAV can write; `rotation` sets the display matrix (counter-clockwise degrees)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Path(path)


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An .mp4 holding only an AAC track."""
    rate = 44100
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        samples = tone(seconds, rate).samples
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Path(path)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Where open_video makes its private copies, so a test can see them go."""
    folder = tmp_path / "private"
    folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    return folder


@pytest.mark.parametrize("suffix, codec", [(".mp4", "libx264"), (".mov", "libx264"), (".mkv", "libx264"),
                                           (".webm", "libvpx-vp9"), (".avi", "mpeg4")])
def test_every_supported_type_opens_with_its_frames(tmp_path, suffix, codec):
    assert suffix in VIDEO_EXTENSIONS
    path = write_with_pyav(tmp_path / f"clip{suffix}", [grey_frame(i) for i in range(6)], codec=codec)
    with open_video(path) as video:
        assert (video.info.width, video.info.height, video.info.fps) == (64, 36, 10.0)
        assert video.info.frames == 6 and video.info.rotation == 0 and not video.info.has_audio
        levels = [int(round(frame.mean())) for frame in video.frames()]
    assert levels == pytest.approx([20 + 20 * i for i in range(6)], abs=4)


def test_bytes_and_uploads_open_too(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", [grey_frame(i) for i in range(4)])

    class Upload:
        name = "phone.mov"

        def getvalue(self) -> bytes:
            return path.read_bytes()

    with open_video(Upload()) as upload, open_video(path.read_bytes()) as raw:
        assert upload.info.name == "phone.mov" and raw.info.frames == upload.info.frames == 4
        assert upload.info.sha256 == raw.info.sha256


def test_an_unsupported_extension_is_refused_before_decoding(tmp_path, private_tmp):
    path = write_clip(tmp_path / "clip.mp4", [grey_frame(0)] * 3)
    with pytest.raises(InputError, match=r"clip\.gif is not a supported video type.*\.mp4"):
        open_video(path.read_bytes(), name="clip.gif")
    assert not any(private_tmp.iterdir())


@pytest.mark.parametrize("kind", ["corrupt-jpeg", "noise"])
def test_a_damaged_file_is_refused_in_one_sentence_and_leaves_no_copy(fixtures, private_tmp, kind):
    data = (fixtures / "corrupt.jpg").read_bytes() if kind == "corrupt-jpeg" else \
        np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    with pytest.raises(InputError, match=r"^Cannot read video clip\.mp4; it may be damaged"):
        open_video(data, name="clip.mp4")
    assert not any(private_tmp.iterdir())


def test_a_file_without_pictures_is_refused(tmp_path):
    path = write_audio_only(tmp_path / "sound.mp4")
    with pytest.raises(InputError, match="sound.mp4 has no video stream"):
        open_video(path)


@pytest.mark.parametrize("limits, words", [
    (VideoLimits(max_seconds=1.0), "2 s long, more than the 1 s limit"),
    (VideoLimits(max_long_side=48), "64x36, larger than the 48 px limit"),
    (VideoLimits(max_frames=15), "20 frames at 10 fps, more than the 15 limit"),
    (VideoLimits(max_bytes=1000), "more than the 0 MB limit"),
])
def test_limits_are_checked_before_decoding(tmp_path, private_tmp, limits, words):
    path = write_clip(tmp_path / "clip.mp4", [grey_frame(i % 10) for i in range(20)])
    with pytest.raises(InputError, match=words):
        open_video(path, limits)
    assert not any(private_tmp.iterdir())


def _levels(frames) -> list[int]:
    return [int(round((frame.mean() - 20) / 20)) for frame in frames]


def _ffmpeg_fps_filter(path: Path, fps: int) -> list[int]:
    """The source frames FFmpeg's own `fps` filter shows at `fps`."""
    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-vf", f"fps={fps}",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return _levels(np.frombuffer(raw, np.uint8).reshape(-1, 36, 64, 3))


def test_a_10_fps_clip_read_at_25_fps_holds_each_frame_in_order(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", [grey_frame(i) for i in range(8)], fps=10)
    with open_video(path, fps=25) as video:
        assert video.info.frames == 20 and video.info.fps == 25.0
        shown = _levels(video.frames())
    # Output time k/25 shows the newest source frame less than half an output frame after it.
    assert shown == [((2 * k + 1) * 10 - 1) // 50 for k in range(20)]
    assert shown == _ffmpeg_fps_filter(path, 25)


@pytest.mark.parametrize("source_fps, fps, count, frames", [(25, 10, 10, 4), (30, 25, 12, 10), (24, 30, 9, 12)])
def test_other_rates_pick_the_frames_ffmpeg_picks(tmp_path, source_fps, fps, count, frames):
    path = write_clip(tmp_path / "clip.mp4", [grey_frame(i) for i in range(count)], fps=source_fps)
    with open_video(path, fps=fps) as video:
        shown = _levels(video.frames())
    # Our count covers the whole duration (rounded up); FFmpeg may stop one frame short.
    assert video.info.frames == len(shown) == frames
    reference = _ffmpeg_fps_filter(path, fps)
    assert len(reference) >= frames - 1 and shown[:len(reference)] == reference[:frames]


def _marked_frame() -> np.ndarray:
    """64x32: a red left half and a green stripe along the top, so every turn is visible."""
    image = np.zeros((32, 64, 3), np.uint8)
    image[:, :32, 0] = 255
    image[:6, :, 1] = 255
    return image


@pytest.mark.parametrize("rotation, stored_as", [(90, 90), (-90, 270), (180, 180)])
def test_rotation_metadata_turns_frames_upright_as_ffmpeg_does(tmp_path, rotation, stored_as):
    path = write_with_pyav(tmp_path / "phone.mp4", [_marked_frame()] * 3, rotation=rotation)
    with open_video(path) as video:
        frame = next(video.frames())
        assert video.info.rotation == stored_as
        assert (video.info.width, video.info.height) == (frame.shape[1], frame.shape[0])
    # FFmpeg's own player turns the picture the same way (its autorotation).
    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    assert np.frombuffer(raw, np.uint8).size == frame.size
    reference = np.frombuffer(raw, np.uint8).reshape(frame.shape)
    assert np.abs(reference.astype(int) - frame).mean() < 2.0
    if rotation == 90:  # counter-clockwise: the top stripe ends on the left, the red half at the bottom
        assert frame.shape[:2] == (64, 32)
        assert frame[:, :3, 1].mean() > 200 and frame[-20:, 10:, 0].mean() > 200 and frame[:20, 10:, 0].mean() < 50


def test_sound_is_returned_whole_even_for_a_short_clip(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", [grey_frame(i) for i in range(5)], fps=10, audio=tone(0.5))
    with open_video(path) as video:
        assert video.info.has_audio
        sound = video.audio()
    assert sound.sample_rate == 44100
    assert abs(len(sound.samples) - 0.5 * 44100) <= 2048  # AAC priming and the last frame's padding
    spectrum = np.abs(np.fft.rfft(sound.samples))
    assert abs(np.argmax(spectrum) * 44100 / len(sound.samples) - 440) < 10


def test_a_video_without_sound_has_no_audio(tmp_path):
    with open_video(write_clip(tmp_path / "clip.mp4", [grey_frame(0)] * 3)) as video:
        assert video.audio() is None


def test_the_private_copy_goes_when_the_video_is_closed(tmp_path, private_tmp):
    video = open_video(write_clip(tmp_path / "clip.mp4", [grey_frame(0)] * 3))
    assert video.path.is_file() and video.path.parent.parent == private_tmp
    video.close()
    assert not any(private_tmp.iterdir())


# --- YUV planes, decoding from a frame, scaling down ------------------------------------


def _textured(index: int, width: int = 96, height: int = 64) -> np.ndarray:
    """A frame with colour and detail, different for each index (so frames cannot be mixed up)."""
    rng = np.random.default_rng(index)
    base = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(base, np.ones((8, 8, 1), np.uint8)))


def test_yuv_frames_are_the_decoded_planes_and_convert_to_the_rgb_frames(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", [_textured(i) for i in range(12)])
    with open_video(path) as video:
        rgb = list(video.frames())
        yuv = list(video.yuv_frames())
        with av.open(str(path)) as container:
            decoded = [frame.to_ndarray(format="yuv420p") for frame in container.decode(video=0)]
    assert len(yuv) == len(rgb) == 12
    for planes, frame, rgb_frame in zip(decoded, yuv, rgb):
        assert np.array_equal(frame.planes, planes)
        assert np.abs(frame.rgb().astype(int) - rgb_frame.astype(int)).max() <= 4
        region, (x0, y0) = frame.rgb_region(13, 7, 51, 40)
        assert (x0, y0) == (12, 6) and np.array_equal(region, frame.rgb()[6:40, 12:52])


def test_decoding_from_a_frame_gives_the_same_frames_as_from_the_start(tmp_path):
    """Past a few seconds the decoder seeks to a key frame; the frames it then gives are the same, also when frames
    are held or dropped to reach a whole rate."""
    frames = [_textured(i, 64, 32) for i in range(120)]
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:  # key frames every 10 frames, so seeking lands near
        stream = container.add_stream("libx264", rate=30, options={"g": "10"})
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    for fps in (None, 25.0):
        with open_video(path, fps=fps) as video:
            every = [frame.planes for frame in video.yuv_frames()]
            for start in (0, 70, 71, len(every) - 1):
                later = [frame.planes for frame in video.yuv_frames(start)]
                assert len(later) == len(every) - start
                assert all(np.array_equal(a, b) for a, b in zip(later, every[start:]))


def test_a_tool_that_allows_it_gets_a_large_video_scaled_down(tmp_path):
    path = write_clip(tmp_path / "big.mp4", [_textured(i, 160, 96) for i in range(5)])
    with open_video(path, VideoLimits(max_long_side=100, scale_down=True)) as video:
        assert (video.info.width, video.info.height) == (100, 60) and video.info.scaled
        assert (video.info.source_width, video.info.source_height) == (160, 96)
        assert next(video.frames()).shape == (60, 100, 3)
        assert next(video.yuv_frames()).planes.shape == (90, 100)
    with open_video(path) as video:
        assert not video.info.scaled


@pytest.mark.parametrize("name, codec, pix_fmt, rotation", [
    ("odd.webm", "libvpx-vp9", "yuv420p", None),  # VP9 stores odd sizes in 4:2:0
    ("odd.mp4", "libx264", "yuv444p", None),
    ("odd_turned.mp4", "libx264", "yuv444p", 90),
])
def test_an_odd_sized_video_loses_its_last_row_and_column_and_nothing_else(tmp_path, name, codec, pix_fmt, rotation):
    """H.264 4:2:0 (every output) needs even sides: the odd last row and column are cut off, every other pixel is
    the decoded one (not resampled)."""
    path = write_with_pyav(tmp_path / name, [_textured(i, 104, 80)[:75, :99] for i in range(3)], codec=codec,
                           rotation=rotation, pix_fmt=pix_fmt)
    def luma(frame: av.VideoFrame) -> np.ndarray:
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:75, :99]

    def upright(picture: np.ndarray) -> np.ndarray:
        return picture if rotation is None else np.rot90(picture)  # counter-clockwise, as the display matrix says

    with av.open(str(path)) as container:
        decoded = [(frame.to_ndarray(format="rgb24"), luma(frame)) for frame in container.decode(video=0)]
    with open_video(path) as video:
        size = upright(np.zeros((74, 98))).shape
        assert (video.info.height, video.info.width) == size and video.info.cropped and not video.info.scaled
        assert (video.info.source_height, video.info.source_width) == (size[0] + 1, size[1] + 1)
        for (stored, stored_luma), rgb, yuv in zip(decoded, video.frames(), video.yuv_frames()):
            assert np.array_equal(rgb, upright(stored[:74, :98]))
            assert yuv.planes.shape == (size[0] * 3 // 2, size[1])
            assert np.array_equal(yuv.luma, upright(stored_luma[:74, :98]))


def test_yuv_frames_of_a_turned_video_are_upright(tmp_path):
    path = write_with_pyav(tmp_path / "turned.mp4", [_textured(i, 96, 64) for i in range(3)], rotation=90)
    with open_video(path) as video:
        for rgb, yuv in zip(video.frames(), video.yuv_frames()):
            assert rgb.shape == yuv.shape == (96, 64, 3)
            assert np.abs(yuv.rgb().astype(int) - rgb.astype(int)).mean() < 2


def test_planes_written_with_an_inputs_colour_tags_are_read_with_them(tmp_path):
    from avatar.video.io import ColourTags

    tags = ColourTags(colorspace=1, color_range=1, color_primaries=1, color_trc=1)  # BT.709, limited range
    planes = np.concatenate([np.full((48, 64), 120, np.uint8), np.full((24, 64), 90, np.uint8)])
    with Mp4Writer(tmp_path / "tagged.mp4", 64, 48, 10, colour=tags) as writer:
        for _ in range(3):
            writer.write_yuv(planes)
    with open_video(tmp_path / "tagged.mp4") as video:
        assert video.info.colour == tags
        assert np.abs(next(video.yuv_frames()).planes.astype(int) - planes).max() <= 2
