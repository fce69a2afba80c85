"""A dub shows the speaker's own teeth: an open-mouth frame of the video is picked, aligned to the reference frame,
and the engine cuts its interior from it (avatar.video.open_mouth, mouth_interior.OpenMouth)."""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np
import pytest

from avatar.face.face import Face
from avatar.face.track import track_face
from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.builtin.mouth_interior import OPEN_WIDE
from avatar.talk.builtin.rig import BASES, OPEN_REACH
from avatar.video.io import open_video
from avatar.video.open_mouth import aligned_open_mouth, mouth_openings, pick_open_frame
from tests.conftest import FIXTURES

SIZE = 360


@functools.lru_cache(maxsize=None)
def _speaker(count: int = 75) -> tuple[np.ndarray, ...]:
    """The first 3 s of a real speaker, 360 px square."""
    frames = []
    with open_video(FIXTURES / "real_talk" / "woman_blue.mp4") as video:
        for index, frame in enumerate(video.frames()):
            if index == count:
                break
            frames.append(cv2.resize(frame, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    return tuple(frames)


@pytest.fixture(scope="module")
def track():
    return track_face(_speaker(), fps=25)


def _face(points: np.ndarray, shape: tuple[int, int]) -> Face:
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    return Face((max(0, x0), max(0, y0), min(shape[1], x1 + 1), min(shape[0], y1 + 1)), points, "track")


def test_the_frame_picked_is_open_wide_and_posed_as_the_reference(track):
    reference = int(np.argmin(mouth_openings(track.landmarks)))
    picked = pick_open_frame(track, reference)
    assert picked is not None and track.visible[picked]
    openings = mouth_openings(track.landmarks)
    assert openings[picked] >= OPEN_WIDE
    assert openings[picked] >= np.percentile(openings, 75)  # one of the open frames, not a half-closed one
    assert pick_open_frame(track, reference) == picked  # the same track gives the same frame


def test_a_speaker_who_never_opens_wide_gives_no_frame(track):
    closed = track.landmarks.copy()
    closed[:, 65:68] = closed[:, [63, 62, 61]]  # the lower inner lip on the upper one in every frame
    still = dataclasses.replace(track, landmarks=closed)
    assert pick_open_frame(still, 0) is None


def test_alignment_puts_the_frames_skull_on_the_reference(track):
    index = pick_open_frame(track, 0)
    frame, points = _speaker()[index], track.landmarks[index]
    turn = cv2.getRotationMatrix2D((180.0, 180.0), 8.0, 1.1)  # the same frame turned and zoomed, as a head moves
    moved_frame = cv2.warpAffine(frame, turn, (SIZE, SIZE), borderMode=cv2.BORDER_REPLICATE)
    moved_points = points @ turn[:, :2].T + turn[:, 2]
    aligned = aligned_open_mouth(moved_frame, moved_points, points, frame.shape[:2])
    assert np.abs(aligned.landmarks - points).max() < 0.05
    inner = (slice(60, 300), slice(60, 300))
    assert np.abs(aligned.image[inner].astype(int) - frame[inner]).mean() < 4.0


def test_the_engine_opens_the_reference_onto_the_speakers_own_interior(track):
    openings = mouth_openings(track.landmarks)
    reference = int(np.argmin(openings))
    picked = pick_open_frame(track, reference)
    frames = _speaker()
    image, points = frames[reference], track.landmarks[reference]
    other = aligned_open_mouth(frames[picked], track.landmarks[picked], points, image.shape[:2])
    engine = BuiltinEngine()
    own = engine.prepare(image, _face(points, image.shape), other)
    drawn = engine.prepare(image, _face(points, image.shape))
    assert own.interior.source == "open mouth" and drawn.interior.source == "synthesized"
    # Paint the open frame's interior green: whatever of it the engine shows between the lips is then plain to see.
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(other.landmarks[60:68]).astype(np.int32)], 1)
    green = other.image.copy()
    green[inside.astype(bool)] = (0, 255, 0)
    painted = engine.prepare(image, _face(points, image.shape), dataclasses.replace(other, image=green))
    weights = np.zeros((1, len(BASES)), np.float32)
    weights[0, BASES.index("open")] = 1.0 / OPEN_REACH  # the jaw and lips where "open" 1 took them before calibration

    def greens(prepared) -> int:
        frame = next(iter(engine.render_weights(image, prepared, weights))).astype(int)
        return int(np.sum((frame[..., 1] > 180) & (frame[..., 0] < 90) & (frame[..., 2] < 90)))

    assert greens(drawn) == 0 and greens(own) == 0
    assert greens(painted) > 0.3 * inside.sum()
    # The interior's source changes nothing but the interior: with the lips together, the frame is the same but
    # for the seam where they meet (where the interior may show through by a fraction of a pixel).
    still = np.zeros((1, len(BASES)), np.float32)
    difference = np.abs(next(iter(engine.render_weights(image, own, still))).astype(int)
                        - next(iter(engine.render_weights(image, drawn, still)))).max(axis=-1)
    seam = np.zeros(image.shape[:2], np.uint8)
    cv2.polylines(seam, [np.round(own.rig.landmarks[60:68] + own.rig.crop[:2]).astype(np.int32)], True, 1)
    seam = cv2.dilate(seam, np.ones((5, 5), np.uint8)).astype(bool)
    assert difference[~seam].max() == 0 and difference.max() <= 3


def test_a_dub_takes_the_speakers_teeth_unless_drawn_ones_are_asked_for(tmp_path):
    from avatar.video.dub import dub_video
    from avatar.video.dub_options import DubOptions
    from tests.dub_clips import speaking_clip

    clip = speaking_clip(tmp_path / "speaker.mp4", size=200)
    own = dub_video(clip, text="Hello there.", options=DubOptions(fit="trim"), job_dir=tmp_path / "own")
    drawn = dub_video(clip, text="Hello there.", options=DubOptions(fit="trim", teeth="drawn"),
                      job_dir=tmp_path / "drawn")
    assert own.manifest["video"]["teeth_frame"] is not None and own.manifest["options"]["teeth"] == "video"
    assert drawn.manifest["video"]["teeth_frame"] is None
    assert own.video_path.read_bytes() != drawn.video_path.read_bytes()
