"""Dubbing: a real video of a person, re-synced to new speech (typed text or a recording).

The output has the input's size and frame rate (rounded to whole frames per
second), the chosen face's mouth re-animated by the built-in engine
(`mouth_transplant`), the new speech as its sound and captions as for a talking
video. Two passes over the video: the first tracks the face (only landmarks are
kept), the second renders; memory does not grow with the video's length.

Frames stay in the decoder's YUV 4:2:0 planes from decoding to encoding: only
the region around the mouth is converted to RGB and back (`apply_yuv`), so
outside it the encoder gets exactly the input's decoded planes (tagged with its
colour description) and only x264's own loss remains. A video larger than
1920 px on its long side is scaled down to that as it is decoded, and the
manifest says so; frames where the face is not seen pass through unchanged, and
the manifest names them.

When the speech and the video differ in length, `fit` decides:

- speech longer: `pingpong` (forward, then backward, and so on: no jump at the
  seam, what Wav2Lip users expect), `loop` (from the start again) or `hold` (the
  last frame stays);
- speech shorter: the rest of the video keeps its own mouth, without sound, or
  is cut off with `trim`.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, TypeVar

import numpy as np

from avatar import jobs
from avatar.captions import captions_file_name, cues_from_words, is_automatic, write_srt
from avatar.errors import InputError, quoted
from avatar.face.detect import inner_lip_gap
from avatar.face.face import Face
from avatar.face.track import FaceTrack, detection_interval, first_faces, runs, track_face
from avatar.media import write_wav
from avatar.progress import Progress, report, scaled
from avatar.speech.timeline import Speech
from avatar.speech.voices import VOICE_SPECS
from avatar.talk.engine import TalkOptions, frame_count
from avatar.video.dub_options import FITS, DubOptions
from avatar.video.io import Video, VideoInfo, VideoLimits, YuvFrame, open_video
from avatar.video.own_pauses import own_mouth_strength
from avatar.video_writer import BackgroundWriter, Mp4Writer
from avatar.enhance.video import check_mode, enhancing, manifest_entry, video_enhancer

if TYPE_CHECKING:  # the enhancement networks (torch) load only when a dub is enhanced
    from avatar.enhance.temporal import StableFaceEnhancer

DUB_LIMITS = VideoLimits(max_seconds=300.0, max_frames=300 * 60, max_long_side=1920, scale_down=True)
"""Videos up to five minutes (talks are dubbed in pieces of that size); larger than 1920 px: scaled down to it."""
DUB_CRF = 17
"""x264 quality of the output: most of each frame is the input's own picture, encoded a second time, so it is
kept close to it."""
DUB_PRESET = "ultrafast"
"""x264 preset of the output."""
FRAME_BUDGET = 256 * 1024**2
"""Bytes of decoded frames kept at once when the video is played out of order (backward, or again): 190 frames
at 720p. Going back decodes again only from the key frame before the window, so a larger one saves little."""
TRACK_WORKERS = 2
"""Threads tracking the face (`track_face(workers=...)`): the same landmarks as one, sooner on two cores."""
VOICE_THREADS = 1
"""Threads typed text is spoken on while the face is tracked (`Voice.speak(threads=...)`): the same speech as on
every core, and the tracker keeps the other one (onnxruntime's threads spin while they wait for work, so a voice
spread over both cores took them from the tracker)."""
FIRST_FACE_SECONDS = 10.0
"""A face must be seen within this much of the video's start (what the page shows for picking one)."""
# Share of the progress bar for each stage.
_VOICE_END, _TRACK_END = 0.2, 0.5


@dataclass
class DubResult:
    """A dubbed video and what went into it."""

    video_path: Path
    audio_path: Path
    captions_path: Optional[Path]
    manifest_path: Path
    job_dir: Path
    frames: int
    fps: int
    width: int
    height: int
    manifest: dict[str, Any] = field(repr=False)


