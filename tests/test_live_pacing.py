"""The live pacing trace (each frame's due and send times beside the collector and the voice), its summary, and the
heap frozen out of full collections when a live session starts."""

from __future__ import annotations

import gc

from avatar.live.heap import release_heap, settle_heap
from avatar.live.pacing import PacingTrace
from benchmarks.live_pacing import LATE_S, read, summarize


def test_the_trace_writes_frames_and_full_collections_as_json_lines(tmp_path):
    path = tmp_path / "trace.jsonl"
    trace = PacingTrace(str(path))
    try:
        trace.event("frame", t=10.0, n=0, due=0.0, called=0.0, woke=0.0, done=0.01, skipped=0, start=10.0)
        gc.collect()
    finally:
        trace.close()
    trace.event("frame", n=1)  # after close: nothing is written
    events = read(path)
    kinds = [e["e"] for e in events]
    assert kinds[0] == "clock" and kinds.count("frame") == 1
    assert any(e["e"] == "gc" and e["gen"] == 2 and e["s"] >= 0 for e in events)
    assert trace._on_gc not in gc.callbacks


def _frame(n: int, late: float, skipped: int = 0) -> dict:
    due = n / 25
    return {"e": "frame", "t": 100.0 + due + late, "n": n, "due": due, "called": due, "woke": due, "done": due + late,
            "skipped": skipped, "start": 100.0}


def test_the_summary_counts_late_frames_and_those_a_full_collection_made_late():
    events = [_frame(n, 0.005) for n in range(100)]
    events[50] = _frame(50, 0.25)  # stopped by the collection below
    events[51] = _frame(55, 0.01, skipped=4)  # the track skipped what it missed
    events[80] = _frame(80, 2 * LATE_S)  # late on its own
    events += [{"e": "gc", "t": 102.0, "gen": 2, "s": 0.24}, {"e": "gc", "t": 103.0, "gen": 0, "s": 0.001},
               {"e": "stall", "t": 102.0, "s": 0.23}, {"e": "voice", "t": 101.0, "s": 0.2, "chars": 10, "sound": 1.0}]
    r = summarize(events)
    assert (r.frames, r.skipped, r.late, r.late_in_a_collection) == (100, 4, 2, 2)
    assert r.full_collections == [(2.0, 0.24)] and r.late_per_minute == [2]
    assert (r.stalls, r.longest_stall, r.voice_sentences) == (1, 0.23, 1)


def test_settling_the_heap_freezes_what_the_process_holds():
    kept = [[n] for n in range(10)]  # lists are tracked by the collector
    try:
        settled = settle_heap()
        assert settled.frozen > 1000
        collected = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
        assert not any(id(o) in collected for o in kept)  # frozen: no later collection walks them
    finally:
        release_heap()
    assert gc.get_freeze_count() == 0 and all(id(o) in {id(o) for o in gc.get_objects(2)} for o in kept)


def test_the_heap_stays_frozen_until_the_last_of_several_sessions_ends():
    """A page's session and an API session may stream in one process: the first to end must not thaw the other's."""
    try:
        settle_heap()
        settle_heap()
        release_heap()
        assert gc.get_freeze_count() > 0
    finally:
        release_heap()
    assert gc.get_freeze_count() == 0
    release_heap()  # one release too many does not go below no session
    settle_heap()
    try:
        assert gc.get_freeze_count() > 0
    finally:
        release_heap()
    assert gc.get_freeze_count() == 0
