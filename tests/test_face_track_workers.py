"""Tracking on two threads gives exactly what one gives, and dlib's models are safe to use from several threads.

`track_face(workers=2)` searches the frame of the next due detection on a second
thread; the tracker uses such a search only when it was made for the very frame
and scale it asks for, so the landmarks must not depend on the threads' timing.
The clips cover what changes the plan of detections: a cut to another person, a
cut to the same person elsewhere, black frames, a hidden mouth, and the
decoder's YUV frames the dub tracks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
import numpy as np
import pytest

from avatar.face import detect
from avatar.face.detect import face_boxes, find_faces, landmarks_in_box
from avatar.face.track import FaceTrack, track_face
from tests.test_face_track import CLIPS, SIZE, _clip

pytestmark = pytest.mark.skipif(not CLIPS.is_dir(), reason="real_talk clips not present")


def _same(one: FaceTrack, two: FaceTrack) -> None:
    assert np.array_equal(one.landmarks, two.landmarks, equal_nan=True)
    assert np.array_equal(one.boxes, two.boxes, equal_nan=True)
    assert np.array_equal(one.visible, two.visible)
    assert np.array_equal(one.detected, two.detected)
    assert one.cuts == two.cuts


def _cut_to_another_person() -> list[np.ndarray]:
    return list(_clip("man_map.mp4", 0, 30) + _clip("woman_blue.mp4", 0, 30))


def _cut_to_the_same_person_elsewhere() -> list[np.ndarray]:
    clip = _clip("woman_glasses.mp4", 0, 40)
    third = SIZE // 3
    wide = []
    for frame in clip[20:]:
        canvas = np.full_like(frame, 40)
        canvas[SIZE - third:, SIZE - third:] = cv2.resize(frame, (third, third), interpolation=cv2.INTER_AREA)
        wide.append(canvas)
    return list(clip[:20]) + wide


def _black_frames() -> list[np.ndarray]:
    clip = _clip("woman_glasses.mp4", 0, 40)
    return list(clip[:20]) + [np.zeros_like(clip[0])] * 8 + list(clip[20:])


def _hidden_mouth() -> list[np.ndarray]:
    frames = list(_clip("man_map.mp4", 0, 50))
    for index in range(22, 32):
        frames[index] = frames[index].copy()
        frames[index][150:300, 110:250] = (180, 140, 120)
    return frames


@pytest.mark.parametrize("make", [_cut_to_another_person, _cut_to_the_same_person_elsewhere, _black_frames,
                                  _hidden_mouth])
@pytest.mark.parametrize("recognize", [True, False])
def test_two_workers_give_exactly_the_landmarks_of_one(make, recognize):
    frames = make()
    one = track_face(iter(frames), fps=25, recognize=recognize, workers=1)
    two = track_face(iter(frames), fps=25, recognize=recognize, workers=2)
    _same(one, two)


def test_two_workers_on_decoded_yuv_frames_and_every_frame_detected():
    from avatar.video.io import open_video

    with open_video(CLIPS / "woman_glasses.mp4") as video:
        frames = [frame for _, frame in zip(range(60), video.yuv_frames())]
    for every in (5, 2, 1):
        one = track_face(iter(frames), fps=25, detect_every=every, workers=1)
        two = track_face(iter(frames), fps=25, detect_every=every, workers=2)
        _same(one, two)
        assert one.visible.all()


def test_workers_must_be_one_or_two():
    with pytest.raises(ValueError):
        track_face(iter(_clip("woman_glasses.mp4", 0, 5)), workers=3)


def test_detection_and_landmarks_from_several_threads_match_one_thread(monkeypatch):
    left, right = _clip("man_map.mp4", 0, 8, 300), _clip("woman_glasses.mp4", 0, 8, 300)
    images = [np.ascontiguousarray(np.hstack([a, b])) for a, b in zip(left, right)]
    # Distinct images (a pixel changed), each searched on several threads at once.
    variants = []
    for round_ in range(3):
        for image in images:
            copy = image.copy()
            copy[0, 0, 0] = round_
            variants.append(copy)
    expected = [(face_boxes(image), [(f.box, f.landmarks) for f in find_faces(image)],
                 landmarks_in_box(image, (40, 40, 260, 260))) for image in variants]
    monkeypatch.setattr(detect, "_cache", OrderedDict())  # every thread detects and fits for itself
    results: dict[int, list] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(worker: int) -> None:
        try:
            start.wait()
            order = variants[worker::4] if worker % 2 else variants
            found = []
            for image in order:
                found.append((face_boxes(image), [(f.box, f.landmarks) for f in find_faces(image)],
                              landmarks_in_box(image, (40, 40, 260, 260))))
            results[worker] = found
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for worker, found in results.items():
        wanted = expected[worker::4] if worker % 2 else expected
        assert len(found) == len(wanted)
        for (boxes, faces, points), (boxes_1, faces_1, points_1) in zip(found, wanted):
            assert boxes == boxes_1 and len(boxes) == 2
            assert [box for box, _ in faces] == [box for box, _ in faces_1]
            for (_, a), (_, b) in zip(faces, faces_1):
                assert np.array_equal(a, b)
            assert np.array_equal(points, points_1)
