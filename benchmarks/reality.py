"""How the avatar's mouth moves against real speakers: `python -m benchmarks.reality`.

For each clip of real talk (default: `../shared/fixtures/real_talk/*.mp4`) the
first frame becomes the portrait and the clip's own sound track the recording;
the talking video is rendered at 512 px through `make_talking_video`, as a user's
upload would be. Then, in both videos, frame by frame, the mouth opening is
measured: the inner-lip gap over the eye distance, from dlib's 68 landmarks.

Per clip it prints:

- *method*: what drove the mouth (the manifest's speech.mouth.method:
  recognized, transcript or loudness);
- *r*, *lag*: Pearson correlation of our opening with the real speaker's, both
  resampled to 25 fps, best of -3..+3 frames of lag (positive: ours is later);
  target: mean r >= 0.45;
- *real range*, *our range*, *ratio*: the 95th minus the 5th percentile of the
  opening; target: ratio within 0.7-1.3;
- *closure*: the largest opening of ours inside pauses of the real sound (quiet
  for 0.3 s or more, less 0.08 s at each end for the mouth to get there);
  target: 0.03 or less. The real speaker's figure is beside it; *median in
  pauses*, ours over the same frames, is what our closed mouth typically reads,
  where the largest is dlib's worst frame (see `--floor`).

`--floor` measures the instrument instead: what dlib reads on our closed mouth
when nothing but the head moves (each clip's rest pose, every mouth weight zero,
under the head motion our pauses get), the least any closure figure can be.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

PROJECT_DIR = Path(__file__).resolve().parents[1]
CLIPS_DIR = PROJECT_DIR.parent / "shared" / "fixtures" / "real_talk"
COMMON_FPS = 25.0
"""Both openings are resampled to this rate before they are correlated."""
MAX_LAG = 3
PAUSE_S = 0.3
"""A pause: the real sound stays quiet this long or longer."""
PAUSE_EDGE_S = 0.08
"""Left out at each end of a pause when closure is measured: the mouth needs that long to get there."""
QUIET_BELOW = 0.1
"""A frame is quiet when its sound's RMS is under this share of the clip's 95th-percentile RMS (-20 dB)."""
CLOSURE_TARGET = 0.03
R_TARGET = 0.45
RANGE_TOLERANCE = 0.3

_FACE_PX = 100
"""Frames are scaled so the face is about this wide for detection: fast, and (with upsampling 1) well above dlib's 80 px window."""


# --- reading ---------------------------------------------------------------------


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    """All frames of a video as RGB uint8 arrays, and its frame rate."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or COMMON_FPS)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return frames, fps


def first_frame(path: Path) -> np.ndarray:
    """The first frame of a video as an RGB uint8 array, without decoding the rest."""
    import av

    with av.open(str(path)) as container:
        return next(container.decode(container.streams.video[0])).to_ndarray(format="rgb24")


def read_audio(path: Path, rate: int = 16000) -> np.ndarray:
    """The first sound track of a media file, mono float32 at `rate`."""
    import av

    chunks = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return samples.astype(np.float32) / 32768.0


def write_wav(samples: np.ndarray, rate: int, path: Path) -> Path:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


# --- mouth opening ---------------------------------------------------------------


def _detect(image: np.ndarray, scale: float) -> Optional[tuple[float, ...]]:
    """The largest face's box in full-frame coordinates, found in the whole frame scaled by `scale`, else None.

    The whole frame is searched at one scale per clip (then at twice that if no
    face is found), never in a crop around the previous frame's box: the box,
    and with it the landmarks' fit, would then depend on where the crop fell,
    and the same frame read 0.02-0.065 depending on the frames before it.
    """
    from avatar.face.detect import find_faces

    for factor in (scale, 2.0 * scale):
        small = image
        if factor != 1.0:
            size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
        faces = find_faces(np.ascontiguousarray(small))
        if faces:
            x0, y0, x1, y1 = faces[0].box
            return (x0 / factor, y0 / factor, x1 / factor, y1 / factor)
    return None


def _detection_scale(frames: Sequence[np.ndarray]) -> float:
    """The scale at which the clip's face is about `_FACE_PX` wide, from its first frame with a face (1.0 if none)."""
    for frame in frames:
        found = _detect(np.ascontiguousarray(frame), 1.0)
        if found is not None:
            return _FACE_PX / max(found[2] - found[0], 1.0)
    return 1.0


