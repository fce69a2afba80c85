"""`LiveSession`: one portrait that idles, and speaks typed sentences, on one clock.

Everything a viewer gets is a function of the session's clock: video frame n is
due at `start + n / fps`, audio sample k at `start + k / sample_rate`. A sentence
is placed on that clock at the time its sound starts, and its phonemes with it, so
the frame that shows a sound and the samples that play it are due together; the
transport (WebRTC tracks) only has to send each on time, and no drift can build up
however long the session runs.

Between sentences the face idles: blinks and the head's slow drift are functions of
the absolute frame index (`avatar.talk.builtin.life`), so they continue through
speech and back without a jump. The voice speaks in a worker thread, one sentence
after another, while the sentence before is being heard; Stop cuts the sound at
once, lets the mouth close over a few frames and forgets what was queued.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Optional

import numpy as np

from avatar.errors import InputError
from avatar.speech.text import check_text, split_paragraphs, split_sentences
from avatar.speech.timeline import Phoneme
from avatar.speech.voices import get_voice
from avatar.talk.builtin import life
from avatar.talk.builtin.engine import BuiltinEngine, PortraitRig
from avatar.talk.pipeline import Portrait
from avatar.live.pacing import pacing_trace
from avatar.live.render import clock_weights, context
from avatar.live.timeline import Line, Said, Timeline, Utterance, said
from avatar.speech.resampling import resample

_LOGGER = logging.getLogger(__name__)

MAX_SAY_CHARS = 1000
"""Longest text one `say` takes (about a minute of speech): a live avatar answers in turns, not chapters."""
START_LEAD_S = 0.08
"""A sentence's sound starts at least this long after it is ready, so its first frame is not already due."""
HEAD_SETTLE_S = 0.15
"""On Stop, the head's speaking motion follows the cut speech this much longer (its energy is smoothed over ~0.1 s),
so that the frames after the cut go on from the ones sent; `render.SETTLE_S` then blends it into the idle motion."""
MOUTH = slice(0, 5)
"""The mouth's columns in a row of rig weights (open, wide, round, closed, teeth)."""
VOICE_THREADS = 1
"""Threads the voice speaks a live sentence on: the frames due meanwhile keep the other cores (see `_speak`)."""
CHANGES_KEPT = 16
"""Clock changes remembered with the time from which each changed the sentences (see `hand_out`): a frame rendered
ahead before more changes than this is rendered again."""
RECENT_FRAMES = 64
"""Frames whose weights are remembered as rendered: more than the mouth's look-ahead (`mouth_track.LOOKAHEAD`), so a
sentence placed or cut just after them cannot change how a saved video shows them."""
WARM_UP_TEXT = "Hello there."
"""Spoken (and dropped) once when a session starts, so the voice's first-run cost is not paid by the first sentence."""
KEEP_S = 1800.0
"""A session keeps what it said in the last 30 minutes to be saved as a video (sentences as the voice made them,
16-bit: about 2.6 MB per minute of speech); saving a longer session saves its last 30 minutes."""


@dataclass(frozen=True)
class LiveSettings:
    """How a live session looks and sounds; the defaults suit a browser (25 fps video, 48 kHz Opus audio)."""

    fps: int = 25
    sample_rate: int = 48000  # of the audio the session hands out; the voice's sentences are resampled once
    voice: str = "joe"
    rate: float = 1.0
    seed: int = 0
    lead: float = 0.05  # seconds the mouth moves ahead of the sound, as in videos
    expression_scale: float = 1.0
    idle_timeout: float = 300.0  # seconds without a word or a request before the session expires
    max_chars: int = MAX_SAY_CHARS
    speak_ahead: float = 2.0
    """The voice speaks the next sentence once the sound placed ahead is shorter than this: long enough to hide the
    voice's time for a sentence, short enough that a long text does not take the CPU from the frames in a burst."""


@dataclass(frozen=True)
class Rendered:
    """A frame rendered before it is due (`LiveSession.render`): its image, its weights row, and the count of clock
    changes it was rendered after, by which `LiveSession.hand_out` tells whether a later change reached it."""

    n: int
    image: np.ndarray
    row: np.ndarray
    changes: int


