"""Read a live pacing trace: `python -m benchmarks.live_pacing TRACE` (written with AVATAR_LIVE_TRACE=TRACE).

Says how late the server handed out its video frames (after their due time, before
VP8 encoding), how many it skipped, and what ran when they were late: full garbage
collections, moments the process stood still (the trace's watcher thread woke late),
the voice speaking a sentence, and the encoder. Run the app or a benchmark with the
variable set, e.g. `AVATAR_LIVE_TRACE=/tmp/live.jsonl python -m benchmarks.live_browser`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LATE_S = 0.06
"""A frame handed out more than this after its due time is counted late (one and a half frames at 25 fps)."""


@dataclass
class Pacing:
    """A trace's summary; times in seconds, `late_per_minute` counted from the first frame."""

    frames: int
    skipped: int
    rendered_again: int
    lateness: dict[str, float]
    late: int
    late_per_minute: list[int]
    full_collections: list[tuple[float, float]]  # (seconds from the first frame, pause)
    stalls: int
    longest_stall: float
    voice_sentences: int
    voice_median: float
    encode_median: float
    late_in_a_collection: int = 0
    load: list[float] = field(default_factory=list)


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize(events: list[dict[str, Any]]) -> Pacing:
    """What the trace says about the frames and what ran beside them."""
    frames = [e for e in events if e["e"] == "frame"]
    if not frames:
        raise SystemExit("The trace has no video frames: was a live session streaming while it was written?")
    first = frames[0]["t"]
    lateness = np.array([e["done"] - e["due"] for e in frames])
    minutes = int((frames[-1]["t"] - first) // 60) + 1
    per_minute = [0] * minutes
    for e, late in zip(frames, lateness):
        if late > LATE_S:
            per_minute[int((e["t"] - first) // 60)] += 1
    collections = [(e["t"], e["s"]) for e in events if e["e"] == "gc" and e.get("gen") == 2]
    in_collection = sum(1 for e, late in zip(frames, lateness) if (late > LATE_S or e.get("skipped")) and any(
        start <= e["start"] + e["due"] + late and e["start"] + e["due"] <= start + pause + LATE_S
        for start, pause in collections))
    stalls = [e["s"] for e in events if e["e"] == "stall"]
    voice = [e["s"] for e in events if e["e"] == "voice"]
    encode = [e["s"] for e in events if e["e"] == "encode"]
    return Pacing(
        frames=len(frames), skipped=sum(e.get("skipped", 0) for e in frames),
        rendered_again=max(e.get("again", 0) for e in frames),
        lateness={f"p{p}": float(np.percentile(lateness, p)) for p in (50, 90, 99, 99.9)} | {
            "max": float(lateness.max())},
        late=int((lateness > LATE_S).sum()), late_per_minute=per_minute,
        full_collections=[(round(start - first, 1), pause) for start, pause in collections],
        stalls=len(stalls), longest_stall=max(stalls, default=0.0),
        voice_sentences=len(voice), voice_median=float(np.median(voice)) if voice else 0.0,
        encode_median=float(np.median(encode)) if encode else 0.0, late_in_a_collection=in_collection,
        load=[e["avg"] for e in events if e["e"] == "load"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path)
    r = summarize(read(parser.parse_args().trace))
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print(f"{r.frames} frames handed out, {r.skipped} skipped, {r.rendered_again} rendered again after a change")
    print("lateness after the due time: " + ", ".join(f"{k} {ms(v)}" for k, v in r.lateness.items()))
    print(f"over {ms(LATE_S)} late: {r.late}; late or after a skip during a full garbage collection: "
          f"{r.late_in_a_collection}; "
          f"per minute: {r.late_per_minute}")
    print(f"full garbage collections: {len(r.full_collections)}, "
          + ", ".join(f"at {t:.0f} s {ms(s)}" for t, s in r.full_collections))
    print(f"moments the process stood still over 20 ms: {r.stalls}, longest {ms(r.longest_stall)}")
    print(f"voice: {r.voice_sentences} sentences, median {ms(r.voice_median)}; VP8 encode median {ms(r.encode_median)}")
    if r.load:
        print(f"load average: {min(r.load):.1f} to {max(r.load):.1f}")


if __name__ == "__main__":
    main()
