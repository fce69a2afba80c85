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
- stop to idle: from `stop()` to the first delivered frame with the mouth at rest;
- sessions: how many this machine keeps in real time (`avatar.live.capacity.measure`).

`--minutes N` measures a long session instead, end to end: the live API in this
process (`POST /v1/live`, `/say`) and a real aiortc client peer that decodes what
arrives over WebRTC (VP8 video, Opus audio), with the avatar speaking without a
break. It reports the frames received per second, the largest gap between two
received frames, and the audio-video offset drift: how much later audio arrives
than video, compared by their RTP timestamps, over the last 30 s against the
first 30 s (each track's RTP clock starts at a random value, so the offset itself
is known up to a constant; its change is the drift).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from avatar.live.session import MOUTH, VOICE_THREADS, LiveSettings, open_session
from avatar.speech.piper_voice import load_engine
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
    await asyncio.to_thread(load_engine, VOICE_THREADS)
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


@dataclass
class Received:
    """What the client peer decoded: (RTP timestamp unwrapped, arrival time) per frame, per track."""

    video: list[tuple[int, float]] = field(default_factory=list)
    audio: list[tuple[int, float]] = field(default_factory=list)


async def _receive(track, into: list) -> None:
    from aiortc.mediastreams import MediaStreamError

    last, offset = None, 0
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if last is not None and frame.pts < last - 2**31:  # the 32-bit RTP clock wrapped
            offset += 2**32
        last = frame.pts
        into.append((frame.pts + offset, time.monotonic()))


async def run_long(minutes: float, size: int) -> dict[str, float]:
    """A session spoken to without a break for `minutes`, received by an aiortc client over the live API."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from avatar.live.capacity import LiveCapacity
    from avatar.live.manager import LiveSessions
    from avatar.live.routes import live_router

    app = FastAPI()
    sessions = LiveSessions(LiveCapacity(1), LiveSettings(idle_timeout=600))
    app.include_router(live_router(lambda: "benchmark", sessions))
    got = Received()
    with TestClient(app) as client:
        peer = RTCPeerConnection()
        peer.addTransceiver("video", direction="recvonly")
        peer.addTransceiver("audio", direction="recvonly")
        readers: list[asyncio.Task] = []
        peer.on("track", lambda track: readers.append(asyncio.ensure_future(
            _receive(track, got.video if track.kind == "video" else got.audio))))
        await peer.setLocalDescription(await peer.createOffer())
        answer = (await asyncio.to_thread(client.post, "/v1/live", json={
            "sdp": peer.localDescription.sdp, "type": "offer", "avatar": "maya"})).json()
        await peer.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        session_id = answer["id"]
        await asyncio.sleep(3.0)  # connected, idling
        begin = time.monotonic()
        sent = 0
        while time.monotonic() - begin < minutes * 60:
            state = (await asyncio.to_thread(client.get, f"/v1/live/{session_id}")).json()
            if sent - len(state["transcript"]) < 6:  # keep a few sentences queued: speech without a break
                said = await asyncio.to_thread(client.post, f"/v1/live/{session_id}/say", json={"text": PARAGRAPH[:1000]})
                sent += len(said.json()["sentences"])
            await asyncio.sleep(2.0)
        end = time.monotonic()
        state = (await asyncio.to_thread(client.get, f"/v1/live/{session_id}")).json()
        await asyncio.to_thread(client.delete, f"/v1/live/{session_id}")
        await peer.close()
        await asyncio.gather(*readers)
    video = [(pts, t) for pts, t in got.video if begin <= t <= end]
    arrivals = np.array([t for _, t in video])

    def lateness(items, clock, t0, t1):
        base = items[0][0]
        return statistics.median(t - (pts - base) / clock for pts, t in items if t0 <= t <= t1)

    def offset(t0, t1):
        return lateness(got.audio, 48000, t0, t1) - lateness(got.video, VIDEO_CLOCK, t0, t1)

    first, last = offset(begin, begin + 30), offset(end - 30, end)
    return {"seconds": end - begin, "fps": (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]),
            "max_gap": float(np.diff(arrivals).max()), "gaps_over_120ms": int((np.diff(arrivals) > 0.12).sum()),
            "av_first": first, "av_last": last, "drift": last - first, "sentences": len(state["transcript"]),
            "interrupted": sum(line["interrupted"] for line in state["transcript"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stops", type=int, default=10)
    parser.add_argument("--size", type=int, default=512, help="long side of the video")
    parser.add_argument("--minutes", type=float, help="measure one long session this many minutes through the API and "
                        "an aiortc client instead")
    args = parser.parse_args()
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    if args.minutes:
        r = asyncio.run(run_long(args.minutes, args.size))
        print(f"Live session through the API and WebRTC (aiortc client, VP8 + Opus), {args.size} px, 25 fps, "
              f"{r['seconds'] / 60:.1f} min of continuous speech ({r['sentences']} sentences)\n")
        print("| measure | value | target (issue 23) |")
        print("|---|---|---|")
        print(f"| frames received per second | {r['fps']:.2f} | >= 24 |")
        print(f"| largest gap between received frames (gaps over 120 ms) | {ms(r['max_gap'])} "
              f"({r['gaps_over_120ms']}) | <= 120 ms |")
        print(f"| audio-video arrival offset drift, first 30 s -> last 30 s | {ms(r['drift'])} | <= 40 ms |")
        return
    from avatar.live.capacity import measure

    r = asyncio.run(run(args.sentences, args.seconds, args.stops, args.size))
    found = measure()
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
    print(f"| live sessions kept in real time (measured: {found.fps_per_core:g} frames/s per core, {found.cores} "
          f"cores) | {found.sessions} | |")


if __name__ == "__main__":
    main()
