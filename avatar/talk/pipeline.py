"""`make_talking_video`: portrait + text or audio -> lip-synced MP4 with captions.

The one entry point used by the page, the CLI and the tests. Cheap checks (text,
transcript, options, image, face) run before expensive work, so bad input fails
in a second; the voice (or speech recogniser) loads on a second thread while the
face is found; typed text is animated and encoded sentence by sentence while
later sentences are still being spoken; and a failed job removes its folder, so a
half-written file is never mistaken for a result.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator, Optional, Union

import numpy as np

from avatar import jobs
from avatar.errors import InputError
from avatar.face.detect import find_face
from avatar.face.face import Face
from avatar.captions import (AUTOMATIC_CAPTIONS_FILE, CAPTIONS_FILE, Cue, caption_entry, captions_file_name,
                             cues_from_words, is_automatic, write_srt)
from avatar.face.sidecar import sidecar_path_for
from avatar.models.memory import limit_malloc_arenas
from avatar.media import load_audio, load_image, read_source, resize_long_side, write_wav
from avatar.progress import Progress, report, scaled
from avatar.speech.recognize import align_recording, check_transcript, load_recognizer
from avatar.speech.text import check_text
from avatar.speech.timeline import Phoneme, Speech
from avatar.speech.voice import SpeechChunk, join_chunks, mouth_of
from avatar.speech.voice_sample import VoiceSample, sample_report
from avatar.speech.voices import VoiceOptions, get_voice
from avatar.talk.builtin.mouth_track import is_silent
from avatar.talk.engine import DEFAULT_ENGINE, TalkOptions, for_engine, frame_count
from avatar.talk.engines import get_engine
from avatar.video_writer import BackgroundWriter, Mp4Writer
from avatar.enhance.video import check_mode, enhancing, manifest_entry, video_enhancer

if TYPE_CHECKING:
    from avatar.enhance.temporal import StableFaceEnhancer

limit_malloc_arenas()  # before the job threads exist: see avatar/models/memory.py

PortraitSource = Union[str, Path, bytes, BinaryIO, np.ndarray]
AudioSource = Union[str, Path, bytes, BinaryIO, Speech]
SampleSource = Union[str, Path, bytes, BinaryIO, VoiceSample]
VOICE_DEFAULTS = VoiceOptions()
"""The voice, language and rate when none are given (declared once in `VoiceOptions`)."""
MOUTH_METHODS = {
    "voice": "phonemes from the voice",
    "dtw": "phonemes of the text, aligned to the voice's audio",
    "recognized": "phonemes of the recognised words",
    "transcript": "phonemes of the transcript, aligned to the recording",
    "phones": "phonemes heard in the recording, without words",
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
    captions_path: Optional[Path]  # captions.srt, captions.auto.srt (recognised words), or None when no words are shown
    manifest_path: Path
    job_dir: Path
    duration: float
    frames: int
    width: int
    height: int
    timings: dict[str, float]  # per stage; voice, animation and encoding overlap
    seconds: float  # wall-clock time of the whole job
    manifest: dict[str, Any]
    mouth: str  # what drove the mouth: "voice", "transcript", "recognized", "phones" or "loudness"


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
    rate: float = VOICE_DEFAULTS.rate,
    voice: str = VOICE_DEFAULTS.voice,
    audio_name: Optional[str] = None,
    progress: Optional[Progress] = None,
    *,
    transcript: Optional[str] = None,
    seed: int = 0,
    voice_sample: Optional[SampleSource] = None,
    language: str = VOICE_DEFAULTS.language,
    threads: int = 0,
) -> tuple[Speech, dict[str, Any]]:
    """Speech from typed text (spoken by `voice`, with `voice_sample` for one that copies a speaker) or a recording,
    plus its manifest entry.

    A recording gets phoneme and word timings from speech recognition, aligned to
    `transcript` when one is given, or none (mouth from loudness) when recognition
    is unusable; the entry's "mouth" says which. The speech's words are those to
    caption (recognised words the recogniser was unsure of are left out), and the
    entry's "captions" says where they come from (`avatar.captions.caption_entry`;
    None when there are none). `audio` may also be a ready
    `Speech` (for example one synthesized earlier for a preview), which is used as
    it is, phoneme timeline included. `threads` is what typed text is spoken on (see `Voice.speak`).
    """
    check_sources(text, audio, transcript)
    sample = check_voice(voice, voice_sample, language, typed=text is not None, rate=rate)
    if text is not None:
        text = check_text(text)
        chunks = list(get_voice(voice).speak(text, language=language, rate=rate, seed=seed, sample=sample,
                                             progress=progress, threads=threads))
        return join_chunks(chunks), _text_entry(text, voice, rate, language, sample, chunks)
    if isinstance(audio, Speech):
        speech, data, name = audio, audio.samples.tobytes(), audio_name or "speech"
        _refuse_silence(speech, name)
    else:
        data, name = read_source(audio, "audio")
        name = audio_name or name
        speech = check_recording(data, name=name)
    entry: dict[str, Any] = {"audio": name, "audio_sha256": jobs.sha256_of(data)}
    if speech.phonemes is not None:
        return speech, {**entry, "mouth": {"method": "voice"}, "captions": caption_entry("text", [])[1]}
    alignment = align_recording(speech, transcript, progress=progress)
    source = alignment.method if alignment.method in ("recognized", "transcript") and alignment.words else None
    words, entry["captions"] = (caption_entry(source, alignment.words, alignment.word_confidence) if source
                                else ([], None))
    speech = Speech(speech.samples, speech.sample_rate, alignment.phonemes, words)
    entry["mouth"] = {"method": alignment.method, "confidence": round(alignment.confidence, 3)}
    if alignment.reason:
        entry["mouth"]["reason"] = alignment.reason
    if transcript is not None:
        entry["transcript_sha256"] = jobs.sha256_of(transcript.encode())
    return speech, entry


def check_recording(audio: Union[str, Path, bytes, BinaryIO], name: Optional[str] = None) -> Speech:
    """A recording decoded as a talk job would decode it, or InputError in one sentence: not audio, corrupt, too
    long, too short or silent. Pages call it on upload, so a bad file is explained before Generate."""
    data, found = read_source(audio, "audio")
    name = name or found
    speech = load_audio(data, name=name)
    _refuse_silence(speech, name)
    return speech


def _refuse_silence(speech: Speech, name: Optional[str]) -> None:
    if is_silent(speech):
        recording = f"The recording {name}" if name else "The recording"
        raise InputError(f"{recording} is silent; upload a recording with speech in it.")


def check_sources(text: Optional[str], audio: Optional[AudioSource], transcript: Optional[str]) -> None:
    """Text or a recording (not both), and a transcript only beside a recording; one sentence for the first problem.

    Public because a talk job checks the same rules at submit, before it is queued."""
    if (text is None) == (audio is None):
        raise InputError("Give either text to speak or an audio recording, not both and not neither.")
    if text is not None:
        check_text(text)
        if transcript is not None:
            raise InputError("A transcript is only for an uploaded recording; typed text is already spoken word for word.")
    elif transcript is not None:
        check_transcript(transcript)


def check_voice(voice: str = VOICE_DEFAULTS.voice, voice_sample: Optional[SampleSource] = None,
                language: str = VOICE_DEFAULTS.language, *, typed: bool = True,
                rate: float = VOICE_DEFAULTS.rate) -> Optional[VoiceSample]:
    """Check the voice settings (`VoiceOptions`) and sample before any work; return the checked sample of a voice
    that copies a speaker (None for one that takes no sample, or for a recording)."""
    chosen = get_voice(voice)
    if not typed:
        if voice_sample is not None:
            raise InputError("A voice sample is only used to speak typed text; leave it out for an uploaded recording.")
        return None
    VoiceOptions(voice=voice, language=language, rate=rate).validate()
    return chosen.check(language, voice_sample)


def _text_entry(text: str, voice: str, rate: float, language: str, sample: Optional[VoiceSample],
                chunks: list[SpeechChunk]) -> dict[str, Any]:
    """The manifest's speech entry for typed text: what was said, by whom, and what timed the mouth."""
    entry: dict[str, Any] = {"text": text, "text_sha256": jobs.sha256_of(text.encode()), "voice": voice,
                             "rate": rate, "language": language}
    if sample is not None:
        entry["voice_sample"] = {"name": sample.name, "sha256": sample.sha256,
                                 "duration_s": round(sample.duration, 3), "checks": sample_report(sample)}
    entry["mouth"] = mouth_of(chunks)
    entry["captions"] = caption_entry("text", [])[1]
    return entry


