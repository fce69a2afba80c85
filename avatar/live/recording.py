"""Saving a live session as a video: what it said so far becomes a normal job, listed on History with its files.

A session's frames are a function of the frame index and of the sentences on its
clock, so nothing rendered is kept: saving writes the portrait (PNG), the sound
(WAV: the sentences where they sounded, cut where Stop cut them, silence while the
avatar idled) and the clock (`session.json`: the settings, the face, every
sentence's text, time and phonemes), and submits a `live` job (see
`avatar.service.live_kind`) that renders frames first..last with the session's own
code (`avatar.live.render`) into `video.mp4` with captions of the transcript.

A page or a server submits it with `avatar.service.live_kind.submit_saved_session(session, owner)`.
"""

from __future__ import annotations

import dataclasses
import json
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import InputError
from avatar.face.face import Face
from avatar.live.session import LiveSettings, Recording
from avatar.live.timeline import Line
from avatar.media import save_image
from avatar.speech.timeline import Phoneme
from avatar.talk.builtin.rig import BASES


"""The job kind of a saved session."""
FORMAT = "avatar-live-session"
VERSION = 1
SESSION_FILE, PORTRAIT_FILE, SOUND_FILE = "session.json", "portrait.png", "sound.wav"
SILENT_RATE = 16000
"""The sound's rate when nothing was said (the voice's own rate otherwise)."""
MAX_SESSION_JSON_BYTES = 20 * 1024**2
"""Largest `session.json` a job takes: 30 minutes of speech's phonemes fit in a few MB."""


@dataclass(frozen=True)
class SavedSession:
    """A session's clock as saved: frames first_frame..frames-1, the sentences on it, the face, its sound's rate."""

    settings: LiveSettings
    first_frame: int
    frames: int
    sample_rate: int
    lines: list[Line]  # places only (the sound is the WAV)
    face: Face
    portrait_name: str = "portrait"
    portrait_sha256: str = ""
    shown: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)  # see `Recording.shown`

    @property
    def count(self) -> int:
        """Frames of the saved video."""
        return self.frames - self.first_frame

    @property
    def offset(self) -> float:
        """Clock time of the video's first frame (0 unless the session was longer than it keeps)."""
        return self.first_frame / self.settings.fps

    @property
    def duration(self) -> float:
        return self.count / self.settings.fps

    @property
    def samples(self) -> int:
        """Samples of the sound: the video's duration at `sample_rate`."""
        return int(round(self.duration * self.sample_rate))

    @property
    def heard(self) -> list[Line]:
        """The transcript: sentences whose sound started within the video."""
        end = self.frames / self.settings.fps
        return [line for line in self.lines if line.start < end and line.end > self.offset]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "settings": dataclasses.asdict(self.settings),
            "first_frame": self.first_frame, "frames": self.frames, "sample_rate": self.sample_rate,
            "portrait": {"name": self.portrait_name, "sha256": self.portrait_sha256,
                         "face": {"box": [int(v) for v in self.face.box], "source": self.face.source,
                                  "landmarks": self.face.landmarks.astype(np.float32).tolist()}},
            "lines": [{"text": line.text, "start": line.start, "end": line.end, "interrupted": line.interrupted,
                       "head_from": line.head_from, "phonemes": _phonemes(line.phonemes),
                       "head_phonemes": _phonemes(line.head_phonemes)} for line in self.lines],
            "shown": [[n, row.astype(np.float32).tolist()] for n, row in sorted(self.shown.items())],
        }

    @classmethod
    def from_json(cls, data: Any) -> "SavedSession":
        """The saved clock from `session.json`'s content; one sentence naming what is wrong."""
        try:
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("it is not a saved live session")
            if data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r} is not {VERSION}")
            known = {f.name for f in dataclasses.fields(LiveSettings)}
            settings = LiveSettings(**{k: v for k, v in dict(data["settings"]).items() if k in known})
            if not (isinstance(settings.fps, int) and 1 <= settings.fps <= 120):
                raise ValueError("fps must be a whole number from 1 to 120")
            if not (isinstance(settings.sample_rate, int) and 8000 <= settings.sample_rate <= 192000):
                raise ValueError("sample_rate must be a whole number of Hz")
            first, frames, rate = (_whole(data, name) for name in ("first_frame", "frames", "sample_rate"))
            if not (0 <= first < frames) or not 8000 <= rate <= 192000:
                raise ValueError("the frames or the sound's rate are out of range")
            face_data = data["portrait"]["face"]
            landmarks = np.asarray(face_data["landmarks"], np.float32)
            box = tuple(int(v) for v in face_data["box"])
            if landmarks.shape != (68, 2) or len(box) != 4 or not np.isfinite(landmarks).all():
                raise ValueError("the face needs a box and 68 landmarks")
            lines = [Line(str(item["text"]), float(item["start"]), float(item["end"]), _read_phonemes(item["phonemes"]),
                          _read_phonemes(item["head_phonemes"]), int(item["head_from"]), bool(item["interrupted"]))
                     for item in data["lines"]]
            shown = {int(n): np.asarray(row, np.float32) for n, row in data.get("shown", [])}
            if any(row.shape != (len(BASES),) or not np.isfinite(row).all() for row in shown.values()):
                raise ValueError(f"a shown frame needs {len(BASES)} finite weights")
            return cls(settings, first, frames, rate, lines, Face(box, landmarks, str(face_data.get("source", "dlib"))),
                       str(data["portrait"].get("name", "portrait")), str(data["portrait"].get("sha256", "")), shown)
        except (KeyError, TypeError, ValueError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) and str(exc) else f"missing or wrong {exc}"
            raise InputError(f"The saved session file is not usable ({reason[:80]}); save the session again.") from None


