"""`make_talking_video`: portrait + text or audio -> lip-synced MP4 with captions.

The one entry point used by the page, the CLI and the tests. Cheap checks (text,
transcript, options, image, face) run before expensive work, so bad input fails
in a second; the voice (or speech recogniser) loads on a second thread while the
face is found; typed text is animated and encoded sentence by sentence while
later sentences are still being spoken; and a failed job removes its folder, so a
half-written file is never mistaken for a result.
"""

from __future__ import annotations

import math
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Optional, Union

import numpy as np

from avatar import jobs
from avatar.errors import InputError
from avatar.face.detect import find_face
from avatar.face.face import Face
from avatar.captions import Cue, cues_from_words, write_srt
from avatar.face.sidecar import sidecar_path_for
from avatar.models.memory import limit_malloc_arenas
from avatar.media import load_audio, load_image, read_source, resize_long_side, write_wav
from avatar.progress import Progress, report, scaled
from avatar.speech.cloned_voice import CLONING_MODELS, require_cloning, synthesize_cloned
from avatar.speech.piper_voice import load_voice, synthesize, synthesize_stream
from avatar.speech.recognize import align_recording, check_transcript, load_recognizer
from avatar.speech.text import check_text
from avatar.speech.timeline import Phoneme, Speech, Word
from avatar.speech.voice_sample import MAX_SAMPLE_S, MIN_SAMPLE_S, VoiceSample, check_voice_sample, sample_report
from avatar.talk.engine import BuiltinEngine, TalkOptions, get_engine
from avatar.talk.life import activity_margin
from avatar.talk.mouth_track import LOOKAHEAD, frame_count, is_silent
from avatar.video_writer import BackgroundWriter, Mp4Writer

limit_malloc_arenas()  # before the job threads exist: see avatar/models/memory.py

PortraitSource = Union[str, Path, bytes, BinaryIO, np.ndarray]
AudioSource = Union[str, Path, bytes, BinaryIO, Speech]
SampleSource = Union[str, Path, bytes, BinaryIO, VoiceSample]
BUNDLED_VOICE = "joe"
VOICES = (BUNDLED_VOICE, *CLONING_MODELS)
"""The bundled Piper voice, then the models that speak in a cloned voice (with a voice sample)."""
MOUTH_METHODS = {
    "voice": "phonemes from the voice",
    "dtw": "phonemes of the text, aligned to the cloned voice",
    "recognized": "phonemes of the recognised words",
    "transcript": "phonemes of the transcript, aligned to the recording",
    "loudness": "loudness only",
}
"""What can drive the mouth (the manifest's speech.mouth.method), in words."""

# Share of the progress bar each stage gets (animation and encoding run together).
_FACE_END, _VOICE_END = 0.05, 0.2
_PREPARED = 0.25  # an engine's own preparation (loading, analysis) ends here, before its first frame