def plan_frames(video_frames: int, speech_frames: int, fit: str) -> np.ndarray:
    """For each output frame, the index of the video frame it shows.

    The output lasts as long as the speech when the speech is longer (frames
    chosen by `fit`), as long as the video otherwise (or as the speech, for `trim`).
    """
    if fit not in FITS:
        raise InputError(f"Unknown fit {quoted(fit)}; use one of: {', '.join(FITS)}.")
    if video_frames <= 0:
        raise InputError("The video holds no frames; upload a video with pictures in it.")
    speech_frames = max(1, speech_frames)
    if speech_frames <= video_frames:
        return np.arange(speech_frames if fit == "trim" else video_frames)
    steps = np.arange(speech_frames)
    if fit == "loop":
        return steps % video_frames
    if fit == "hold":
        return np.minimum(steps, video_frames - 1)
    if fit == "trim":  # nothing to cut: the video is shorter; it plays forward and back, as by default
        fit = "pingpong"
    period = 2 * (video_frames - 1)
    if period == 0:
        return np.zeros(speech_frames, dtype=np.int64)
    phase = steps % period
    return np.where(phase < video_frames, phase, period - phase)


def frame_ranges(flags: np.ndarray) -> list[list[int]]:
    """The runs of True in `flags` as [first, last] frame indices (inclusive), for the manifest."""
    flags = np.asarray(flags, bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8)))
    return [[int(start), int(stop) - 1] for start, stop in zip(edges[::2], edges[1::2])]