def _phonemes(phonemes: list[Phoneme]) -> list[list[Any]]:
    return [[p.ipa, p.start, p.end] for p in phonemes]


def _read_phonemes(items: Any) -> list[Phoneme]:
    return [Phoneme(str(ipa), float(start), float(end)) for ipa, start, end in items]


def _whole(data: dict[str, Any], name: str) -> int:
    value = data[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number")
    return value


def read_saved(path: Path) -> SavedSession:
    """`session.json` of a saved session, checked."""
    if path.stat().st_size > MAX_SESSION_JSON_BYTES:
        raise InputError(f"The saved session file is larger than {MAX_SESSION_JSON_BYTES // 1024**2} MB; save a "
                         "shorter session.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("The saved session file is not valid JSON; save the session again.") from None
    return SavedSession.from_json(data)


def saved_session(recording: Recording) -> SavedSession:
    """The clock of a recording, as saved (its sound goes to the WAV)."""
    rates = {line.voice_rate for line in recording.lines if line.voice is not None}
    rate = rates.pop() if len(rates) == 1 else max(rates, default=SILENT_RATE)
    places = [dataclasses.replace(line, voice=None) for line in recording.lines]
    return SavedSession(recording.settings, recording.first_frame, recording.frames, rate, places,
                        recording.portrait.face, recording.portrait.name, recording.portrait.sha256, recording.shown)


def sound(recording: Recording, saved: SavedSession) -> np.ndarray:
    """The session's sound over the saved video, 16-bit at `saved.sample_rate`: each sentence where it sounded (as
    cut by Stop), silence elsewhere."""
    from avatar.speech.resampling import resample

    rate = saved.sample_rate
    out = np.zeros(saved.samples, np.int16)
    for line in recording.lines:
        if line.voice is None or not len(line.voice):
            continue
        voice = line.voice
        if line.voice_rate != rate:  # one voice per session: only a session whose voice changed gets here
            voice = np.round(np.clip(resample(voice / 32767.0, line.voice_rate, rate), -1, 1) * 32767).astype(np.int16)
        first = int(round((line.start - saved.offset) * rate))
        lo, hi = max(0, first), min(len(out), first + len(voice))
        if lo < hi:
            out[lo:hi] = voice[lo - first: hi - first]
    return out


def write_sound(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit mono WAV."""
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
    return path


def write_session_files(recording: Recording, folder: Path) -> dict[str, Path]:
    """The job's input files for `recording`, written into `folder`: portrait, sound and clock."""
    saved = saved_session(recording)
    files = {
        "portrait": save_image(folder / PORTRAIT_FILE, recording.portrait.image),
        "audio": write_sound(folder / SOUND_FILE, sound(recording, saved), saved.sample_rate),
        "session": folder / SESSION_FILE,
    }
    files["session"].write_text(json.dumps(saved.to_json()), encoding="utf-8")
    return files


def job_params(saved: SavedSession) -> dict[str, Any]:
    """What History shows of a saved session: its length and its first words."""
    heard = saved.heard
    return {"seconds": round(saved.duration, 2), "sentences": len(heard),
            "said": " ".join(line.text for line in heard)[:200]}
