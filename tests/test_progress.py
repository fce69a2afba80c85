"""Progress reporting helpers, including a queued job's place in line."""

from __future__ import annotations

import threading
import time

from avatar.models.job_queue import JobQueue
from avatar.progress import report, scaled, waiting_in_line


def test_scaled_maps_a_subtask_into_its_share():
    seen = []
    sub = scaled(lambda stage, fraction: seen.append((stage, fraction)), 0.2, 0.6)
    sub("voice", 0.5)
    report(sub, "voice", 2.0)  # clamped to the sub-task's end
    assert seen == [("voice", 0.4), ("voice", 0.6)]


def test_waiting_job_reports_its_place_in_line():
    queue, seen = JobQueue(1), []
    holding, release = threading.Event(), threading.Event()

    def first_job():
        with queue.slot():
            holding.set()
            release.wait(10)

    def second_job():
        with queue.slot(on_wait=waiting_in_line(lambda stage, fraction: seen.append(stage))):
            pass

    first = threading.Thread(target=first_job)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=second_job)
    second.start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    first.join(10)
    second.join(10)
    assert seen and "1 in line" in seen[0]
