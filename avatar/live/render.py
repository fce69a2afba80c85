"""The frames of a live session, from its timeline: one code for the session on the air and for a saved session.

A frame is a function of its index and of the sentences placed on the clock
(`avatar.live.timeline`): the built-in engine's weights for a video, with the
mouth and head timed by the phonemes on the clock, and the head's speaking motion
masked where frames were shown before a sentence was known. The live session
renders frame n when it is due; a saved session renders frames 0..N with the same
call, so the saved video shows what the viewer saw.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from avatar.speech.timeline import Speech
from avatar.talk.builtin import life
from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.builtin.rig import BASES, smoothstep
from avatar.talk.engine import TalkOptions
from avatar.live.timeline import Timeline
from avatar.progress import Progress

if TYPE_CHECKING:
    from avatar.live.recording import SavedSession
    from avatar.live.session import LiveSettings


def talk_options(settings: "LiveSettings") -> TalkOptions:
    """The video options a live session's frames are made with (blinks and head motion on)."""
    return TalkOptions(fps=settings.fps, lead=settings.lead, expression_scale=settings.expression_scale,
                       seed=settings.seed)


def context(frames: range, fps: int) -> tuple[float, float]:
    """The clock times whose sentences can change `frames`: the engine's margin of frames around them, and a
    second more for the mouth's look-ahead and smoothing."""
    margin = life.activity_margin(fps)
    return max(0, frames.start - margin) / fps - 1.0, (frames.stop + margin) / fps + 1.0


SETTLE_S = 0.12
"""After Stop the head goes from its speaking motion to its idle motion over this long. Its speech energy is smoothed
over 0.8 s and must go on past the frames already sent (or the next frame would jump), so left to itself the head
would take about a second to come to rest; the two motions are blended instead."""
SETTLE_REACH_S = 2.0
"""Frames this long after a cut are far enough from it that the speaking and idle motions agree."""
SPEECH_EDGE_S = 0.2
"""How far beyond its phonemes a sentence's speech energy reaches (the mouth's look-ahead and smoothing)."""
HEAD = slice(BASES.index("tilt"), None)


def clock_weights(engine: BuiltinEngine, timeline: Timeline, settings: "LiveSettings", frames: range) -> np.ndarray:
    """Rig weights (mouth, blink, head) of `frames` for the sentences on `timeline`: the mouth from their phonemes,
    blinks and head motion from the absolute frame index, the head's speech energy masked before each sentence's
    `head_from` (see `Timeline.head_mask`), and after a sentence Stop cut, the head brought to its idle motion
    over `SETTLE_S`."""
    t0, t1 = context(frames, settings.fps)
    mouth = timeline.phonemes_near(t0, t1)
    head = timeline.phonemes_near(t0, t1, head=True)
    empty = np.zeros(0, np.float32)

    def weights(silent: tuple[float, float] | None = None) -> np.ndarray:
        def mask(window: range) -> np.ndarray:
            kept = timeline.head_mask(window, settings.fps)
            if silent is not None:  # the head as if that sentence had not been said
                times = np.arange(window.start, window.stop) / settings.fps
                kept = kept * ~((times >= silent[0]) & (times <= silent[1]))
            return kept

        return engine.weights(Speech(empty, settings.sample_rate, mouth), talk_options(settings), frames, None,
                              head_speech=None if head == mouth else Speech(empty, settings.sample_rate, head),
                              head_mask=mask)

    rows = weights()
    times = np.arange(frames.start, frames.stop) / settings.fps
    for line in timeline.utterances:
        if not line.interrupted or line.end > times[-1] or line.end + SETTLE_REACH_S < times[0]:
            continue
        head_end = max([line.end] + [p.end for p in line.head_phonemes])
        idle = weights((line.start - SPEECH_EDGE_S, head_end + SPEECH_EDGE_S))
        share = smoothstep((times - line.end) / SETTLE_S)[:, None]
        rows[:, HEAD] = (1.0 - share) * rows[:, HEAD] + share * idle[:, HEAD]
    return rows


