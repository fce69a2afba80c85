"""Live sessions in real time: `python -m benchmarks.live` (in-process, no browser or network).

A session of a default avatar is sent through its real WebRTC tracks
(`avatar.live.tracks`), read as fast as they give frames, as a peer connection
would before encoding. Measured on the wall clock:

- time to the first spoken frame: from `say()` of one sentence to the frame where
  its sound starts being due, and to that frame being produced by the video track
  (median and p95 over --sentences sentences, each after a moment of idling);
- smoothness over --seconds of continuous speech: frames delivered per second,
  the largest gap between two frames, frames skipped because the renderer fell
  behind;
- audio-video offset: how late audio and video leave their track against their
  own due time, at the start and at the end of that speech (the drift is the
  change); both carry pts of the same clock, so in the stream the offset is 0 by
  construction;
- stop to idle: from `stop()` to the first delivered frame with the mouth at rest.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from dataclasses import dataclass, field

import numpy as np

from avatar.live.session import MOUTH, LiveSettings, open_session
from avatar.live.tracks import VIDEO_CLOCK, LiveAudioTrack, LiveVideoTrack

SENTENCES = [
    "Hello, and welcome to the studio.",
    "Today we will look at three simple ideas.",
    "The first one is about keeping things small.",
    "Can you hear me clearly from where you are?",
    "Let me show you how this works in practice.",
    "It only takes a few seconds to get started.",
    "Most people find the second step the easiest.",
    "Remember to save your work before you leave.",
    "That was quicker than I expected, wasn't it?",
    "Now we can move on to the next example.",
    "The weather has been lovely all week.",
    "Please type your question in the box below.",
    "I will answer as soon as I have read it.",
    "Thank you for your patience while we wait.",
    "This sentence is a little longer than the others, on purpose.",
    "Numbers like 42 and 1999 are read out as words.",
    "Short one.",
    "What would you like to talk about next?",
    "Every frame you see is made on this computer.",
    "Goodbye for now, and see you soon.",
]
PARAGRAPH = " ".join(SENTENCES)


@dataclass
class Delivery:
    """What the tracks handed out and when (wall seconds on the session's clock)."""

    video: list[tuple[int, float]] = field(default_factory=list)  # (frame index, time produced)
    audio: list[tuple[int, float]] = field(default_factory=list)  # (first sample, time produced)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


async def _pull(track, into: list, index, session) -> None:
    while not session.closed:
        try:
            frame = await track.recv()
        except Exception:
            return
        into.append((index(frame), session.now()))


async def run(sentences: int, seconds: float, stops: int, size: int) -> dict[str, float]:
    session = await asyncio.to_thread(open_session, "maya", LiveSettings(), size)
    await asyncio.to_thread(session.voice.load)
    fps = session.settings.fps
    got = Delivery()
    video, audio = LiveVideoTrack(session), LiveAudioTrack(session)
    pullers = [asyncio.ensure_future(_pull(video, got.video, lambda f: int(f.pts * fps // VIDEO_CLOCK), session)),
               asyncio.ensure_future(_pull(audio, got.audio, lambda f: int(f.pts), session))]
    await asyncio.sleep(1.0)

    async def delivered(frame: int) -> float:
        """When the video track produced `frame` (or the first after it, had it skipped)."""
        while not got.video or got.video[-1][0] < frame:
            await asyncio.sleep(0.005)
        return next(t for n, t in got.video if n >= frame)

    # Time to the first spoken frame.
    due, produced = [], []
    for text in (SENTENCES * 2)[:sentences]:
        said_at = session.now()
        session.say(text)
        await asyncio.to_thread(session.wait_placed)
        start = session.placed[-1].start
        first = session.frame_at(start)
        due.append(start - said_at)
        produced.append(await delivered(first) - said_at)
        await asyncio.sleep(0.6)
        session.stop()
        await asyncio.sleep(0.6)

    # Continuous speech.
    begin = session.now()
    mark_video, mark_audio = len(got.video), len(got.audio)
    while session.now() - begin < seconds:
        if len([line for line in session.placed if line.end > session.now()]) < 3:
            session.say(PARAGRAPH[:1000])
        await asyncio.sleep(0.05)
    end = session.now()
    frames = [t for n, t in got.video[mark_video:] if begin + 1 <= t <= end]
    gaps = np.diff(frames)
    indices = [n for n, t in got.video[mark_video:]]
    skipped = int(sum(max(0, b - a - 1) for a, b in zip(indices, indices[1:])))
    rate = session.settings.sample_rate

    def lateness(items, per_second, t0, t1):
        return statistics.median(t - n / per_second for n, t in items if t0 <= t <= t1)

    first_av = (lateness(got.audio[mark_audio:], rate, begin + 1, begin + 6)
                - lateness(got.video[mark_video:], fps, begin + 1, begin + 6))
    last_av = (lateness(got.audio[mark_audio:], rate, end - 5, end)
               - lateness(got.video[mark_video:], fps, end - 5, end))
    session.stop()
    await asyncio.sleep(1.0)

    # Stop to idle.
    stop_latency = []
    for text in SENTENCES[:stops]:
        session.say(text)
        await asyncio.to_thread(session.wait_placed)
        line = session.placed[-1]
        while session.now() < line.start + 0.5 * (line.end - line.start):
            await asyncio.sleep(0.005)
        stopped_at = session.now()
        session.stop()
        mark = len(got.video)
        while True:
            await asyncio.sleep(0.005)
            rest = [(n, t) for n, t in got.video[mark:]
                    if np.abs(session.weights(range(n, n + 1))[0, MOUTH]).max() < 0.02]
            if rest:
                stop_latency.append(rest[0][1] - stopped_at)
                break
        await asyncio.sleep(0.5)

    video.stop()
    audio.stop()
    session.close()
    await asyncio.gather(*pullers)
    return {
        "first_due_p50": statistics.median(due), "first_due_p95": percentile(due, 0.95),
        "first_frame_p50": statistics.median(produced), "first_frame_p95": percentile(produced, 0.95),
        "fps": len(frames) / max(frames[-1] - frames[0], 1e-9), "max_gap": float(gaps.max()), "skipped": skipped,
        "av_start": first_av, "av_end": last_av, "drift": last_av - first_av, "seconds": end - begin,
        "stop_p50": statistics.median(stop_latency), "stop_max": max(stop_latency),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stops", type=int, default=10)
    parser.add_argument("--size", type=int, default=512, help="long side of the video")
    args = parser.parse_args()
    r = asyncio.run(run(args.sentences, args.seconds, args.stops, args.size))
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print(f"Live session, {args.size} px, 25 fps, 48 kHz, in-process tracks (no encoding or network)\n")
    print("| measure | value | target (issue 23) |")
    print("|---|---|---|")
    print(f"| say() to first spoken frame due, median / p95 ({args.sentences} sentences) | "
          f"{ms(r['first_due_p50'])} / {ms(r['first_due_p95'])} | <= 800 / 1200 ms |")
    print(f"| say() to first spoken frame produced, median / p95 | "
          f"{ms(r['first_frame_p50'])} / {ms(r['first_frame_p95'])} | <= 800 / 1200 ms |")
    print(f"| frames delivered per second ({r['seconds']:.0f} s of speech) | {r['fps']:.2f} | >= 24 |")
    print(f"| largest gap between frames | {ms(r['max_gap'])} | <= 120 ms |")
    print(f"| frames skipped (renderer behind) | {r['skipped']} | 0 |")
    print(f"| audio-video delivery offset, start -> end (drift) | {ms(r['av_start'])} -> {ms(r['av_end'])} "
          f"({ms(r['drift'])}) | drift <= 40 ms |")
    print(f"| stop() to first idle frame, median / max ({args.stops} stops) | "
          f"{ms(r['stop_p50'])} / {ms(r['stop_max'])} | <= 250 ms |")


if __name__ == "__main__":
    main()