def make_talking_video(
    portrait: PortraitSource,
    text: Optional[str] = None,
    audio: Optional[AudioSource] = None,
    *,
    transcript: Optional[str] = None,
    rate: float = VOICE_DEFAULTS.rate,
    voice: str = VOICE_DEFAULTS.voice,
    voice_sample: Optional[SampleSource] = None,
    language: str = VOICE_DEFAULTS.language,
    engine: str = DEFAULT_ENGINE,
    options: Optional[TalkOptions] = None,
    face_index: Optional[int] = None,
    landmarks_path: Optional[Path] = None,
    audio_name: Optional[str] = None,
    job_dir: Optional[Path] = None,
    session: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> TalkResult:
    """Animate `portrait` speaking `text` (in the voice `voice`) or the `audio` recording.

    `portrait` is a path (a `<stem>.landmarks.json` beside it is used instead of
    detection), raw bytes, an upload, or an RGB array. `transcript` is what an
    uploaded recording says, to align its words exactly instead of recognising
    them. `voice` is a name from the voice table (`avatar.speech.voices.VOICES`:
    the bundled voice by default, or a cloning model speaking `language` in the
    voice of `voice_sample`, 6-30 s of one speaker), checked before any work.
    The result is written to `job_dir` (default: a new folder under outputs/,
    per `session` if given) as `video.mp4` (with a caption track), `audio.wav`,
    `captions.srt` (`captions.auto.srt` when the words were recognised, not typed)
    and `manifest.json`. The same inputs, options and seed give the
    same files. Raises `InputError`/`NoFaceError` with a user-facing sentence on
    bad input; nothing is left behind on failure.
    """
    animator = get_engine(engine)
    options = for_engine(options, animator)  # checked, the engine's own options filled in
    check_sources(text, audio, transcript)
    animator.check_ready(options)
    check_mode(options.enhance)  # a missing enhancement model is named before any work
    sample = check_voice(voice, voice_sample, language, typed=text is not None, rate=rate)
    if text is not None:
        get_voice(voice).check_ready(language)  # a missing model or package is named before any work
    timer = jobs.StageTimer()
    started = time.perf_counter()
    report(progress, "face", 0.0)
    with ThreadPoolExecutor(max_workers=1) as loader:
        # The voice (or recogniser) loads while dlib finds the face.
        models = loader.submit(_speech_model(text is not None, voice))
        with timer.stage("face"):
            picture = prepare_portrait(portrait, options.size, face_index, landmarks_path)
            models.result()

    created = job_dir is None
    job_dir = jobs.new_job_dir("talk", session) if created else Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: job_dir / name
             for name in ("video.mp4", "audio.wav", CAPTIONS_FILE, AUTOMATIC_CAPTIONS_FILE, "manifest.json")}
    with jobs.removed_on_failure(job_dir, created, paths.values()), video_enhancer(options.enhance) as enhancer:
        if text is not None and getattr(animator, "incremental", False):
            text = check_text(text)
            chunks = get_voice(voice).speak(text, language=language, rate=rate, seed=options.seed, sample=sample,
                                            progress=scaled(progress, _FACE_END, 0.9))
            speech, frames, cues, spoken = _speak_and_render(animator, picture, chunks, options, paths["video.mp4"],
                                                             timer, progress, enhancer)
            speech_entry = _text_entry(text, voice, rate, language, sample, spoken)
        else:
            report(progress, "voice", _FACE_END)
            with timer.stage("voice"):
                speech, speech_entry = prepare_speech(
                    text, audio, rate, voice, audio_name, scaled(progress, _FACE_END, _VOICE_END),
                    transcript=transcript, seed=options.seed, voice_sample=sample, language=language,
                )
            cues = cues_from_words(speech.words or [])
            frames = _render(animator, picture, speech, cues, options, paths["video.mp4"], timer, progress, enhancer)
        write_wav(paths["audio.wav"], speech)
        automatic = is_automatic(speech_entry.get("captions"))
        captions_name = captions_file_name(automatic)
        captions_path = write_srt(paths[captions_name], cues) if cues else None
        width, height = animator.output_size(picture.image, picture.face, options)
        manifest = {
            "task": "talking_video",
            "portrait": {"name": picture.name, "sha256": picture.sha256, "face_source": picture.face.source,
                         "face_box": list(picture.face.box), "face_index": face_index},
            "speech": {**speech_entry, "duration_s": round(speech.duration, 4), "sample_rate": speech.sample_rate},
            "engine": animator.name,
            "model": animator.model_id,
            "options": _options_entry(options),
            "video": {"width": width, "height": height, "fps": options.fps, "frames": frames},
            "captions": {"file": captions_name, "cues": len(cues), "automatic": automatic} if cues else None,
            "timings_s": timer.seconds,
            "wall_s": round(time.perf_counter() - started, 3),
        }
        manifest["enhancement"] = manifest_entry(options.enhance, enhancer, manifest["wall_s"], speech.duration,
                                                 timer.seconds.get("enhancement", 0.0))
        manifest_path = jobs.write_manifest(job_dir, manifest)
    report(progress, "done", 1.0)
    return TalkResult(
        video_path=paths["video.mp4"], audio_path=paths["audio.wav"], captions_path=captions_path,
        manifest_path=manifest_path, job_dir=job_dir, duration=speech.duration, frames=frames, width=width,
        height=height, timings=timer.seconds, seconds=manifest["wall_s"], manifest=manifest,
        mouth=speech_entry["mouth"]["method"],
    )


