"""`make_talking_video`: portrait + text or audio -> lip-synced MP4.

The one entry point used by the page, the CLI and the tests. Cheap checks (text,
options, image, face) run before expensive work, so bad input fails in a second;
the video is streamed frame by frame to the encoder; and a failed job removes its
folder, so a half-written file is never mistaken for a result.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Optional, Union

import numpy as np

from avatar import jobs
from avatar.errors import InputError
from avatar.face.detect import find_face
from avatar.face.face import Face
from avatar.face.sidecar import sidecar_path_for
from avatar.media import load_audio, load_image, read_source, resize_long_side, write_wav
from avatar.progress import Progress, report, scaled
from avatar.speech.piper_voice import synthesize
from avatar.speech.text import check_text
from avatar.speech.timeline import Speech
from avatar.talk.engine import TalkOptions, get_engine
from avatar.talk.mouth_track import frame_count, is_silent
from avatar.video_writer import BackgroundWriter, Mp4Writer

PortraitSource = Union[str, Path, bytes, BinaryIO, np.ndarray]
AudioSource = Union[str, Path, bytes, BinaryIO, Speech]
VOICES = ("joe",)

# Share of the progress bar each stage gets (animation and encoding run together).
_FACE_END, _VOICE_END = 0.05, 0.2


@dataclass
class TalkResult:
    """A finished talking video and what went into it."""

    video_path: Path
    audio_path: Path
    manifest_path: Path
    job_dir: Path
    duration: float
    frames: int
    width: int
    height: int
    timings: dict[str, float]  # per stage; animation and encoding overlap
    seconds: float  # wall-clock time of the whole job
    manifest: dict[str, Any]


@dataclass
class Portrait:
    """A decoded portrait at render size and the face to animate in it."""

    image: np.ndarray
    face: Face
    sha256: str
    name: str


def prepare_portrait(
    source: PortraitSource,
    max_size: int,
    face_index: Optional[int] = None,
    landmarks_path: Optional[Path] = None,
) -> Portrait:
    """Load, size-cap and locate the face; a `<name>.landmarks.json` beside a file is used."""
    if isinstance(source, np.ndarray):
        image, data, name = load_image(source), source.tobytes(), "image"
    else:
        data, name = read_source(source, "image")
        image = load_image(data, name=name)
        sidecar = sidecar_path_for(source) if isinstance(source, (str, Path)) else None
        if landmarks_path is None and sidecar is not None and sidecar.is_file():
            landmarks_path = sidecar
    image = resize_long_side(image, max_size)
    face = find_face(image, face_index=face_index, landmarks_path=landmarks_path)
    return Portrait(image=image, face=face, sha256=jobs.sha256_of(data), name=name)


def prepare_speech(
    text: Optional[str] = None,
    audio: Optional[AudioSource] = None,
    rate: float = 1.0,
    voice: str = "joe",
    audio_name: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> tuple[Speech, dict[str, Any]]:
    """Speech from typed text (Piper) or a recording, plus its manifest entry.

    `audio` may also be a ready `Speech` (for example one synthesized earlier for a
    preview), which is used as it is, phoneme timeline included.
    """
    if (text is None) == (audio is None):
        raise InputError("Give either text to speak or an audio recording, not both and not neither.")
    if text is not None:
        if voice not in VOICES:
            raise InputError(f"Unknown voice {voice!r}; choose one of: {', '.join(VOICES)}.")
        text = check_text(text)
        speech = synthesize(text, rate=rate, progress=progress)
        return speech, {"text": text, "text_sha256": jobs.sha256_of(text.encode()), "voice": voice, "rate": rate}
    if isinstance(audio, Speech):
        speech, data, name = audio, audio.samples.tobytes(), audio_name or "speech"
    else:
        data, name = read_source(audio, "audio")
        name = audio_name or name
        speech = load_audio(data, name=name)
    if is_silent(speech):
        recording = f"The recording {name}" if name else "The recording"
        raise InputError(f"{recording} is silent; upload a recording with speech in it.")
    return speech, {"audio": name, "audio_sha256": jobs.sha256_of(data)}


def make_talking_video(
    portrait: PortraitSource,
    text: Optional[str] = None,
    audio: Optional[AudioSource] = None,
    *,
    rate: float = 1.0,
    voice: str = "joe",
    engine: str = "builtin",
    options: Optional[TalkOptions] = None,
    face_index: Optional[int] = None,
    landmarks_path: Optional[Path] = None,
    audio_name: Optional[str] = None,
    job_dir: Optional[Path] = None,
    session: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> TalkResult:
    """Animate `portrait` speaking `text` (bundled Piper voice) or the `audio` recording.

    `portrait` is a path (a `<stem>.landmarks.json` beside it is used instead of
    detection), raw bytes, an upload, or an RGB array. The result is written to
    `job_dir` (default: a new folder under outputs/, per `session` if given) as
    `video.mp4`, `audio.wav` and `manifest.json`. Raises `InputError`/`NoFaceError`
    with a user-facing sentence on bad input; nothing is left behind on failure.
    """
    options = (options or TalkOptions()).validate()
    animator = get_engine(engine)
    if (text is None) == (audio is None):
        raise InputError("Give either text to speak or an audio recording, not both and not neither.")
    if text is not None:
        check_text(text)
    timer = jobs.StageTimer()
    started = time.perf_counter()
    report(progress, "face", 0.0)
    with timer.stage("face"):
        picture = prepare_portrait(portrait, options.max_size, face_index, landmarks_path)
    report(progress, "voice", _FACE_END)
    with timer.stage("voice"):
        speech, speech_entry = prepare_speech(
            text, audio, rate, voice, audio_name, progress=scaled(progress, _FACE_END, _VOICE_END)
        )

    created = job_dir is None
    job_dir = jobs.new_job_dir("talk", session) if created else Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    video_path, audio_path = job_dir / "video.mp4", job_dir / "audio.wav"
    try:
        height, width = picture.image.shape[:2]
        frames = _render(animator, picture, speech, options, video_path, timer, progress)
        write_wav(audio_path, speech)
        manifest = {
            "task": "talking_video",
            "portrait": {"name": picture.name, "sha256": picture.sha256, "face_source": picture.face.source,
                         "face_box": list(picture.face.box), "face_index": face_index},
            "speech": {**speech_entry, "duration_s": round(speech.duration, 4), "sample_rate": speech.sample_rate},
            "engine": animator.name,
            "options": asdict(options),
            "video": {"width": width, "height": height, "fps": options.fps, "frames": frames},
            "timings_s": timer.seconds,
            "wall_s": round(time.perf_counter() - started, 3),
        }
        manifest_path = jobs.write_manifest(job_dir, manifest)
    except BaseException:
        if created:
            shutil.rmtree(job_dir, ignore_errors=True)
        else:
            for path in (video_path, audio_path, job_dir / "manifest.json"):
                path.unlink(missing_ok=True)
        raise
    report(progress, "done", 1.0)
    return TalkResult(
        video_path=video_path, audio_path=audio_path, manifest_path=manifest_path, job_dir=job_dir,
        duration=speech.duration, frames=frames, width=width, height=height, timings=timer.seconds,
        seconds=manifest["wall_s"], manifest=manifest,
    )


def _render(animator, picture: Portrait, speech: Speech, options: TalkOptions, video_path: Path,
            timer: jobs.StageTimer, progress: Optional[Progress]) -> int:
    """Stream frames from the engine into the encoder, which runs on its own thread."""
    height, width = picture.image.shape[:2]
    frames = animator.render(picture.image, picture.face, speech, options)
    expected = max(1, frame_count(speech.duration, options.fps))
    with BackgroundWriter(Mp4Writer(video_path, width, height, options.fps, speech)) as writer:
        while True:
            start = time.perf_counter()
            frame = next(frames, None)
            timer.add("animation", time.perf_counter() - start)
            if frame is None:
                break
            writer.write(frame)
            count = writer.frames_written
            if count % 5 == 0:
                report(progress, f"animation and encoding: frame {count}/{expected}",
                       _VOICE_END + (1 - _VOICE_END) * count / expected)
    # Encoding overlaps animation; what is recorded is the encoder thread's own time.
    timer.add("encoding", writer.encode_seconds)
    return writer.frames_written