def saved_weights(engine: BuiltinEngine, saved: "SavedSession", timeline: Timeline, frames: range) -> np.ndarray:
    """The weights of `frames` of a saved session as the live session computed them: one frame at a time (as it
    renders them; the head's smoothing at a window's edge makes a stretch computed at once differ by a hair), from
    the sentences on the clock, or as shown where a later change reached back to a frame (`Recording.shown`)."""
    t0, t1 = context(frames, saved.settings.fps)  # the sentences near the stretch: the same for each of its frames
    local = Timeline([line for line in timeline.utterances if line.end >= t0 and line.start <= t1])
    rows = [saved.shown[n] if n in saved.shown else clock_weights(engine, local, saved.settings, range(n, n + 1))[0]
            for n in frames]
    return np.array(rows, np.float32).reshape(len(frames), -1)


RENDER_STEP = 250
"""Frames a saved session is rendered in at a time (ten seconds at 25 fps): the sentences near them are found once,
their sound goes to the encoder and the progress is reported."""


def render_saved(saved: "SavedSession", portrait: Path, sound: Path, out: Path,
                 progress: Optional[Progress] = None) -> list[str]:
    """Render a saved session into `out`: `video.mp4` (frames first..last, its sound, captions of what was said),
    `audio.wav`, `captions.srt` (when anything was said) and `manifest.json`; the file names.

    The frames are the live session's (`saved_weights`: the same engine on the same
    portrait and face), so the video shows what was seen, and the sound is
    streamed into the encoder beside them, so memory does not grow with the length.
    """
    from avatar import jobs
    from avatar.captions import CAPTIONS_FILE, Cue, split_lines, write_srt
    from avatar.media import load_image
    from avatar.progress import report
    from avatar.video_writer import BackgroundWriter, Mp4Writer

    started = time.perf_counter()
    settings, fps = saved.settings, saved.settings.fps
    image = load_image(portrait.read_bytes(), name=portrait.name)
    engine = BuiltinEngine()
    prepared = engine.prepare(image, saved.face)
    timeline = Timeline(saved.lines)
    height, width = image.shape[:2]
    cues = [Cue(i + 1, max(0.0, line.start - saved.offset), min(line.end, saved.frames / fps) - saved.offset,
                "\n".join(split_lines(line.text.split(), 42)))
            for i, line in enumerate(saved.heard)]
    per_frame = saved.sample_rate / fps
    video_path = out / "video.mp4"
    with wave.open(str(sound), "rb") as wav, \
            BackgroundWriter(Mp4Writer(video_path, width, height, fps, audio_rate=saved.sample_rate,
                                       captions=bool(cues))) as writer:
        taken = 0
        for start in range(saved.first_frame, saved.frames, RENDER_STEP):
            frames = range(start, min(saved.frames, start + RENDER_STEP))
            upto = int(round((frames.stop - saved.first_frame) * per_frame))
            pcm = np.frombuffer(wav.readframes(upto - taken), "<i2")
            taken += len(pcm)
            writer.add_audio(pcm.astype(np.float32) / 32767.0)
            for frame in engine.render_weights(image, prepared, saved_weights(engine, saved, timeline, frames)):
                writer.write(frame)
            report(progress, f"rendering: frame {frames.stop - saved.first_frame}/{saved.count}",
                   (frames.stop - saved.first_frame) / saved.count)
        if cues:
            writer.set_subtitles(cues)
    shutil.copyfile(sound, out / "audio.wav")
    names = ["video.mp4", "audio.wav"]
    if cues:
        write_srt(out / CAPTIONS_FILE, cues)
        names.append(CAPTIONS_FILE)
    manifest = {
        "task": "live_session",
        "portrait": {"name": saved.portrait_name, "sha256": saved.portrait_sha256, "face_source": saved.face.source,
                     "face_box": [int(v) for v in saved.face.box]},
        "settings": dataclasses.asdict(settings),
        "engine": engine.name,
        "video": {"width": width, "height": height, "fps": fps, "frames": saved.count,
                  "first_frame": saved.first_frame, "offset_s": round(saved.offset, 3)},
        "audio": {"sample_rate": saved.sample_rate, "duration_s": round(saved.duration, 4)},
        "transcript": [{"text": line.text, "start": round(line.start - saved.offset, 3),
                        "end": round(line.end - saved.offset, 3), "interrupted": line.interrupted}
                       for line in saved.heard],
        "captions": {"file": CAPTIONS_FILE, "cues": len(cues)} if cues else None,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    jobs.write_manifest(out, manifest)
    names.append("manifest.json")
    return names