def _options_entry(options: TalkOptions) -> dict[str, Any]:
    """Every option the video was made with, the shared ones and the engine's own, in one flat record."""
    shared = {name: value for name, value in asdict(options).items() if name != "engine"}
    return {**shared, **asdict(options.engine)}


def _speech_model(typed: bool, voice: str):
    """What to load while the face is found: the voice's model, or the recogniser."""
    return get_voice(voice).load if typed else load_recognizer


def _speak_and_render(engine, picture: Portrait, chunks: Iterator[SpeechChunk], options: TalkOptions,
                      video_path: Path, timer: jobs.StageTimer, progress: Optional[Progress],
                      enhancer: Optional[StableFaceEnhancer] = None) -> tuple[Speech, int, list[Cue], list[SpeechChunk]]:
    """Take the voice's sentences as they are spoken and animate each stretch as soon as it is final; return the
    speech, the frame count, the captions (known only once the last sentence is spoken) and the sentences.

    A frame depends on the timeline a little after it (the engine's `frames_known`
    says how far), so after every sentence the frames up to that point are rendered
    and encoded; the rest follow once the voice is done. The
    frames are exactly those of rendering the whole speech at once.
    """
    height, width = picture.image.shape[:2]
    fps = options.fps
    with timer.stage("voice"):
        first = next(chunks, None)  # the first sentence: its sample rate is the audio track's
    if first is None:
        raise InputError("The text has nothing the voice can speak; use words or numbers.")
    sample_rate = first.sample_rate
    chunks = itertools.chain([first], chunks)
    prepared = engine.prepare(picture.image, picture.face)
    spoken: list[SpeechChunk] = []
    phonemes: list[Phoneme] = []
    aligned, done = True, 0
    with BackgroundWriter(Mp4Writer(video_path, width, height, fps, audio_rate=sample_rate, captions=True)) as plain:
        writer = enhancing(plain, enhancer, timer)  # frames go through the face enhancer, if asked, on their way
        while True:
            with timer.stage("voice"):
                chunk = next(chunks, None)
            if chunk is None:
                break
            writer.add_audio(chunk.samples)
            spoken.append(chunk)
            if chunk.phonemes is None:
                aligned = False  # the rest waits for the whole audio (mouth from loudness)
            elif aligned:
                phonemes.extend(chunk.phonemes)
                ready = engine.frames_known(chunk.end / sample_rate, fps)
                partial = Speech(np.zeros(0, np.float32), sample_rate, phonemes)
                done = _render_frames(engine, picture, prepared, partial, options, range(done, ready), None, writer, timer)
        words = [word for chunk in spoken for word in chunk.words]
        speech = Speech(np.concatenate([chunk.samples for chunk in spoken]), sample_rate,
                        phonemes if aligned else None, words)
        total = frame_count(speech.duration, fps)
        done = _render_frames(engine, picture, prepared, speech, options, range(done, total), total, writer, timer,
                              progress)
        cues = cues_from_words(words)
        writer.set_subtitles(cues)
    timer.add("encoding", writer.encode_seconds)
    return speech, done, cues, spoken


def _render_frames(engine, picture: Portrait, prepared, speech: Speech, options: TalkOptions,
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
            timer: jobs.StageTimer, progress: Optional[Progress], enhancer: Optional[StableFaceEnhancer] = None) -> int:
    """Stream frames from the engine into the encoder, which runs on its own thread."""
    width, height = animator.output_size(picture.image, picture.face, options)
    frames = animator.render(picture.image, picture.face, speech, options,
                             progress=scaled(progress, _VOICE_END, _PREPARED))
    expected = max(1, frame_count(speech.duration, options.fps))
    with BackgroundWriter(Mp4Writer(video_path, width, height, options.fps, speech, captions=bool(cues))) as plain:
        writer = enhancing(plain, enhancer, timer)  # frames go through the face enhancer, if asked, on their way
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