@dataclass
class TalkResult:
    """A finished talking video and what went into it."""

    video_path: Path
    audio_path: Path
    captions_path: Optional[Path]  # None when no words are known (a recording animated from loudness)
    manifest_path: Path
    job_dir: Path
    duration: float
    frames: int
    width: int
    height: int
    timings: dict[str, float]  # per stage; voice, animation and encoding overlap
    seconds: float  # wall-clock time of the whole job
    manifest: dict[str, Any]
    mouth: str  # what drove the mouth: "voice", "transcript", "recognized" or "loudness"


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
    voice: str = BUNDLED_VOICE,
    audio_name: Optional[str] = None,
    progress: Optional[Progress] = None,
    *,
    transcript: Optional[str] = None,
    seed: int = 0,
    voice_sample: Optional[SampleSource] = None,
    language: str = "en",
) -> tuple[Speech, dict[str, Any]]:
    """Speech from typed text (Piper, or a cloning model with `voice_sample`) or a recording, plus its manifest entry.

    A recording gets phoneme and word timings from speech recognition, aligned to
    `transcript` when one is given, or none (mouth from loudness) when recognition
    is unusable; the entry's "mouth" says which. `audio` may also be a ready
    `Speech` (for example one synthesized earlier for a preview), which is used as
    it is, phoneme timeline included.
    """
    _check_sources(text, audio, transcript)
    sample = check_voice(voice, voice_sample, language, typed=text is not None)
    if text is not None:
        text = check_text(text)
        if sample is None:
            speech = synthesize(text, rate=rate, seed=seed, progress=progress)
            return speech, _text_entry(text, voice, rate)
        cloned = synthesize_cloned(text, sample, model_id=voice, language=language, rate=rate, seed=seed,
                                   progress=progress)
        entry = {**_text_entry(text, voice, rate), "language": cloned.language,
                 "voice_sample": {"name": sample.name, "sha256": sample.sha256,
                                  "duration_s": round(sample.duration, 3), "checks": sample_report(sample)},
                 "mouth": {"method": cloned.method}}
        if cloned.detail:
            entry["mouth"]["reason"] = cloned.detail
        return cloned.speech, entry
    if isinstance(audio, Speech):
        speech, data, name = audio, audio.samples.tobytes(), audio_name or "speech"
    else:
        data, name = read_source(audio, "audio")
        name = audio_name or name
        speech = load_audio(data, name=name)
    if is_silent(speech):
        recording = f"The recording {name}" if name else "The recording"
        raise InputError(f"{recording} is silent; upload a recording with speech in it.")
    entry: dict[str, Any] = {"audio": name, "audio_sha256": jobs.sha256_of(data)}
    if speech.phonemes is not None:
        return speech, {**entry, "mouth": {"method": "voice"}}
    alignment = align_recording(speech, transcript, progress=progress)
    speech = Speech(speech.samples, speech.sample_rate, alignment.phonemes, alignment.words)
    entry["mouth"] = {"method": alignment.method, "confidence": round(alignment.confidence, 3)}
    if alignment.reason:
        entry["mouth"]["reason"] = alignment.reason
    if transcript is not None:
        entry["transcript_sha256"] = jobs.sha256_of(transcript.encode())
    return speech, entry


def _check_sources(text: Optional[str], audio: Optional[AudioSource], transcript: Optional[str]) -> None:
    if (text is None) == (audio is None):
        raise InputError("Give either text to speak or an audio recording, not both and not neither.")
    if text is not None:
        check_text(text)
        if transcript is not None:
            raise InputError("A transcript is only for an uploaded recording; typed text is already spoken word for word.")
    elif transcript is not None:
        check_transcript(transcript)


def check_voice(voice: str, voice_sample: Optional[SampleSource] = None, language: str = "en", *,
                typed: bool = True) -> Optional[VoiceSample]:
    """Check the voice choice before any work; return the checked sample of a cloning voice (None for the bundled one)."""
    if voice not in VOICES:
        raise InputError(f"Unknown voice {voice!r}; choose one of: {', '.join(VOICES)}.")
    if not typed:
        if voice_sample is not None:
            raise InputError("A voice sample is only used to speak typed text; leave it out for an uploaded recording.")
        return None
    if voice == BUNDLED_VOICE:
        if voice_sample is not None:
            raise InputError(f"A voice sample needs a cloning voice ({', '.join(CLONING_MODELS)}); "
                             "choose one, or leave the sample out for the bundled voice.")
        if language != "en":
            raise InputError(f"The bundled voice speaks English only; choose a cloning voice "
                             f"({', '.join(CLONING_MODELS)}) for {language!r}.")
        return None
    if voice_sample is None:
        raise InputError(f"The {voice} voice copies a speaker: give a voice sample of "
                         f"{MIN_SAMPLE_S:.0f} to {MAX_SAMPLE_S:.0f} s of their speech.")
    return voice_sample if isinstance(voice_sample, VoiceSample) else check_voice_sample(voice_sample)


def _text_entry(text: str, voice: str, rate: float) -> dict[str, Any]:
    return {"text": text, "text_sha256": jobs.sha256_of(text.encode()), "voice": voice, "rate": rate,
            "mouth": {"method": "voice"}}