def ordered_frames(video: Video, indices: Sequence[int], budget: int = FRAME_BUDGET,
                   yuv: bool = False) -> Iterator[Any]:
    """The video's frames (RGB, or `YuvFrame`s with `yuv`) in the order `indices` asks for, decoding as little as
    memory allows.

    Frames are decoded forward into a window of at most `budget` bytes; an index
    outside the window refills it from there, forward or (for a backward run)
    ending at that index, decoding the video again (YUV: from the key frame
    before the window; RGB: from the start) only when the window has to move
    back. A short video is decoded once and replayed.
    """
    frame_bytes = video.info.width * video.info.height * 3 // (2 if yuv else 1)
    size = max(2, budget // max(frame_bytes, 1))
    total = video.info.frames
    window: dict[int, Any] = {}
    decoder: Optional[Iterator[Any]] = None
    position = 0  # the index the decoder yields next
    for step, index in enumerate(indices):
        if index not in window:
            upcoming = indices[step + 1] if step + 1 < len(indices) else index
            start = index if upcoming >= index else max(0, index - size + 1)
            stop = min(total, start + size)
            if decoder is None or position > start:
                # YUV frames are decoded from the key frame before the window, RGB ones from the start.
                decoder, position = (video.yuv_frames(start), start) if yuv else (video.frames(), 0)
            window.clear()
            while position < stop:
                frame = next(decoder, None)
                if frame is None:
                    break
                if position >= start:
                    window[position] = frame
                position += 1
            if index not in window:
                raise InputError(f"{video.info.name} ends before frame {index}; re-export the video.")
        yield window[index]


def pick_reference(track: FaceTrack) -> int:
    """The frame whose face the engine rigs: a relaxed closed mouth, among frames of typical size.

    A closed mouth needs no closing (no guessed lips), and a face near the
    video's usual size carries best onto the other frames. But the most closed
    mouth of a talk is often pressed (an "m", a pursed pause): its lips are
    rolled in and thin, and every new mouth made from it looks pursed. So lips
    thinner than the video's usual count against a frame as much as a gap does.
    """
    seen = np.flatnonzero(track.visible)
    if len(seen) == 0:
        raise InputError("The chosen face is not seen in any frame of the video.")
    points = track.landmarks[seen].astype(np.float64)
    eyes = np.linalg.norm(points[:, 36:42].mean(axis=1) - points[:, 42:48].mean(axis=1), axis=1)
    gaps = np.array([inner_lip_gap(p) for p in points])
    outer = np.linalg.norm(points[:, 57] - points[:, 51], axis=1) / eyes
    thickness = outer - gaps  # both lips together
    typical = np.abs(eyes - np.median(eyes)) <= 0.1 * np.median(eyes)
    score = gaps + 2.0 * np.maximum(0.0, np.median(thickness) - thickness) + np.where(typical, 0.0, 1.0)
    return int(seen[int(np.argmin(score))])


def dub_video(
    video: Any,
    text: Optional[str] = None,
    audio: Any = None,
    *,
    transcript: Optional[str] = None,
    rate: float = VOICE_SPECS["rate"].default,
    voice: str = VOICE_SPECS["voice"].default,
    voice_sample: Any = None,
    clone_from_video: bool = False,
    language: str = VOICE_SPECS["language"].default,
    options: Optional[DubOptions] = None,
    video_name: Optional[str] = None,
    audio_name: Optional[str] = None,
    job_dir: Optional[Path] = None,
    progress: Optional[Progress] = None,
) -> DubResult:
    """Re-sync `video` (a path, bytes or upload) to `text` (spoken by `voice`) or the `audio` recording.

    With `clone_from_video` the text is spoken by the cloning `voice` copying the
    voice of the video's own sound (`video_voice`), in `language`.

    The result is written to `job_dir` (default: a new folder under outputs/) as
    `video.mp4`, `audio.wav`, the captions and `manifest.json`; nothing is left
    behind on failure. Raises InputError (NoFaceError) with one sentence on bad input.
    """
    from avatar.talk.pipeline import check_sources, check_voice, prepare_speech

    options = options or DubOptions()
    plan_frames(1, 1, options.fit)  # an unknown fit is refused before any work
    check_engine(options)
    check_sources(text, audio, transcript)
    check_clone(clone_from_video, text, voice_sample)
    if not clone_from_video:
        check_voice(voice, voice_sample, language, typed=text is not None, rate=rate)
    started = time.perf_counter()
    timer = jobs.StageTimer()
    with open_dub_video(video, video_name) as clip:
        info = clip.info
        own_sound: Optional[Speech] = None  # the video's sound, decoded once for the voice sample and the pauses
        if clone_from_video:
            from avatar.video.video_voice import voice_sample_from_video

            own_sound = clip.audio()
            voice_sample = voice_sample_from_video(own_sound, info.name)  # checked with the voice just below
        fps = int(round(info.fps))
        report(progress, "voice", 0.0)
        shares = _Shares(progress, {"voice": _VOICE_END, "face tracking": _TRACK_END - _VOICE_END})

        def speak() -> tuple[Speech, dict[str, Any]]:
            with timer.stage("voice"):
                return prepare_speech(
                    text, audio, rate, voice, audio_name, shares.part("voice"), transcript=transcript,
                    seed=options.seed, voice_sample=voice_sample, language=language, threads=VOICE_THREADS)

        # The voice is made while the face is tracked: the voice model, the video decoder and dlib
        # (searching the next due detection's frame on a thread of its own while the points of the
        # frames before it are fitted) run outside Python's lock, so they share the machine's cores.
        with ThreadPoolExecutor(1, thread_name_prefix="dub-voice") as pool:
            spoken = pool.submit(speak)
            with timer.stage("tracking"):
                track = track_face(ahead(clip.yuv_frames()), options.face_index, fps=fps, frame_count=info.frames,
                                   progress=shares.part("face tracking"), workers=TRACK_WORKERS)
            speech, speech_entry = spoken.result()
        speech_frames = frame_count(speech.duration, fps)
        plan = plan_frames(info.frames, speech_frames, options.fit)

        created = job_dir is None
        job_dir = jobs.new_job_dir("dub") if created else Path(job_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        automatic = is_automatic(speech_entry.get("captions"))
        paths = {name: job_dir / name for name in ("video.mp4", "audio.wav", "manifest.json")}
        paths["captions"] = job_dir / captions_file_name(automatic)
        with jobs.removed_on_failure(job_dir, created, paths.values()):
            animated = min(speech_frames, len(plan))
            with timer.stage("rigging"):
                animate, rigged = _animator(clip, track, speech, options, fps, plan, animated, own_sound)
            sound = _padded(speech, len(plan) / fps)
            cues = cues_from_words(speech.words or [])
            with video_enhancer(options.enhance) as enhancer:
                frames_out = _render(clip, plan, animated, animate, sound, cues, paths["video.mp4"], fps, timer,
                                     scaled(progress, _TRACK_END, 1.0), enhancer, track)
            unseen = ~track.visible[plan]
            unseen[animated:] = True  # after the speech, the video's own frames
            write_wav(paths["audio.wav"], sound)
            captions_path = write_srt(paths["captions"], cues) if cues else None
            manifest = {
                "task": "dub",
                "video": {"name": info.name, "sha256": info.sha256, "width": info.width, "height": info.height,
                          "fps": fps, "frames": info.frames, "face_index": options.face_index,
                          "face_seen": round(track.visible_fraction, 4), "cuts": list(track.cuts),
                          "frames_without_face": frame_ranges(~track.visible), **rigged,
                          "scaled_from": [info.source_width, info.source_height] if info.scaled else None,
                          "cropped_from": [info.source_width, info.source_height] if info.cropped else None},
                "speech": {**speech_entry, "duration_s": round(speech.duration, 4),
                           "sample_rate": speech.sample_rate, "voice_from_video": clone_from_video},
                "engine": options.engine,
                "options": asdict(options),
                "output": {"frames": frames_out, "fps": fps, "width": info.width, "height": info.height,
                           "animated_frames": animated, "passed_through": frame_ranges(unseen), "crf": DUB_CRF,
                           "preset": DUB_PRESET},
                "captions": {"file": paths["captions"].name, "cues": len(cues), "automatic": automatic}
                if cues else None,
                "timings_s": timer.seconds,
                "wall_s": round(time.perf_counter() - started, 3),
            }
            manifest["enhancement"] = manifest_entry(options.enhance, enhancer, manifest["wall_s"], len(plan) / fps,
                                                     timer.seconds.get("enhancement", 0.0))
            manifest_path = jobs.write_manifest(job_dir, manifest)
    report(progress, "done", 1.0)
    return DubResult(video_path=paths["video.mp4"], audio_path=paths["audio.wav"], captions_path=captions_path,
                     manifest_path=manifest_path, job_dir=job_dir, frames=frames_out, fps=fps, width=info.width,
                     height=info.height, manifest=manifest)


def check_engine(options: DubOptions) -> None:
    """A missing model (the engine's or face enhancement's) is named, with the command that installs it, before any
    work."""
    if options.engine != "builtin":
        from avatar.talk.engines import get_engine

        get_engine(options.engine).check_ready()
    check_mode(options.enhance)


def check_clone(clone_from_video: bool, text: Optional[str], voice_sample: Any) -> None:
    """The video's own voice speaks typed text only, and replaces an uploaded sample rather than joining it."""
    if not clone_from_video:
        return
    if text is None:
        raise InputError("The voice in the video can only speak typed text; give text, or leave out the recording.")
    if voice_sample is not None:
        raise InputError("Give either a voice sample or use the voice in the video, not both.")


def open_dub_video(video: Any, name: Optional[str]) -> Video:
    """The checked video, decoded at a whole number of frames per second (29.97 becomes 30)."""
    clip = open_video(video, DUB_LIMITS, name=name)
    whole = float(max(1, round(clip.info.fps)))
    if abs(clip.info.fps - whole) <= 1e-3:
        return clip
    clip.close()
    return open_video(video, DUB_LIMITS, fps=whole, name=name)


@dataclass
class FacesAtStart:
    """The video's first frame with faces near its start: the faces a person picks from, numbered as `face_index`
    counts them (largest first)."""

    info: VideoInfo
    index: int
    frame: np.ndarray
    faces: list[Face]


def faces_at_start(video: Any, name: Optional[str] = None) -> FacesAtStart:
    """Check the video as a dub does and find its faces (in its first `FIRST_FACE_SECONDS`, where the tracker looks).

    The job's check and the page both call this, so the boxes a person picks from and
    the numbers the job accepts are the same. Raises InputError (NoFaceError) with one sentence.
    """
    with open_dub_video(video, name) as clip:
        limit = max(1, int(FIRST_FACE_SECONDS * clip.info.fps))
        # The frames the tracker looks at first, so the faces offered are the ones face_index counts.
        # Converted from YUV as the tracker converts them, so that its first detection finds this one cached.
        frames = (frame.rgb() for frame in clip.yuv_frames())
        index, frame, faces = first_faces(frames, every=detection_interval(clip.info.fps), limit=limit)
        return FacesAtStart(clip.info, index, frame, faces)


T = TypeVar("T")
_END = object()


@dataclass
class _Failed:
    error: BaseException


def ahead(items: Iterator[T], depth: int = 8) -> Iterator[T]:
    """`items`, produced on a second thread up to `depth` ahead of the one consuming them.

    Decoding, rendering mouths and blending them in each release Python's lock for
    most of their work, so on two cores they overlap. The items come in the same
    order with the same values as without it; an error in producing them is raised
    where they are consumed. A consumer that stops early stops the producer.
    """
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer
            put(_Failed(error))

    thread = threading.Thread(target=produce, name="dub-ahead", daemon=True)
    thread.start()
    try:
        while (item := waiting.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


class _Shares:
    """Progress of stages that run at the same time: each moves its own share of the bar, the bar shows their sum."""

    def __init__(self, progress: Optional[Progress], shares: dict[str, float]) -> None:
        self.progress = progress
        self.shares = shares
        self.done = {name: 0.0 for name in shares}
        self.lock = threading.Lock()

    def part(self, name: str) -> Optional[Progress]:
        if self.progress is None:
            return None

        def update(stage: str, fraction: float) -> None:
            with self.lock:
                self.done[name] = fraction
                total = sum(self.shares[key] * value for key, value in self.done.items())
            report(self.progress, stage, total)

        return update


def _padded(speech: Speech, seconds: float) -> Speech:
    """The speech with silence after it up to `seconds` (the rest of a longer video is silent)."""
    missing = int(round(seconds * speech.sample_rate)) - len(speech.samples)
    if missing <= 0:
        return speech
    samples = np.concatenate([speech.samples, np.zeros(missing, speech.samples.dtype)])
    return Speech(samples, speech.sample_rate, speech.phonemes, speech.words)


Animate = Callable[[Iterator[tuple[int, YuvFrame]]], Iterator[Any]]
"""Redraws the mouths of (source frame index, frame) pairs, in order, one output frame each (a `YuvFrame`, or RGB)."""


def _animator(clip: Video, track: FaceTrack, speech: Speech, options: DubOptions, fps: int, plan: np.ndarray,
              animated: int, own_sound: Optional[Speech] = None) -> tuple[Animate, dict[str, Any]]:
    """The chosen engine, ready to redraw `animated` frames, and for the manifest (builtin only) the frames it
    rigged: the reference (`reference_frame`) and the one whose open mouth gave the teeth (`teeth_frame`; None when
    the speaker never opens wide in that pose, and the teeth are drawn), and the output frames that keep the
    speaker's own mouth, wholly or fading, in pauses both sounds share (`own_mouth_frames`, see `own_pauses`).
    `own_sound` is the video's sound when it was decoded already (for a voice sample)."""
    if options.engine == "wav2lip":
        from avatar.talk.engines import get_engine

        engine = get_engine("wav2lip")
        boxes = wav2lip_boxes(track, (clip.info.height, clip.info.width))

        def lip_sync(items: Iterator[tuple[int, YuvFrame]]) -> Iterator[np.ndarray]:
            # New RGB arrays: the decoded frames may be shown again (pingpong, loop) and must stay the video's own.
            boxed = ((frame.rgb(), boxes[source]) for source, frame in items)
            return engine.lip_sync(boxed, speech, fps, animated)

        return lip_sync, {"reference_frame": None, "teeth_frame": None, "own_mouth_frames": []}

    from avatar.talk.builtin.engine import BuiltinEngine
    from avatar.video.mouth_transplant import MouthTransplant, make_reference
    from avatar.video.open_mouth import aligned_open_mouth, pick_open_frame

    engine = BuiltinEngine()
    reference_index = pick_reference(track)
    teeth_index = pick_open_frame(track, reference_index) if options.teeth == "video" else None
    wanted = sorted({reference_index} | ({teeth_index} if teeth_index is not None else set()))
    decoded = dict(zip(wanted, (frame.rgb() for frame in ordered_frames(clip, wanted, yuv=True))))
    reference_frame, landmarks = decoded[reference_index], track.landmarks[reference_index]
    open_mouth = None if teeth_index is None else aligned_open_mouth(
        decoded[teeth_index], track.landmarks[teeth_index], landmarks, reference_frame.shape[:2])
    transplant = MouthTransplant(make_reference(reference_frame, landmarks, engine, open_mouth), engine)
    mouth_options = TalkOptions(fps=fps, still=True, blinks=False, lead=options.lead,
                                expression_scale=options.expression_scale, seed=options.seed)
    weights = engine.weights(speech, mouth_options, range(animated), animated)
    own = np.zeros(animated, np.float32)
    if options.pauses == "video":
        own = own_mouth_strength(speech, clip.audio() if own_sound is None else own_sound, plan, fps, animated)

    def transplanted(items: Iterator[tuple[int, YuvFrame]]) -> Iterator[YuvFrame]:
        mouths = ahead(mouth.copy() for mouth in transplant.mouths(weights))  # the engine reuses its buffer
        for step, ((source, frame), mouth) in enumerate(zip(items, mouths)):
            yield transplant.apply_yuv(frame, track.landmarks[source], mouth, 1.0 - float(own[step])) \
                if track.visible[source] else frame

    return transplanted, {"reference_frame": reference_index, "teeth_frame": teeth_index,
                          "own_mouth_frames": frame_ranges(own > 0.0)}


def wav2lip_boxes(track: FaceTrack, shape: tuple[int, int]) -> list[Optional[tuple[int, int, int, int]]]:
    """Wav2Lip's face box in each video frame (None where the face is not seen): the tracked face's, padded as the
    original pads, and averaged over neighbouring frames as it averages them, never across a cut or a gap."""
    from avatar.talk.wav2lip.engine import face_box, smoothed_boxes
    from avatar.talk.wav2lip.options import DEFAULT_PADS

    boxes: list[Optional[tuple[int, int, int, int]]] = [None] * track.frame_count
    for start, stop in runs(track.visible, track.cuts):
        steady = smoothed_boxes([face_box(track.face(index), shape, DEFAULT_PADS) for index in range(start, stop)])
        boxes[start:stop] = [tuple(box) for box in steady.tolist()]
    return boxes


def _render(clip: Video, plan: np.ndarray, animated: int, animate: Animate, sound: Speech, cues: list, path: Path,
            fps: int, timer: jobs.StageTimer, progress: Optional[Progress],
            enhancer: Optional[StableFaceEnhancer] = None, track: Optional[FaceTrack] = None) -> int:
    """Stream the output frames into the encoder: re-animated while the speech lasts, the video's own after.

    With an enhancer every frame is enhanced on the tracked (smoothed) landmarks of the frame it came from; where
    the track lost the face the frame passes through."""
    info = clip.info
    frames = ahead(ordered_frames(clip, plan.tolist(), yuv=True))
    redrawn = animate(zip(plan[:animated].tolist(), frames))
    with BackgroundWriter(Mp4Writer(path, info.width, info.height, fps, sound, crf=DUB_CRF, preset=DUB_PRESET,
                                    captions=bool(cues),
                                    colour=info.colour)) as plain:
        writer = enhancing(plain, enhancer, timer)
        if cues:
            writer.set_subtitles(cues)
        for step in range(len(plan)):
            start = time.perf_counter()
            frame = next(redrawn) if step < animated else next(frames)
            timer.add("animation", time.perf_counter() - start)
            if enhancer is not None:
                source = int(plan[step])
                writer.write(frame.rgb() if isinstance(frame, YuvFrame) else frame,
                             track.landmarks[source] if track.visible[source] else None, detect=False)
            elif isinstance(frame, YuvFrame):
                writer.write_yuv(frame.planes, copy=False)  # decoded or redrawn planes are never changed later
            else:
                writer.write(frame)
            if step % 5 == 0:
                report(progress, f"animation and encoding: frame {step + 1}/{len(plan)}", step / len(plan))
    timer.add("encoding", writer.encode_seconds)
    return writer.frames_written
