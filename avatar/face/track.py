"""One person's face followed through a video, for dubbing.

Dubbing re-renders the mouth of one person in every frame where that person is
seen, so it needs, per frame, that person's 68 landmarks (or "not visible", and
the frame passes through unchanged). Detecting the face in every frame is too
slow (dlib's HOG search over a whole 844 px frame costs 0.2 s of CPU, more than
1 s on a busy machine), and its boxes jump by a few pixels from frame to frame,
which would make the mouth shake. So `track_face` makes one pass over the
frames and:

- detects faces only every `detect_every` frames (about 0.2 s), on a copy of the
  frame scaled so the followed face is about `DETECT_FACE_PX` wide (6-15 ms);
- fits the 68 points at full resolution, on every frame, in a box drawn around
  the previous frame's points the way the detector draws its box around a face
  (learned from the detections), refitted until that box settles: the shape
  predictor sees the kind of box it was trained on (3-10 ms a frame);
- detects at once after a cut (a large change of the colour histogram or of a
  thumbnail between consecutive frames) and when the fitted shape jumps (eye
  distance or position), and keeps following the same person: within a shot the
  face nearest the last place and size it was seen at; after a cut, or once the
  face was lost, the face that dlib's recognition model says is the same person
  (a cut may show another person in the same place, or the same person elsewhere);
- treats a detection that finds nobody near the followed face as a doubt:
  detection is retried on each following frame, and if the face is not
  confirmed within `detect_every` frames, the frames since the last detection
  that found it are marked not visible;
- given the decoder's YUV planes (`YuvFrame`), converts to RGB only what it
  reads: a thumbnail for finding cuts, the scaled copy for detection, the region
  around the box for the points (a whole 720p frame is converted only to
  recognise the person, a few times a video);
- searches, on a second thread, the frame where the next detection is due while
  the points of the frames before it are fitted (`workers`): a detection needs
  only the frame and the detection scale, and that scale is known once the
  previous detection is taken. The tracker uses such a search only when it asks
  for exactly that frame at exactly that scale, and otherwise searches itself,
  so the landmarks are the same with one worker or two, however the threads run;
- keeps only the landmarks (10 MB for 10 minutes at 30 fps), never the frames
  (except, while the face is lost, the few since the last search, to look back
  through once it is found again), and smooths them over time afterwards, within
  each run of visible frames between cuts, so the mouth does not jitter while it
  still moves.

Faces are numbered as `find_faces` numbers them (largest first), the numbering
`avatar talk --face-index` and the face picker use; `faces_in_frame` shows them.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

import cv2
import numpy as np

from avatar.errors import InputError, NoFaceError
from avatar.face.detect import (SAME_PERSON, box_from_landmarks, chip_descriptor, face_boxes, face_chip,
                                face_descriptor, find_faces, landmarks_in_box)
from avatar.face.face import Face
from avatar.progress import Progress, report
from avatar.video.io import YuvFrame

Picture = Union[np.ndarray, YuvFrame]
"""A frame as RGB uint8, or as the decoder's YUV planes (converted to RGB only where and when needed)."""

DETECT_FACE_PX = 60
"""Detection frames are scaled so the followed face is about this wide: `find_faces`
upsamples once, so dlib's 80 px window then finds faces from 2/3 of this size up
(what `MATCH_SIZE` accepts; a face that shrinks further is searched at twice the
scale), in 6-15 ms whatever the video's size (80 px: 1.8 times the time; 120 px: 4 times)."""

DETECT_SECONDS = 0.2
"""Default time between detections: drift of the carried-over box is corrected this often."""

SMOOTH_SECONDS = 0.2
"""Default length of the smoothing window (Savitzky-Golay, quadratic): long enough to
take out the detector's frame-to-frame wobble, short enough to keep a syllable's
mouth opening."""

CUT_HISTOGRAM = 0.2
"""A cut: consecutive frames whose colour histograms differ by more than this share
(half the L1 distance of normalised histograms). Within the real talking clips the
largest step is 0.03; between two clips it is 0.55 or more."""