def make_talking_video(
    portrait: PortraitSource,
    text: Optional[str] = None,
    audio: Optional[AudioSource] = None,
    *,
    transcript: Optional[str] = None,
    rate: float = 1.0,
    voice: str = BUNDLED_VOICE,
    voice_sample: Optional[SampleSource] = None,
    language: str = "en",
    engine: str = "builtin",
    options: Optional[TalkOptions] = None,
    face_index: Optional[int] = None,
    landmarks_path: Optional[Path] = None,
    audio_name: Optional[str] = None,
    job_dir: Optional[Path] = None,
    session: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> TalkResult:
    """Animate `portrait` speaking `text` (bundled Piper voice, or a cloned one) or the `audio` recording.

    `portrait` is a path (a `<stem>.landmarks.json` beside it is used instead of
    detection), raw bytes, an upload, or an RGB array. `transcript` is what an
    uploaded recording says, to align its words exactly instead of recognising
    them. `voice` is "joe" (bundled) or a cloning model ("xtts-v2", "your-tts")
    speaking `language` in the voice of `voice_sample` (6-30 s of one speaker,
    checked before any work). The result is written to `job_dir` (default: a new folder under outputs/,
    per `session` if given) as `video.mp4` (with a caption track), `audio.wav`,
    `captions.srt` and `manifest.json`. The same inputs, options and seed give the
    same files. Raises `InputError`/`NoFaceError` with a user-facing sentence on
    bad input; nothing is left behind on failure.
    """
    options = (options or TalkOptions()).validate()
    animator = get_engine(engine)
    _check_sources(text, audio, transcript)
    animator.check_ready(options)
    sample = check_voice(voice, voice_sample, language, typed=text is not None)
    if sample is not None:
        require_cloning(voice, language=language)  # a missing model or package is named before any work
    timer = jobs.StageTimer()
    started = time.perf_counter()
    report(progress, "face", 0.0)
    with ThreadPoolExecutor(max_workers=1) as loader:
        # The voice (or recogniser) loads while dlib finds the face.
        models = loader.submit(_speech_model(text is not None, voice))
        with timer.stage("face"):
            picture = prepare_portrait(portrait, options.max_size, face_index, landmarks_path)
            models.result()

    created = job_dir is None
    job_dir = jobs.new_job_dir("talk", session) if created else Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: job_dir / name for name in ("video.mp4", "audio.wav", "captions.srt", "manifest.json")}
    try:
        if text is not None and sample is None and isinstance(animator, BuiltinEngine):
            speech, frames, cues = _speak_and_render(animator, picture, text, rate, options, paths["video.mp4"], timer,
                                                     progress)
            speech_entry = _text_entry(check_text(text), voice, rate)
        else:
            report(progress, "voice", _FACE_END)
            with timer.stage("voice"):
                speech, speech_entry = prepare_speech(
                    text, audio, rate, voice, audio_name, scaled(progress, _FACE_END, _VOICE_END),
                    transcript=transcript, seed=options.seed, voice_sample=sample, language=language,
                )
            cues = cues_from_words(speech.words or [])
            frames = _render(animator, picture, speech, cues, options, paths["video.mp4"], timer, progress)
        write_wav(paths["audio.wav"], speech)
        captions_path = write_srt(paths["captions.srt"], cues) if cues else None
        width, height = animator.output_size(picture.image, picture.face, options)
        manifest = {
            "task": "talking_video",
            "portrait": {"name": picture.name, "sha256": picture.sha256, "face_source": picture.face.source,
                         "face_box": list(picture.face.box), "face_index": face_index},
            "speech": {**speech_entry, "duration_s": round(speech.duration, 4), "sample_rate": speech.sample_rate},
            "engine": animator.name,
            "model": animator.model_id,
            "options": asdict(options),
            "video": {"width": width, "height": height, "fps": options.fps, "frames": frames},
            "captions": {"file": "captions.srt", "cues": len(cues)} if cues else None,
            "timings_s": timer.seconds,
            "wall_s": round(time.perf_counter() - started, 3),
        }
        manifest_path = jobs.write_manifest(job_dir, manifest)
    except BaseException:
        if created:
            shutil.rmtree(job_dir, ignore_errors=True)
        else:
            for path in paths.values():
                path.unlink(missing_ok=True)
        raise
    report(progress, "done", 1.0)
    return TalkResult(
        video_path=paths["video.mp4"], audio_path=paths["audio.wav"], captions_path=captions_path,
        manifest_path=manifest_path, job_dir=job_dir, duration=speech.duration, frames=frames, width=width,
        height=height, timings=timer.seconds, seconds=manifest["wall_s"], manifest=manifest,
        mouth=speech_entry["mouth"]["method"],
    )


def _speech_model(typed: bool, voice: str):
    """What to load while the face is found: the Piper voice, the cloning model, or the recogniser."""
    if not typed:
        return load_recognizer
    if voice == BUNDLED_VOICE:
        return load_voice

    def load_cloning_model() -> None:
        from avatar.models.registry import get_registry

        with get_registry().use(voice):
            pass

    return load_cloning_model