def mouth_opening(frames: Sequence[np.ndarray], fps: float) -> np.ndarray:
    """The inner-lip gap over the eye distance in each frame (NaN where no face is found).

    Each frame is measured on its own (see `_detect`): the face is found in the
    whole frame scaled so the face is about `_FACE_PX` wide, the 68 landmarks are
    then fitted in the full-resolution frame. `fps` is the frames' rate (kept
    with the values by callers that resample them; detection does not depend on it).
    """
    from avatar.face.detect import inner_lip_gap, landmarks_in_box

    del fps  # the opening of a frame does not depend on the rate
    values = np.full(len(frames), np.nan)
    scale = _detection_scale(frames)
    for index, frame in enumerate(frames):
        frame = np.ascontiguousarray(frame)
        found = _detect(frame, scale)
        if found is None:
            continue
        landmarks = landmarks_in_box(frame, tuple(int(round(v)) for v in found))
        values[index] = inner_lip_gap(landmarks)
    return values


# --- comparing -------------------------------------------------------------------


def resample(values: np.ndarray, fps: float, to_fps: float) -> np.ndarray:
    """`values` sampled at `fps`, linearly interpolated at `to_fps` (NaN next to a NaN)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    duration = len(values) / fps
    times = np.arange(int(math.floor(duration * to_fps + 1e-9))) / to_fps
    position = times * fps
    left = np.clip(np.floor(position).astype(int), 0, len(values) - 1)
    right = np.clip(left + 1, 0, len(values) - 1)
    weight = position - left
    weight = np.where(right == left, 0.0, weight)
    with np.errstate(invalid="ignore"):
        # a NaN neighbour matters only when it carries weight
        out = np.where(weight == 0.0, values[left], (1 - weight) * values[left] + weight * values[right])
    return out


def correlate(
    ours: np.ndarray,
    real: np.ndarray,
    max_lag: int = MAX_LAG,
    *,
    ours_fps: float = COMMON_FPS,
    real_fps: float = COMMON_FPS,
    fps: float = COMMON_FPS,
) -> tuple[float, int]:
    """The best Pearson r of `ours` against `real` over lags of -max_lag..max_lag frames, and that lag.

    Both are first resampled from their own rates to `fps`; the lag is in frames
    of `fps`, positive when ours comes later (ours[t + lag] is paired with
    real[t]). Frames where either is NaN are skipped. (nan, 0) when no lag leaves
    at least 3 pairs with some variation.
    """
    a = resample(np.asarray(ours, dtype=np.float64), ours_fps, fps)
    b = resample(np.asarray(real, dtype=np.float64), real_fps, fps)
    best = (float("nan"), 0)
    for lag in sorted(range(-max_lag, max_lag + 1), key=abs):  # on equal r the smaller lag wins
        if lag >= 0:
            x, y = a[lag:], b
        else:
            x, y = a, b[-lag:]
        n = min(len(x), len(y))
        x, y = x[:n], y[:n]
        keep = np.isfinite(x) & np.isfinite(y)
        if keep.sum() < 3 or np.std(x[keep]) == 0 or np.std(y[keep]) == 0:
            continue
        r = float(np.corrcoef(x[keep], y[keep])[0, 1])
        if math.isnan(best[0]) or r > best[0]:
            best = (r, lag)
    return best


def opening_range(values: np.ndarray) -> float:
    """The 95th minus the 5th percentile of the finite values (NaN if none)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        return float("nan")
    low, high = np.percentile(finite, [5, 95])
    return float(high - low)


def pause_mask(samples: np.ndarray, rate: int, fps: float, frames: int) -> np.ndarray:
    """Which of `frames` video frames (at `fps`) lie inside a pause of the sound, edges left out.

    A frame is quiet when the RMS of its stretch of sound is under `QUIET_BELOW`
    of the clip's 95th-percentile frame RMS; a pause is a run of quiet frames of
    at least `PAUSE_S`, less `PAUSE_EDGE_S` at each end.
    """
    rms = np.zeros(frames)
    for index in range(frames):
        start, end = int(index * rate / fps), int((index + 1) * rate / fps)
        piece = samples[start:end]
        rms[index] = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))) if len(piece) else 0.0
    loud = np.percentile(rms, 95) if frames else 0.0
    quiet = rms < QUIET_BELOW * loud
    mask = np.zeros(frames, dtype=bool)
    edge = int(round(PAUSE_EDGE_S * fps))
    index = 0
    while index < frames:
        if not quiet[index]:
            index += 1
            continue
        end = index
        while end < frames and quiet[end]:
            end += 1
        if (end - index) / fps >= PAUSE_S:
            mask[index + edge:end - edge] = True
        index = end
    return mask