CUT_THUMBNAIL = 0.1
"""A cut: consecutive 64x64 thumbnails differing by more than this mean absolute
value (0..1). Within the real clips at most 0.022; between clips 0.21 or more."""

MAX_EYE_RATIO = 1.2
"""Between detections, a fitted shape whose eye distance changed by more than this
factor from the previous frame is taken as lost, and the face is detected again."""

MAX_STEP = 0.5
"""... and so is one whose eye centre moved more than this many eye distances in one frame."""

MATCH_DISTANCE = 0.5
"""A detected face is the followed one when its centre lies within this many face
widths of the last known centre ..."""

MATCH_DISTANCE_AFTER_CUT = 1.0
"""... or, after a cut or while the face is lost (the person may have moved), within this many."""

MATCH_SIZE = 1.5
"""... and its width is within this factor of the last known width (2x after a cut)."""

BOX_OFFSET = (0.0, -0.15)
BOX_SIZE = 2.85
"""Where dlib's detector puts its (square) box on a face, relative to the 68 points'
mean and RMS spread: centre offset and width, in spreads (measured on the real
talking clips: size 2.7-2.9, offset -0.06 to -0.23 upwards). Between detections the
points are fitted in such a box drawn around the previous frame's points, so the
shape predictor sees the kind of box it was trained on."""

BOX_PRIOR_WEIGHT = 2.0
"""The measured placement counts as this many detections; each detection of the
followed person then moves it toward that person's own (one detection's box varies
by 5-8 % in size, so a single one is not trusted)."""

REFITS = 4
"""Between detections the points are fitted up to this many times, each in the box
drawn around the last fit: when the head moves fast (or comes closer), one fit in
the previous frame's box lags behind (9 px on a real clip), and a few refits
converge to what the detector's own box gives (2 px)."""

REFIT_PX = 2
"""... stopping once no side of that box moves by more than this (pixels)."""

IDENTITY_EVERY = 10
"""Every this many detections of the followed face (2 s at the default rate), one more
view of it is added to the descriptor that recognises the person after a cut ..."""

IDENTITY_SAMPLES = 8
"""... up to this many views (each costs about 60 ms)."""

_THUMB = 64
_EYES = (slice(36, 42), slice(42, 48))
LANDMARK_MARGIN = 0.5
"""On YUV frames the points are fitted in an RGB region this many box widths wider than the box on each side
(the shape predictor reads pixels only near its box), not in a whole converted frame."""


@dataclass
class FaceTrack:
    """One person's face through a video, frame by frame.

    `landmarks` (frames, 68, 2) float32 are the smoothed 68 points in dlib order,
    in pixels of the full frame, NaN where the face is not visible; `boxes`
    (frames, 4) float32 are (x0, y0, x1, y1) around them (as `box_from_landmarks`
    draws them), NaN where not visible. `cuts` are the indices of frames that
    begin a new shot. `detected` marks the frames where the detector ran.
    """

    landmarks: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    cuts: list[int]
    frame_count: int
    width: int
    height: int
    detected: np.ndarray = field(repr=False)

    def face(self, index: int) -> Optional[Face]:
        """The face in frame `index` as a `Face` (integer box), or None when it is not visible."""
        if not self.visible[index]:
            return None
        box = tuple(int(v) for v in self.boxes[index])
        return Face(box=box, landmarks=self.landmarks[index].copy(), source="track")

    @property
    def visible_fraction(self) -> float:
        """The share of frames where the face is seen (0 for an empty track)."""
        return float(self.visible.mean()) if self.frame_count else 0.0


def detection_interval(fps: float) -> int:
    """Frames between detections at `fps` (`DETECT_SECONDS`), the default of `track_face`.

    Until it finds a face, `track_face` looks at frames 0, k, 2k, ... with this k;
    a page listing the faces to choose from with `first_faces(every=k)` then shows
    the very frame whose faces `face_index` counts.
    """
    return max(1, round(DETECT_SECONDS * fps))