@dataclass(frozen=True)
class Recording:
    """What a session said up to `frames` (its frames first_frame..frames-1), to re-make it as a video: the portrait,
    the settings and every sentence placed on the clock with its sound as the voice made it."""

    settings: LiveSettings
    portrait: Portrait
    first_frame: int
    frames: int
    lines: list[Line]
    shown: dict[int, np.ndarray]
    """Weights rows of frames shown before a change of the clock reached back to them (a sentence placed or cut
    within the mouth's look-ahead): the video shows them as they were shown."""


class LiveSession:
    """One prepared portrait, its clock, the sentences placed on it and the voice's worker thread.

    Thread-safe: `frame` and `audio` are called by the transport, `say` and `stop`
    by requests, and the worker places sentences, all under one lock (rendering runs
    outside it). `clock` is the time base (seconds, monotonic); tests pass their own.
    """

    def __init__(self, portrait: Portrait, settings: Optional[LiveSettings] = None,
                 clock: Callable[[], float] = time.monotonic, prepared: Optional[PortraitRig] = None) -> None:
        self.settings = settings or LiveSettings()
        self.portrait = portrait
        self.engine = BuiltinEngine()
        self.prepared = prepared or self.engine.prepare(portrait.image, portrait.face)
        self.voice = get_voice(self.settings.voice)
        self.voice.check_ready("en")
        self.clock = clock
        self.start = clock()
        self._lock = threading.Lock()
        self._timeline = Timeline()
        self._spoken: list[Said] = []  # sentences that ended and left the timeline
        self._kept: list[Line] = []  # the same, with their sound, for the last KEEP_S seconds (see `recording`)
        self._changes = 0  # sentences placed or cut: a frame rendered across one is kept as shown
        self._changed_from: deque[tuple[int, float]] = deque(maxlen=CHANGES_KEPT)  # (change, first time it moved)
        self._recent: deque[tuple[int, np.ndarray]] = deque(maxlen=RECENT_FRAMES)  # (frame, weights) last rendered
        self._shown: dict[int, np.ndarray] = {}  # weights of frames a later change would render otherwise
        self._queue: queue.Queue[tuple[int, str]] = queue.Queue()
        self._generation = 0  # bumped by Stop: sentences of an older generation are dropped
        self._busy = 0  # sentences queued or being spoken by the voice
        self._rendered_upto = -1  # highest frame index handed out
        self._audio_upto = 0  # first sample not yet handed out
        self._last_activity = 0.0
        self._closed = False
        self._last_frame: Optional[tuple[int, np.ndarray]] = None
        self.errors: list[str] = []  # sentences the voice refused (e.g. punctuation only), one line each
        self._worker = threading.Thread(target=self._speak_queued, name="live-voice", daemon=True)
        self._worker.start()

    # -- the clock -------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the session started."""
        return self.clock() - self.start

    def frame_due(self, n: int) -> float:
        """Clock time (seconds since start) at which frame `n` is shown."""
        return n / self.settings.fps

    def frame_at(self, t: float) -> int:
        """The frame showing at clock time `t`."""
        return max(0, math.floor(t * self.settings.fps + 1e-9))

    @property
    def time_base(self) -> Fraction:
        return Fraction(1, self.settings.fps)

    # -- speaking ------------------------------------------------------------------------------

    def say(self, text: object, interrupt: bool = False) -> list[str]:
        """Queue `text`, split into sentences (as the videos split it), after what is already queued; return them.

        `interrupt` stops what is being said first. Empty text, text with nothing to
        speak and text over `max_chars` are refused with one sentence.
        """
        self._check_open()
        if isinstance(text, str) and len(text.strip()) > self.settings.max_chars:
            raise InputError(f"The text has {len(text.strip()):,} characters, more than the {self.settings.max_chars:,} "
                             "a live avatar says at once; send it in shorter parts.")
        text = check_text(text)
        sentences = [s for paragraph in split_paragraphs(text) for s in split_sentences(paragraph, piece_chars=1)]
        if interrupt:
            self.stop()
        with self._lock:
            self._last_activity = self.now()
            generation = self._generation
            self._busy += len(sentences)
        for sentence in sentences:
            self._queue.put((generation, sentence))
        return sentences

    def stop(self) -> None:
        """Cut the sound now, forget what is queued; the mouth closes over a few frames and the face idles."""
        self._check_open()
        with self._lock:
            self._generation += 1
            self._busy = 0
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            now = self.now()
            # What was handed out cannot be taken back: cut after the last sample and frame sent.
            cut = max(now, self._audio_upto / self.settings.sample_rate,
                      self.frame_due(self._rendered_upto + 1) + self.settings.lead)
            self._keep_shown(cut)
            self._timeline.drop_after(cut)
            for u in self._timeline.utterances:
                if u.end > cut:
                    u.cut(cut, cut + HEAD_SETTLE_S + life.activity_margin(self.settings.fps) / self.settings.fps)
            self._last_activity = now

    @property
    def speaking(self) -> bool:
        """True while a sentence is sounding or waiting to (queued, being spoken by the voice, or placed ahead)."""
        with self._lock:
            return self._busy > 0 or self._timeline.end > self.now()

    def wait_placed(self, timeout: float = 30.0) -> bool:
        """Wait until the voice has spoken every queued sentence onto the clock; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._busy == 0:
                    return True
            time.sleep(0.005)
        return False

    @property
    def placed(self) -> list[Said]:
        """Every sentence placed on the clock, heard or still ahead, oldest first."""
        with self._lock:
            return self._spoken + [said(u) for u in self._timeline.utterances]

    @property
    def transcript(self) -> list[Said]:
        """What was actually said: sentences whose sound has started, with Stop's cuts marked."""
        now = self.now()
        return [line for line in self.placed if line.start <= now]

    def _speak_queued(self) -> None:
        """The worker: speak each queued sentence and place it on the clock as soon as its sound is ready."""
        try:
            self.voice.load(threads=VOICE_THREADS)
            if self.voice.quick:
                # A session's first sentence took 0.3-0.8 s longer than the next ones (the resampler's and the
                # voice's first-run set-up): spend that now, while the face idles, not on the first thing typed.
                self._synthesize(WARM_UP_TEXT)
        except Exception:  # the first sentence reports it
            _LOGGER.debug("voice preload failed", exc_info=True)
        while True:
            item = self._queue.get()
            if item is None or self._closed:
                return
            generation, sentence = item
            if not self._wait_for_room(generation):
                continue
            try:
                samples, phonemes, voice, voice_rate = self._synthesize(sentence)
            except Exception as exc:  # noqa: BLE001 - one bad sentence must not end the session
                with self._lock:
                    if generation == self._generation:
                        self._busy -= 1
                        self.errors.append(str(exc) if isinstance(exc, InputError) else f"{sentence!r}: {exc}")
                continue
            with self._lock:
                if generation != self._generation or self._closed:
                    continue
                self._place(sentence, samples, phonemes, voice, voice_rate)
                self._busy -= 1

    def _wait_for_room(self, generation: int) -> bool:
        """Wait until less than `speak_ahead` seconds of sound are placed ahead; False when Stop or close came
        meanwhile."""
        while True:
            with self._lock:
                if generation != self._generation or self._closed:
                    return False
                if self._timeline.end - self.now() < self.settings.speak_ahead:
                    return True
            time.sleep(0.02)

    def _synthesize(self, sentence: str) -> tuple[np.ndarray, list[Phoneme], np.ndarray, int]:
        """The sentence's samples at the session's rate, its phonemes (seconds from its first sample), and the
        voice's own samples as 16-bit at their rate (what a saved session keeps)."""
        s = self.settings
        began = time.monotonic()
        chunks = list(self._speak(sentence))
        rate = chunks[0].sample_rate
        samples = np.concatenate([c.samples for c in chunks]).astype(np.float32)
        phonemes = [p for c in chunks for p in (c.phonemes or [])]
        voice = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        samples = resample(samples, rate, s.sample_rate).astype(np.float32, copy=False)
        trace = pacing_trace()
        if trace is not None:
            trace.event("voice", t=began, s=time.monotonic() - began, chars=len(sentence),
                        sound=len(samples) / s.sample_rate)
        return samples, phonemes, voice, rate

    def _speak(self, sentence: str):
        """The voice's chunks for `sentence`: the bundled voice on `VOICE_THREADS` threads (an engine of the live
        sessions' own), so speaking never takes every core from the frames; a cloning voice as it is."""
        s = self.settings
        return self.voice.speak(sentence, rate=s.rate, seed=s.seed, threads=VOICE_THREADS)

    def _place(self, text: str, samples: np.ndarray, phonemes: list[Phoneme], voice: Optional[np.ndarray] = None,
               voice_rate: int = 0) -> None:
        """Put a spoken sentence on the clock (lock held): after the sentence before it, and never where a frame or
        sample was already handed out."""
        s = self.settings
        earliest = max(self.now() + START_LEAD_S, self._timeline.end, self._audio_upto / s.sample_rate,
                       self.frame_due(self._rendered_upto + 1) + s.lead + 1 / s.fps)
        # On a frame's time: the sentence's frames are then exactly a video's frames of it, and its first sample
        # is a whole sample at any rate that is a multiple of the frame rate.
        start = math.ceil(earliest * s.fps - 1e-9) / s.fps
        self._keep_shown(start)
        shifted = [Phoneme(p.ipa, p.start + start, p.end + start) for p in phonemes]
        head_from = self._rendered_upto + life.activity_margin(s.fps) + 1
        self._timeline.utterances.append(Utterance(text, start, samples, s.sample_rate, shifted, list(shifted),
                                                   head_from, voice=voice, voice_rate=voice_rate))
        self._last_activity = max(self._last_activity, start)
        now = self.now()
        for old in self._timeline.forget_before(now - 5.0):  # ended: nothing changes them any more
            self._spoken.append(said(old))
            self._kept.append(old.line(with_voice=True))
        self._kept = [line for line in self._kept if line.end >= now - KEEP_S]

    def _keep_shown(self, since: float) -> None:
        """Before the clock changes from time `since` on (lock held): the frames just rendered keep the weights they
        were shown with.

        The mouth anticipates a sound by a few frames, and a sentence placed (or cut)
        now may change frames already sent; what the viewer saw is what a saved video shows.
        """
        self._changes += 1
        self._changed_from.append((self._changes, since))
        for n, row in self._recent:
            self._shown.setdefault(n, row)
        oldest = self.frame_at(self.now() - KEEP_S) - RECENT_FRAMES
        if self._shown and min(self._shown) < oldest:
            self._shown = {n: row for n, row in self._shown.items() if n >= oldest}

    # -- what the viewer gets -----------------------------------------------------------------------

    def weights(self, frames: range) -> np.ndarray:
        """Rig weights (mouth, blink, head) of `frames`, as the built-in engine computes them for a video: the mouth
        from the phonemes on the clock, blinks and head motion from the absolute frame index (`render.clock_weights`,
        which a saved session's frames are rendered with too)."""
        with self._lock:  # a copy of the places near the frames; rendering runs outside the lock
            nearby = self._timeline.near(*context(frames, self.settings.fps))
        return clock_weights(self.engine, nearby, self.settings, frames)

    def frame(self, n: int) -> np.ndarray:
        """Video frame `n` (RGB, the portrait's size), due at `frame_due(n)`; the same n gives the same array."""
        self._check_open()
        if self._last_frame is not None and self._last_frame[0] == n:
            return self._last_frame[1]
        with self._lock:
            self._rendered_upto = max(self._rendered_upto, n)
            changes = self._changes
        weights = self.weights(range(n, n + 1))
        with self._lock:
            row = weights[0].copy()
            self._recent.append((n, row))
            if self._changes != changes:  # the clock changed while this frame rendered: keep it as it is shown
                self._shown.setdefault(n, row)
        image = next(iter(self.engine.render_weights(self.portrait.image, self.prepared, weights))).copy()
        self._last_frame = (n, image)
        return image

    def render(self, n: int) -> Rendered:
        """Frame `n` rendered ahead of its time, not yet handed out: a sentence placed or Stop pressed meanwhile is
        placed and cut as if it were not there, and `hand_out` then takes it only if that change did not reach it.

        The transport renders a few frames ahead so that a moment the render thread
        does not get (the voice, the encoder or the page taking the interpreter) is
        absorbed; what the viewer sees, Stop and the start of a sentence are the same.
        """
        self._check_open()
        with self._lock:
            changes = self._changes
        weights = self.weights(range(n, n + 1))
        image = next(iter(self.engine.render_weights(self.portrait.image, self.prepared, weights))).copy()
        return Rendered(n, image, weights[0].copy(), changes)

    def hand_out(self, rendered: Rendered) -> Optional[np.ndarray]:
        """The frame rendered ahead, now handed out as `frame(n)` would be; None when a sentence placed or cut since
        it was rendered changes it (render it again)."""
        self._check_open()
        n = rendered.n
        with self._lock:
            if self._changes != rendered.changes:
                newer = [since for change, since in self._changed_from if change > rendered.changes]
                reaches = context(range(n, n + 1), self.settings.fps)[1]
                if len(newer) < self._changes - rendered.changes or min(newer) <= reaches:
                    return None
                self._shown.setdefault(n, rendered.row)  # as `frame` keeps a frame rendered across a change
            self._rendered_upto = max(self._rendered_upto, n)
            self._recent.append((n, rendered.row))
        self._last_frame = (n, rendered.image)
        return rendered.image

    def audio(self, start: int, count: int) -> np.ndarray:
        """Samples start..start+count-1 (float32 mono at `sample_rate`), sample k due at k / sample_rate."""
        self._check_open()
        with self._lock:
            self._audio_upto = max(self._audio_upto, start + count)
            return self._timeline.audio(start, count, self.settings.sample_rate)

    def audio_until(self, t: float) -> tuple[int, np.ndarray]:
        """The samples not yet handed out up to clock time `t`, and the index of the first."""
        with self._lock:
            start = self._audio_upto
        stop = max(start, int(t * self.settings.sample_rate))
        return start, self.audio(start, stop - start)

    def recording(self) -> Recording:
        """Everything said up to now (the last `KEEP_S` seconds of a longer session), to save as a video.

        The video ends at the frame due now; sentences placed just after it are kept
        too, since the mouth looks a little ahead and the last frames were shown with them.
        """
        self._check_open()
        fps = self.settings.fps
        with self._lock:
            frames = self.frame_at(self.now())
            first = max(0, frames - int(KEEP_S * fps))
            since, until = first / fps - 1.0, frames / fps + 1.0
            lines = [line for line in self._kept if line.end >= since]
            lines += [u.line(with_voice=True) for u in self._timeline.utterances if u.start <= until]
            shown = {n: row for n, row in self._shown.items() if first <= n < frames}
        return Recording(self.settings, self.portrait, first, frames, lines, shown)

    # -- life span -------------------------------------------------------------------------------

    def touch(self) -> None:
        """Count a request as activity (the idle timeout starts again)."""
        with self._lock:
            self._last_activity = max(self._last_activity, self.now())

    @property
    def expired(self) -> bool:
        """True once closed, or silent with nothing queued for `idle_timeout` seconds."""
        if self._closed:
            return True
        with self._lock:
            if self._busy:
                return False
            since = max(self._last_activity, self._timeline.end)
        return self.now() - since > self.settings.idle_timeout

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End the worker and drop the portrait, the rig and the sound; later calls are refused."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
            self._generation += 1
            self._timeline = Timeline()
            self._kept, self._shown = [], {}
            self._recent.clear()
        self._queue.put(None)  # type: ignore[arg-type]
        self._worker.join(timeout=10)
        self.prepared = None  # type: ignore[assignment]
        self._last_frame = None

    def _check_open(self) -> None:
        if self._closed:
            raise InputError("This live session has ended; start a new one.")

    def __enter__(self) -> "LiveSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


LIVE_SIZE = 512
"""Long side of a live session's video: a browser shows it small, and a smaller frame leaves room for more sessions."""


def open_session(source, settings: Optional[LiveSettings] = None, size: int = LIVE_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> LiveSession:
    """A session for a portrait: a default avatar's name (a `str` is only ever that, never a path), a `Path`, image
    bytes or an RGB array; NoFaceError in one sentence for a picture without a face."""
    from avatar.avatars import get_default_avatar
    from avatar.talk.pipeline import prepare_portrait

    landmarks = None
    if isinstance(source, str):
        avatar = get_default_avatar(source)
        source, landmarks = avatar.image_path, avatar.landmarks_path
    return LiveSession(prepare_portrait(source, size, landmarks_path=landmarks), settings, clock=clock)