def _picked(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n = min(len(values), len(mask))
    picked = np.asarray(values[:n])[mask[:n]]
    return picked[np.isfinite(picked)]


def _max_in(values: np.ndarray, mask: np.ndarray) -> float:
    picked = _picked(values, mask)
    return float(picked.max()) if len(picked) else float("nan")


def _median_in(values: np.ndarray, mask: np.ndarray) -> float:
    picked = _picked(values, mask)
    return float(np.median(picked)) if len(picked) else float("nan")


# --- one clip --------------------------------------------------------------------


@dataclass
class ClipMeasure:
    """One real clip against our video of its first frame and its sound."""

    name: str
    fps: float  # the real clip's
    frames: int  # the real clip's
    our_fps: float
    method: str  # the manifest's speech.mouth.method
    real: np.ndarray = field(repr=False)  # opening per real frame
    ours: np.ndarray = field(repr=False)  # opening per frame of our video
    r: float
    lag: int  # frames at COMMON_FPS; positive: ours is later
    real_range: float
    our_range: float
    closure: float  # our largest opening inside pauses (NaN: no pause)
    closure_median: float  # our median opening inside pauses
    real_closure: float  # the real speaker's, same frames
    pause_s: float  # seconds of pause measured
    real_found: float  # share of real frames with a face
    our_found: float
    seconds: float  # wall-clock seconds: render and both measurements
    render_seconds: float

    @property
    def ratio(self) -> float:
        return self.our_range / self.real_range if self.real_range else float("nan")


def measure_clip(path: Path, size: int = 512, method: Optional[str] = None, seed: int = 0,
                 work_dir: Optional[Path] = None) -> ClipMeasure:
    """Render the clip's first frame speaking the clip's own sound and compare the mouths.

    `method` is a mouth method the caller expects ("recognized", "transcript",
    "loudness"); the pipeline chooses it from the recording, and a different
    choice raises ValueError (None: accept whatever it chose).
    """
    from avatar.talk.engine import TalkOptions
    from avatar.talk.pipeline import make_talking_video

    path = Path(path)
    started = time.perf_counter()
    real_frames, real_fps = read_video(path)
    rate = 16000
    samples = read_audio(path, rate)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        tmp = Path(tmp)
        portrait = tmp / "first_frame.png"
        cv2.imwrite(str(portrait), cv2.cvtColor(real_frames[0], cv2.COLOR_RGB2BGR))
        audio = write_wav(samples, rate, tmp / f"{path.stem}.wav")
        render_start = time.perf_counter()
        result = make_talking_video(portrait, audio=audio, options=TalkOptions(size=size, seed=seed),
                                    job_dir=tmp / "job")
        render_seconds = time.perf_counter() - render_start
        chosen = result.manifest.get("speech", {}).get("mouth", {}).get("method", result.mouth)
        if method is not None and chosen != method:
            raise ValueError(f"{path.name}: the mouth was driven by {chosen}, not {method}")
        our_frames, our_fps = read_video(result.video_path)
    real = mouth_opening(real_frames, real_fps)
    ours = mouth_opening(our_frames, our_fps)
    r, lag = correlate(ours, real, ours_fps=our_fps, real_fps=real_fps)
    pauses = pause_mask(samples, rate, our_fps, len(ours))
    real_at_ours = resample(real, real_fps, our_fps)
    return ClipMeasure(
        name=path.stem,
        fps=real_fps,
        frames=len(real_frames),
        our_fps=our_fps,
        method=chosen,
        real=real,
        ours=ours,
        r=r,
        lag=lag,
        real_range=opening_range(real),
        our_range=opening_range(ours),
        closure=_max_in(ours, pauses),
        closure_median=_median_in(ours, pauses),
        real_closure=_max_in(real_at_ours, pauses),
        pause_s=float(pauses.sum()) / our_fps,
        real_found=float(np.isfinite(real).mean()),
        our_found=float(np.isfinite(ours).mean()),
        seconds=time.perf_counter() - started,
        render_seconds=render_seconds,
    )


# --- the instrument's floor --------------------------------------------------------


FLOOR_SECONDS = 10.0
FLOOR_EVERY = 5
"""Every 5th frame of 10 s of pause motion: 50 renders, poses about 0.2 s apart."""


@dataclass
class FloorMeasure:
    """dlib's readings of one clip's closed rest pose: still, and under the head motion of a pause."""

    name: str
    still: float
    moving: np.ndarray = field(repr=False)


def closed_mouth_floor(path: Path, size: int = 512, seed: int = 0) -> FloorMeasure:
    """Render the clip's first frame with its mouth closed (every mouth weight zero) and only the head moving as
    it does in pauses (`life.head_motion` of silence), and read the opening as `measure_clip` does."""
    from avatar.talk.builtin import life
    from avatar.talk.builtin.engine import BuiltinEngine
    from avatar.talk.builtin.rig import BASES
    from avatar.talk.engine import FPS
    from avatar.talk.pipeline import prepare_portrait

    path = Path(path)
    picture = prepare_portrait(first_frame(path), size)
    engine = BuiltinEngine()
    prepared = engine.prepare(picture.image, picture.face)
    motion = life.head_motion(np.zeros(int(FLOOR_SECONDS * FPS)), FPS, seed)[::FLOOR_EVERY]
    weights = np.zeros((len(motion) + 1, len(BASES)), np.float32)
    weights[1:, BASES.index("tilt"):] = motion  # row 0: the head still
    frames = [frame.copy() for frame in engine.render_weights(picture.image, prepared, weights)]
    readings = mouth_opening(frames, FPS)
    return FloorMeasure(path.stem, float(readings[0]), readings[1:])


def floor_table(measures: Sequence[FloorMeasure]) -> str:
    lines = ["| clip | still | head moving as in pauses: min | median | max | share over 0.03 |",
             "|---|---|---|---|---|---|"]
    for m in measures:
        lines.append(f"| {m.name} | {_f(m.still)} | {_f(np.nanmin(m.moving))} | {_f(np.nanmedian(m.moving))} | "
                     f"{_f(np.nanmax(m.moving))} | {np.mean(m.moving > CLOSURE_TARGET):.0%} |")
    return "\n".join(lines)


# --- the table -------------------------------------------------------------------


def _f(value: float, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def table(measures: Sequence[ClipMeasure]) -> str:
    lines = [
        "| clip | fps | frames | method | r | lag | real range | our range | ratio | closure in pauses "
        "(real) | median in pauses | pause s | face found real / ours | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measures:
        lines.append(
            f"| {m.name} | {m.fps:.1f} | {m.frames} | {m.method} | {_f(m.r)} | {m.lag:+d} | {_f(m.real_range)} | "
            f"{_f(m.our_range)} | {_f(m.ratio, 2)} | {_f(m.closure)} ({_f(m.real_closure)}) | {_f(m.closure_median)} | "
            f"{m.pause_s:.2f} | "
            f"{m.real_found:.0%} / {m.our_found:.0%} | {m.seconds:.1f} |"
        )

    def mean(values: list[float]) -> float:
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else float("nan")

    def largest(values: list[float]) -> float:
        return max((v for v in values if not math.isnan(v)), default=float("nan"))

    lines.append(
        f"| **mean** | | {sum(m.frames for m in measures)} | | **{_f(mean([m.r for m in measures]))}** | | "
        f"{_f(mean([m.real_range for m in measures]))} | {_f(mean([m.our_range for m in measures]))} | "
        f"{_f(mean([m.ratio for m in measures]), 2)} | max {_f(largest([m.closure for m in measures]))} "
        f"({_f(mean([m.real_closure for m in measures]))}) | max {_f(largest([m.closure_median for m in measures]))} | "
        f"{sum(m.pause_s for m in measures):.2f} | | "
        f"{sum(m.seconds for m in measures):.1f} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", help="clip names (stems) or paths; default: all of real_talk/")
    parser.add_argument("--dir", type=Path, default=CLIPS_DIR, help="folder of the real clips")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="write each clip's two openings here as <clip>.npz")
    parser.add_argument("--floor", action="store_true",
                        help="instead: what dlib reads on each clip's closed rest pose while only the head moves")
    args = parser.parse_args()

    paths = sorted(args.dir.glob("*.mp4"))
    if args.clips:
        by_name = {p.stem: p for p in paths}
        paths = [by_name[c] if c in by_name else Path(c) for c in args.clips]
    if args.floor:
        print(f"Inner-lip gap / eye distance that dlib reads on our closed mouth at {args.size} px "
              f"(closure target {CLOSURE_TARGET})\n")
        print(floor_table([closed_mouth_floor(path, size=args.size, seed=args.seed) for path in paths]))
        return
    measures = []
    for path in paths:
        measure = measure_clip(path, size=args.size, seed=args.seed)
        measures.append(measure)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            np.savez(args.save / f"{measure.name}.npz", real=measure.real, ours=measure.ours,
                     real_fps=measure.fps, our_fps=measure.our_fps)
    print(f"Mouth opening (inner-lip gap / eye distance) of our {args.size} px video against the real speaker's; "
          f"targets: mean r >= {R_TARGET}, range ratio {1 - RANGE_TOLERANCE:.1f}-{1 + RANGE_TOLERANCE:.1f}, "
          f"closure <= {CLOSURE_TARGET}\n")
    print(table(measures))


if __name__ == "__main__":
    main()