def faces_in_frame(frame: np.ndarray) -> list[Face]:
    """The faces a person can choose from, numbered as `track_face(face_index=...)` counts them.

    This is `find_faces` (largest first, the order `avatar talk --face-index` uses),
    so a page showing these boxes and the tracker agree on which face is which.
    """
    return find_faces(np.ascontiguousarray(frame))


def first_faces(frames: Iterable[np.ndarray], every: int = 5, limit: Optional[int] = None
                ) -> tuple[int, np.ndarray, list[Face]]:
    """The first frame (checked every `every` frames) where faces are found: (index, frame, faces).

    What a page shows for picking a face, and what `track_face` numbers its
    `face_index` against when `every` is its `detect_every` (see
    `detection_interval`). Raises NoFaceError when none of the first `limit`
    frames (default all) holds a face.
    """
    for index, frame in enumerate(frames):
        if limit is not None and index >= limit:
            break
        if index % every:
            continue
        faces = faces_in_frame(frame)
        if faces:
            return index, frame, faces
    raise NoFaceError("No face was found in the video; use a video where the speaker's face is seen from the front.")


def track_face(
    frames: Iterable[Picture],
    face_index: int = 0,
    *,
    fps: float = 25.0,
    detect_every: Optional[int] = None,
    smooth_window: Optional[int] = None,
    frame_count: Optional[int] = None,
    recognize: bool = True,
    progress: Optional[Progress] = None,
    workers: int = 1,
) -> FaceTrack:
    """Follow one person's face through `frames` (RGB uint8 or `YuvFrame`, streamed, not kept).

    `face_index` picks the person among the faces of the first frame where faces
    are found, in `faces_in_frame` order (largest first). `detect_every` is the
    number of frames between detections (default: `DETECT_SECONDS` at `fps`);
    `smooth_window` the length in frames of the smoothing window (default:
    `SMOOTH_SECONDS` at `fps`; 1 turns smoothing off). `frame_count` (or
    `len(frames)`) lets `progress` report the fraction done.

    After a cut, or when the face was lost, the person is found again by face
    recognition (`recognize`, default): another person in the same place, or the
    same person elsewhere after the camera cut to another shot, are told apart.
    Without it, by place and size only (the face nearest the last place within
    `MATCH_DISTANCE_AFTER_CUT` face widths, at most twice or half the size).

    `workers`: 1 (default) does everything on the calling thread; 2 searches the
    frame of the next due detection on a second thread while the frames before
    it are fitted, holding up to `detect_every` frames read ahead. The landmarks
    are the same either way.

    Raises NoFaceError when no frame holds a face, and InputError when
    `face_index` is beyond the faces of that first frame.
    """
    if workers not in (1, 2):
        raise ValueError("workers must be 1 or 2")
    if detect_every is None:
        detect_every = detection_interval(fps)
    if smooth_window is None:
        smooth_window = max(5, round(SMOOTH_SECONDS * fps) | 1)
    if detect_every < 1 or smooth_window < 1:
        raise ValueError("detect_every and smooth_window must be at least 1")
    if frame_count is None and hasattr(frames, "__len__"):
        frame_count = len(frames)  # type: ignore[arg-type]

    tracker = _Tracker(face_index=face_index, detect_every=detect_every, recognize=recognize)
    held: deque[Picture] = deque()  # frames read but not yet tracked: the next due detection's is among them
    ahead = detect_every if workers == 2 else 0
    tracker.pool = ThreadPoolExecutor(1, thread_name_prefix="face-search") if workers == 2 else None
    try:
        for frame in frames:
            held.append(frame)
            while len(held) > ahead:
                tracker.step(held.popleft())
                tracker.search_ahead(held)
                if frame_count and tracker.count % 10 == 0:
                    report(progress, "face tracking", tracker.count / frame_count)
        while held:
            tracker.step(held.popleft())
            tracker.search_ahead(held)
    finally:
        tracker.drop_searches()
        if tracker.pool is not None:
            tracker.pool.shutdown(wait=True)
    if tracker.count == 0:
        raise InputError("The video holds no frames; upload a video with pictures in it.")
    if not tracker.started:
        raise NoFaceError("No face was found in the video; use a video where the speaker's face is seen from the front.")
    report(progress, "face tracking", 1.0)
    return tracker.result(smooth_window)