def _speak_and_render(engine: BuiltinEngine, picture: Portrait, text: str, rate: float, options: TalkOptions,
                      video_path: Path, timer: jobs.StageTimer, progress: Optional[Progress]
                      ) -> tuple[Speech, int, list[Cue]]:
    """Synthesize sentence by sentence and animate each stretch as soon as it is final; return the
    speech, the frame count and the captions (known only once the last sentence is spoken).

    A frame's mouth depends on the timeline up to `LOOKAHEAD` s (plus the head's
    activity window) after it, so after every sentence the frames up to that
    point are rendered and encoded; the rest follow once the voice is done. The
    frames are exactly those of rendering the whole speech at once.
    """
    height, width = picture.image.shape[:2]
    fps = options.fps
    sample_rate = int(load_voice().config.sample_rate)
    prepared = engine.prepare(picture.image, picture.face)
    voice_progress = scaled(progress, _FACE_END, 0.9)
    pieces: list[np.ndarray] = []
    phonemes: list[Phoneme] = []
    words: list[Word] = []
    aligned, done = True, 0
    chunks = synthesize_stream(text, rate=rate, seed=options.seed, progress=voice_progress)
    with BackgroundWriter(Mp4Writer(video_path, width, height, fps, audio_rate=sample_rate, captions=True)) as writer:
        while True:
            with timer.stage("voice"):
                chunk = next(chunks, None)
            if chunk is None:
                break
            writer.add_audio(chunk.samples)
            pieces.append(chunk.samples)
            words.extend(chunk.words)
            if chunk.phonemes is None:
                aligned = False  # the rest waits for the whole audio (mouth from loudness)
            elif aligned:
                phonemes.extend(chunk.phonemes)
                ready = math.floor((chunk.end / sample_rate - LOOKAHEAD) * fps) - activity_margin(fps)
                partial = Speech(np.zeros(0, np.float32), sample_rate, phonemes)
                done = _render_frames(engine, picture, prepared, partial, options, range(done, ready), None, writer, timer)
        speech = Speech(np.concatenate(pieces), sample_rate, phonemes if aligned else None, words)
        total = frame_count(speech.duration, fps)
        done = _render_frames(engine, picture, prepared, speech, options, range(done, total), total, writer, timer,
                              progress)
        cues = cues_from_words(words)
        writer.set_subtitles(cues)
    timer.add("encoding", writer.encode_seconds)
    return speech, done, cues


def _render_frames(engine: BuiltinEngine, picture: Portrait, prepared, speech: Speech, options: TalkOptions,
                   frames: range, total: Optional[int], writer: BackgroundWriter, timer: jobs.StageTimer,
                   progress: Optional[Progress] = None) -> int:
    """Render and hand `frames` to the writer; returns the next frame index to render."""
    if len(frames) <= 0:
        return max(frames.start, 0)
    start = time.perf_counter()
    weights = engine.weights(speech, options, frames, total)
    for count, frame in enumerate(engine.render_weights(picture.image, prepared, weights), start=1):
        timer.add("animation", time.perf_counter() - start)
        writer.write(frame)
        if progress is not None and count % 5 == 0:
            report(progress, f"animation and encoding: frame {frames.start + count}/{frames.stop}",
                   0.9 + 0.1 * count / len(frames))
        start = time.perf_counter()
    return frames.stop


def _render(animator, picture: Portrait, speech: Speech, cues: list[Cue], options: TalkOptions, video_path: Path,
            timer: jobs.StageTimer, progress: Optional[Progress]) -> int:
    """Stream frames from the engine into the encoder, which runs on its own thread."""
    width, height = animator.output_size(picture.image, picture.face, options)
    frames = animator.render(picture.image, picture.face, speech, options,
                             progress=scaled(progress, _VOICE_END, _PREPARED))
    expected = max(1, frame_count(speech.duration, options.fps))
    with BackgroundWriter(Mp4Writer(video_path, width, height, options.fps, speech, captions=bool(cues))) as writer:
        if cues:
            writer.set_subtitles(cues)
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
                       _PREPARED + (1 - _PREPARED) * count / expected)
    # Encoding overlaps animation; what is recorded is the encoder thread's own time.
    timer.add("encoding", writer.encode_seconds)
    return writer.frames_written