# --- following ----------------------------------------------------------------------


def _eye_centre_and_distance(points: np.ndarray) -> tuple[np.ndarray, float]:
    left, right = points[_EYES[0]].mean(axis=0), points[_EYES[1]].mean(axis=0)
    return (left + right) / 2, float(np.linalg.norm(right - left))


def _shape_frame(points: np.ndarray) -> tuple[np.ndarray, float]:
    """A place and scale of the 68 points that move with the head: their mean, and their RMS spread."""
    centre = points.mean(axis=0)
    return centre, float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))


def _centre_width(box: tuple[float, float, float, float]) -> tuple[np.ndarray, float]:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]), max(1.0, box[2] - box[0])


def _shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled down to `size` (width, height), averaging pixels as INTER_AREA does.

    Every other row and column is skipped first while the picture stays twice the
    target size or more: INTER_AREA over a whole 1080p frame costs 5 ms, after the
    skipping a fraction of a millisecond, for the same thumbnail up to a pixel's noise.
    """
    step = max(1, min(image.shape[1] // (2 * size[0]), image.shape[0] // (2 * size[1])))
    if step > 1:
        image = image[::step, ::step]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _small(frame: Picture, size: tuple[int, int]) -> np.ndarray:
    """`frame` scaled down to `size` (width, height), in RGB."""
    return frame.small_rgb(size) if isinstance(frame, YuvFrame) else _shrink(frame, size)


def _rgb(frame: Picture) -> np.ndarray:
    """The whole frame in RGB (converted once per call for a YUV frame: only for rare steps such as recognition)."""
    return frame.rgb() if isinstance(frame, YuvFrame) else frame


def _landmarks(frame: Picture, box: tuple[int, int, int, int]) -> np.ndarray:
    """dlib's 68 points fitted in `box`; on a YUV frame only the region around the box is converted to RGB."""
    if not isinstance(frame, YuvFrame):
        return landmarks_in_box(frame, box)
    margin = int(LANDMARK_MARGIN * max(box[2] - box[0], box[3] - box[1]))
    region, (x0, y0) = frame.rgb_region(box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin)
    if region.size == 0:
        return landmarks_in_box(frame.rgb(), box)
    shifted = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
    return landmarks_in_box(region, shifted) + np.float32([x0, y0])


def _search(frame: Picture, factor: float, width: int, height: int
            ) -> list[tuple[tuple[float, float, float, float], np.ndarray]]:
    """The faces of `frame` searched on a copy scaled by `factor`: (detector box in full-frame pixels, 68 points
    fitted at full resolution in it), in `find_faces` order.

    It depends on nothing but its arguments, so it may run on another thread,
    ahead of the tracker, and give what the tracker would have found.
    """
    if factor < 1.0:
        small = _small(frame, (max(1, round(width * factor)), max(1, round(height * factor))))
    else:
        small = _rgb(frame)
    found = []
    for box in face_boxes(np.ascontiguousarray(small)):
        full = tuple(v / factor for v in box)
        found.append((full, _landmarks(frame, tuple(int(round(v)) for v in full))))  # type: ignore[arg-type]
    return found


class _Signature:
    """A frame's thumbnail and colour histogram, for finding cuts cheaply."""

    def __init__(self, frame: Picture) -> None:
        small = _small(frame, (_THUMB, _THUMB))
        self.thumb = small.astype(np.float32) / 255.0
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        colour = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
        light = cv2.calcHist([hsv], [2], None, [16], [0, 256]).ravel()
        hist = np.concatenate([colour, light])
        self.hist = hist / max(hist.sum(), 1.0)

    def is_cut_from(self, previous: "_Signature") -> bool:
        histogram = 0.5 * float(np.abs(self.hist - previous.hist).sum())
        thumbnail = float(np.abs(self.thumb - previous.thumb).mean())
        return histogram > CUT_HISTOGRAM or thumbnail > CUT_THUMBNAIL


class _Tracker:
    """The per-frame state of one pass; keeps only landmarks, never frames."""

    def __init__(self, face_index: int, detect_every: int, recognize: bool = True) -> None:
        self.face_index = face_index
        self.every = detect_every
        self.recognize = recognize
        self._identity: Optional[np.ndarray] = None  # mean descriptor of the views described so far
        self.identity_samples = 0  # views described
        self.identity_chips: list[np.ndarray] = []  # views taken, described only when recognition is needed
        self.detections = 0
        self.count = 0
        self.started = False
        self.width = self.height = 0
        self.points: list[Optional[np.ndarray]] = []
        self.detected: list[bool] = []
        self.cuts: list[int] = []
        self.signature: Optional[_Signature] = None
        self.last: Optional[np.ndarray] = None  # previous frame's points while followed
        self.known_box: Optional[tuple[float, float, float, float]] = None  # where the person was last seen
        # How the detector's box sits on this person's points (see `_carried_box`): sums
        # over the detections so far, starting from a prior worth `BOX_PRIOR_WEIGHT` of them.
        self.offset_sum = np.array(BOX_OFFSET) * BOX_PRIOR_WEIGHT
        self.size_sum = BOX_SIZE * BOX_PRIOR_WEIGHT
        self.box_weight = BOX_PRIOR_WEIGHT
        self.since_detection = 0
        self.doubt_since: Optional[int] = None
        self.confirmed = 0  # the last frame where a detection found the followed face
        self.cut_since_seen = False  # a cut came after the followed face was last seen
        # While the face is lost: the frames since the last search (at most
        # `detect_every` of them), to look back through once it is found again.
        self.unseen: deque[tuple[int, Picture]] = deque(maxlen=detect_every)
        self.lost_since = 0
        self.scale = 1.0
        # Searches of frames ahead on a second thread (see `search_ahead`): frame index -> (frame, scale, result).
        self.pool: Optional[ThreadPoolExecutor] = None
        self.searches: dict[int, tuple[Picture, float, Future]] = {}

    # -- one frame --

    def step(self, frame: Picture) -> None:
        if not isinstance(frame, YuvFrame):
            frame = np.ascontiguousarray(frame)
        index = self.count
        self.count += 1
        if index == 0:
            self.height, self.width = frame.shape[:2]
        elif frame.shape[:2] != (self.height, self.width):
            raise InputError(f"Frame {index} is {frame.shape[1]}x{frame.shape[0]}, not {self.width}x{self.height}; "
                             "all frames of a video must have one size.")
        signature = _Signature(frame)
        cut = self.signature is not None and signature.is_cut_from(self.signature)
        self.signature = signature
        if cut:
            self.cuts.append(index)
            self.cut_since_seen = True
            self.unseen.clear()  # frames of another shot
            if self.last is not None:
                self._lose(index)  # the previous shot's points say nothing about this one
        lost = self.started and self.last is None

        points: Optional[np.ndarray] = None
        detected = False
        if not self.started:
            if index % self.every == 0:  # the frames `first_faces(every=...)` looks at
                points, detected = self._start(frame), True
        elif self.last is None:
            # Lost (or a new shot): look on every frame for a while, then every `every` frames.
            if cut or index - self.lost_since < self.every or (index - self.lost_since) % self.every == 0:
                points, detected = self._find_again(frame, after_cut=self.cut_since_seen, lost=True), True
        else:
            # When a detection is due its points are taken if it finds the face, so the carried-over
            # fit is made only when it does not (or, between detections, first).
            due = self.since_detection + 1 >= self.every or self.doubt_since is not None
            points = None if due else self._follow(frame)
            if due or points is None:
                found, detected = self._find_again(frame, after_cut=False), True
                if found is not None:
                    points, self.doubt_since = found, None
                else:
                    if due:
                        points = self._follow(frame)
                    if self.doubt_since is None:
                        self.doubt_since = index  # nobody near the followed face: wait for confirmation
                if points is None or (self.doubt_since is not None and index - self.doubt_since >= self.every):
                    self._lose(index)
                    points = None

        if detected:
            self.since_detection = 0
        else:
            self.since_detection += 1
        self.points.append(points)
        self.detected.append(detected)
        if lost and points is not None:
            self._look_back(points)
        elif lost:
            self.unseen.append((index, frame.copy()))
        if points is not None:
            self.cut_since_seen = False
            self.last = points
            self.known_box = box_from_landmarks(points, self.width, self.height)
        elif self.last is not None:
            self._lose(index)

    def _look_back(self, points: np.ndarray) -> None:
        """The face was found again: look for it in the frames just before, kept since the last search.

        While lost, the face is searched only every `detect_every` frames after a
        while, so it may have come back a few frames before it was found: walk back
        from the frame it was found in, each frame searched near the face of the
        frame after it, until it is not there.
        """
        later = points
        while self.unseen:
            index, frame = self.unseen.pop()
            found = self._find_again(frame, after_cut=False, near=later)
            if found is None:
                break
            self.points[index], self.detected[index] = found, True
            later = found
        self.unseen.clear()

    def _lose(self, index: int) -> None:
        """The followed face is gone: forget the doubtful frames and look for it again.

        Doubtful are, when a detection missed it, the frames since it was last
        confirmed by one: a hand over the mouth leaves the eyes to fit, and the
        shape keeps following the hand.
        """
        start = index if self.doubt_since is None else self.confirmed + 1
        for doubtful in range(start, index):
            self.points[doubtful] = None
        self.doubt_since = None
        self.last = None
        self.lost_since = index

    # -- detection --

    def _detect(self, frame: Picture) -> list[tuple[tuple[float, float, float, float], np.ndarray]]:
        """Faces as (detector box, 68 points), found on a copy scaled for speed, fitted at full resolution."""
        for factor in (self.scale, min(1.0, 2.0 * self.scale)):
            found = self._searched(frame, factor)
            if found:
                return found
            if factor >= 1.0:
                break
        return []

    def _searched(self, frame: Picture, factor: float) -> list[tuple[tuple[float, float, float, float], np.ndarray]]:
        """`_search` of this frame at `factor`: the one made ahead on the second thread if it was made for exactly
        these, else made now."""
        made = self.searches.pop(self.count - 1, None)
        if made is not None:
            ahead_frame, ahead_factor, result = made
            if ahead_frame is frame and ahead_factor == factor:
                return result.result()
            result.cancel()
        return _search(frame, factor, self.width, self.height)

    def search_ahead(self, held: deque) -> None:
        """Start searching the held frame where the next detection will be due, if the face goes on being followed.

        While the face is followed with no doubt, a detection is due `detect_every`
        frames after the last one, at the scale that detection set; `held[k]` is
        frame `count + k`. Anything else (a lost face, a doubt, a refit that jumps,
        a cut) makes the tracker detect elsewhere or at another scale, and the
        search made ahead is simply not used.
        """
        for index in [i for i in self.searches if i < self.count]:
            self.searches.pop(index)[2].cancel()
        if self.pool is None or not self.started or self.last is None or self.doubt_since is not None:
            return
        ahead = self.every - 1 - self.since_detection
        if not 0 <= ahead < len(held):
            return
        index = self.count + ahead
        made = self.searches.get(index)
        if made is not None and made[1] == self.scale:
            return
        if made is not None:
            made[2].cancel()
        self.searches[index] = (held[ahead], self.scale,
                                self.pool.submit(_search, held[ahead], self.scale, self.width, self.height))

    def drop_searches(self) -> None:
        """Cancel the searches made ahead that were not used (the pass ended or failed), and wait for none."""
        for _, _, result in self.searches.values():
            result.cancel()
        self.searches.clear()

    def _adopt(self, frame: Picture, box: tuple[float, float, float, float], points: np.ndarray) -> np.ndarray:
        """Take a detection as the followed face: learn how its box sits on its points, and its detection scale.

        The points returned are refitted in the carried-over box, as on every other
        frame: fitted in the detector's own box they would jump at each detection,
        because that box wobbles by 5-8 % of its size from one detection to the next.
        """
        centre, spread = _shape_frame(points)
        box_centre, box_width = _centre_width(box)
        if spread > 1.0:
            self.offset_sum = self.offset_sum + (box_centre - centre) / spread
            self.size_sum += box_width / spread
            self.box_weight += 1
        self.scale = min(1.0, DETECT_FACE_PX / box_width)
        return self._refit(frame, points)

    def _start(self, frame: Picture) -> Optional[np.ndarray]:
        """The first frame with faces: number them as `faces_in_frame` does and take the chosen one."""
        faces = faces_in_frame(_rgb(frame))
        if not faces:
            return None
        if not 0 <= self.face_index < len(faces):
            found = f"{len(faces)} face" + ("" if len(faces) == 1 else "s")
            raise InputError(f"Face number {self.face_index} does not exist: {found} found in the video's first "
                             f"frame with faces (numbered 0 to {len(faces) - 1}, largest first).")
        face = faces[self.face_index]
        self.started = True
        self.confirmed = self.count - 1
        points = self._adopt(frame, tuple(float(v) for v in face.box), face.landmarks.astype(np.float32))
        self._learn_identity(frame, points)
        return points

    def _learn_identity(self, frame: Picture, points: np.ndarray) -> None:
        """Add this view of the followed person to the descriptor that recognises them after a cut.

        Only the face's picture is kept now; it is described (60-80 ms) when a cut or a
        lost face first asks who the person is, which a video without either never does.
        """
        if not self.recognize or len(self.identity_chips) >= IDENTITY_SAMPLES:
            return
        self.identity_chips.append(face_chip(_rgb(frame), points))

    @property
    def identity(self) -> Optional[np.ndarray]:
        """The mean face descriptor of the views of the followed person taken so far (None before the first)."""
        for chip in self.identity_chips[self.identity_samples:]:
            descriptor = chip_descriptor(chip)
            total = self._identity * self.identity_samples if self._identity is not None else 0.0
            self.identity_samples += 1
            self._identity = (total + descriptor) / self.identity_samples
        return self._identity

    def _find_again(self, frame: Picture, after_cut: bool, near: Optional[np.ndarray] = None,
                    lost: bool = False) -> Optional[np.ndarray]:
        """The detected face that is the followed person, or None.

        While the face is followed, the face nearest its last place and size
        within `MATCH_DISTANCE` and `MATCH_SIZE`: a person does not jump between
        frames of one shot. After a cut (`after_cut`: since the face was last
        seen, the shot changed) the person may be anywhere: with `recognize`, the
        face whose descriptor says it is the same person (nearest the last place
        among several); without, the nearest within the wider after-cut limits.
        When the face was `lost` within one shot, either: back at its place, or
        recognised elsewhere (or, without `recognize`, within the wider limits).
        `near`: points to look near instead of the last place the face was seen.
        """
        known_box = self.known_box if near is None else box_from_landmarks(near, self.width, self.height)
        assert known_box is not None
        known_centre, known_width = _centre_width(known_box)
        best, best_score = None, np.inf
        by_identity = (after_cut or lost) and self.identity is not None
        by_place = not after_cut or not by_identity
        wide = (after_cut or lost) and not by_identity
        reach = MATCH_DISTANCE_AFTER_CUT if wide else MATCH_DISTANCE
        size_limit = np.log(MATCH_SIZE ** 2 if wide else MATCH_SIZE)
        for box, points in self._detect(frame):
            found_box = box_from_landmarks(points, self.width, self.height)
            centre, width = _centre_width(found_box)
            distance = float(np.linalg.norm(centre - known_centre)) / known_width
            size = abs(np.log(width / known_width))
            placed = by_place and distance <= reach and size <= size_limit
            if not placed and not (
                by_identity and float(np.linalg.norm(face_descriptor(_rgb(frame), points) - self.identity)) < SAME_PERSON
            ):
                continue
            score = distance + size
            if score < best_score:
                best, best_score = (box, points), score
        if best is None:
            return None
        points = self._adopt(frame, *best)
        self.confirmed = max(self.confirmed, self.count - 1) if near is None else self.confirmed
        self.detections += 1
        if self.detections % IDENTITY_EVERY == 0:
            self._learn_identity(frame, points)
        return points

    # -- between detections --

    def _follow(self, frame: Picture) -> Optional[np.ndarray]:
        """Fit the points in the box carried over from the previous frame's points; None if the fit jumped."""
        assert self.last is not None
        points = self._refit(frame, self.last)
        before_centre, before_eyes = _eye_centre_and_distance(self.last)
        after_centre, after_eyes = _eye_centre_and_distance(points)
        if before_eyes < 1.0 or after_eyes < 1.0:
            return None
        ratio = after_eyes / before_eyes
        if not (1 / MAX_EYE_RATIO <= ratio <= MAX_EYE_RATIO):
            return None
        if float(np.linalg.norm(after_centre - before_centre)) > MAX_STEP * before_eyes:
            return None
        return points

    def _refit(self, frame: Picture, points: np.ndarray) -> np.ndarray:
        """The 68 points fitted in the box carried over from `points`, refitted until that box settles."""
        box = self._carried_box(points)
        for _ in range(REFITS):
            points = _landmarks(frame, box)
            box, before = self._carried_box(points), box
            if max(abs(a - b) for a, b in zip(box, before)) <= REFIT_PX:
                break
        return points

    def _carried_box(self, points: np.ndarray) -> tuple[int, int, int, int]:
        """The box a detector would draw around `points`, as learned at the last detection."""
        centre, spread = _shape_frame(points)
        box_centre = centre + self.offset_sum / self.box_weight * spread
        half = self.size_sum / self.box_weight * spread / 2
        box = (box_centre[0] - half, box_centre[1] - half, box_centre[0] + half, box_centre[1] + half)
        return tuple(int(round(v)) for v in box)  # type: ignore[return-value]

    # -- the result --

    def result(self, smooth_window: int) -> FaceTrack:
        count = self.count
        landmarks = np.full((count, 68, 2), np.nan, dtype=np.float32)
        for index, points in enumerate(self.points):
            if points is not None:
                landmarks[index] = points
        visible = ~np.isnan(landmarks[:, 0, 0])
        landmarks = smooth_landmarks(landmarks, visible, self.cuts, smooth_window)
        boxes = np.full((count, 4), np.nan, dtype=np.float32)
        for index in np.flatnonzero(visible):
            boxes[index] = box_from_landmarks(landmarks[index], self.width, self.height)
        return FaceTrack(landmarks=landmarks, boxes=boxes, visible=visible, cuts=list(self.cuts),
                         frame_count=count, width=self.width, height=self.height,
                         detected=np.array(self.detected, dtype=bool))


# --- smoothing ----------------------------------------------------------------------


def runs(visible: np.ndarray, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """(start, stop) of each run of visible frames that no cut splits."""
    breaks = np.zeros(len(visible) + 1, dtype=bool)
    for cut in cuts:
        if 0 <= cut <= len(visible):
            breaks[cut] = True
    spans, start = [], None
    for index in range(len(visible)):
        if start is not None and (not visible[index] or breaks[index]):
            spans.append((start, index))
            start = None
        if visible[index] and start is None:
            start = index
    if start is not None:
        spans.append((start, len(visible)))
    return spans


def smooth_landmarks(landmarks: np.ndarray, visible: np.ndarray, cuts: Iterable[int], window: int) -> np.ndarray:
    """Landmarks smoothed over time with a quadratic Savitzky-Golay filter, run by run.

    A quadratic fit over a short window removes the frame-to-frame wobble of the
    fitted points but follows a mouth that opens and closes within it (a moving
    average would flatten the peaks). Never across a cut or a frame where the face
    is not seen: those points belong to another picture. Runs shorter than the
    window get a shorter one; runs under 3 frames are left as they are.
    """
    from scipy.signal import savgol_filter

    out = landmarks.copy()
    if window < 3:
        return out
    for start, stop in runs(visible, cuts):
        length = stop - start
        size = min(window, length)
        size -= 1 - size % 2  # odd
        if size < 3:
            continue
        out[start:stop] = savgol_filter(landmarks[start:stop], size, 2, axis=0, mode="interp").astype(np.float32)
    return out
