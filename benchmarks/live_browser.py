"""The Live page in real Chromium: `python -m benchmarks.live_browser [--minutes 1] [--sentences 10] [--stops 10]`.

Starts the app with `streamlit run`, opens the Live page in Debian's Chromium
(Playwright, headless), presses Start and types into the player as a person does
(the sentence box and Stop are in the player's frame, beside its video, and go to
the session over the connection's data channel). Everything is measured where the
viewer is, in the player's frame, on one clock (`performance.timeOrigin +
performance.now()`):

- Enter to the first frame of speech shown: the time the Enter key went down, to
  the display time (`requestVideoFrameCallback`'s `expectedDisplayTime`) of the
  first frame whose mouth is further from where it was just before Enter than the
  idle face ever wandered (its mouth region, from the portrait's landmarks, read
  on a 32x16 canvas); and to the sound rising (the received sound itself, as the
  browser plays it out: a Web Audio analyser on the player's stream, its power
  over the last 10.7 ms read every 10 ms). Each includes the data channel's
  trip, the voice, the sentence's start lead on the clock, encoding, the network and
  the jitter buffer.
- Smoothness over --minutes of continuous speech: frames shown per second and the
  largest gap between two shown frames (presentation callbacks), frames the
  browser dropped (getStats).
- Audio-video offset: the difference of the audio and video jitter-buffer delays
  (getStats, over the first and the last 30 s of that speech) and its drift.
- Stop to idle: the Stop button's click (the click event's time in the player) to
  the sound falling silent (for at least half a second) and to the first of four
  frames in a row whose mouth is back where it rested before the sentence (as
  close as the idle face stays).

The sound used to be read from getStats' `totalAudioEnergy`, but the browser
derives that from a level meter that holds a peak for 100 ms and lets it decay by
a factor of four each 100 ms: speech read as going on about 0.3 s after the samples
played were already silent, which made Stop look that much slower.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from benchmarks.live import PARAGRAPH, SENTENCES, percentile

ROOT = Path(__file__).resolve().parent.parent
PLAYER = "live_player"  # in the URL of the player's frame (the page's component)
LATE_GAP_S = 0.12  # a gap between shown frames longer than this is listed (when it happened, what the browser says)
SPEECH_CHUNK_S = 40.0  # a new paragraph (about a minute of speech) is queued this often during continuous speech

# Runs in the player's frame: keeps every shown frame (display time, mouth change) and the sound's level every 5 ms.
MONITOR = """
(mouth) => {
  const video = document.querySelector('video');
  const m = window.__liveMonitor = {frames: [], audio: [], keepCrops: true};
  const clock = () => performance.timeOrigin + performance.now();
  const canvas = document.createElement('canvas');
  canvas.width = 32; canvas.height = 16;
  const draw = canvas.getContext('2d', {willReadFrequently: true});
  let previous = null;
  const onFrame = (now, meta) => {
    draw.drawImage(video, mouth[0], mouth[1], mouth[2], mouth[3], 0, 0, 32, 16);
    const pixels = draw.getImageData(0, 0, 32, 16).data;
    let change = 0;
    if (previous) for (let i = 0; i < pixels.length; i += 4)
      change += Math.abs(pixels[i] - previous[i]) + Math.abs(pixels[i + 1] - previous[i + 1])
        + Math.abs(pixels[i + 2] - previous[i + 2]);
    previous = pixels;
    const gray = m.keepCrops ? Array.from({length: 512}, (_, i) => (pixels[4 * i] + pixels[4 * i + 1] + pixels[4 * i + 2]) / 3) : null;
    m.frames.push([performance.timeOrigin + meta.expectedDisplayTime, change / (32 * 16 * 3), meta.presentedFrames, gray]);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  // The sound as played out: the mean square of the received samples over the last 10.7 ms, every 10 ms.
  const sound = new AudioContext();
  sound.resume();
  const analyser = sound.createAnalyser();
  analyser.fftSize = 512;
  sound.createMediaStreamSource(video.srcObject).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
    m.audio.push([clock(), sum / samples.length]);
  }, 10);
  return video.videoWidth;
}
"""
TAKE = "() => { const m = window.__liveMonitor; const out = {frames: m.frames, audio: m.audio};" \
       " m.frames = []; m.audio = []; return out; }"
RECORD_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || Native.__recorded) return;
  window.__livePeers = [];
  const Recorded = function (...args) { const peer = new Native(...args); window.__livePeers.push(peer); return peer; };
  Recorded.prototype = Native.prototype;
  Recorded.__recorded = true;
  Object.setPrototypeOf(Recorded, Native);
  window.RTCPeerConnection = Recorded;
})();
"""
STATS = """
async () => {
  const found = {};
  for (const peer of window.__livePeers || []) (await peer.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp') found[s.kind] = {
      delay: s.jitterBufferDelay || 0, emitted: s.jitterBufferEmittedCount || 0,
      decoded: s.framesDecoded || 0, dropped: s.framesDropped || 0, received: s.framesReceived || 0,
      freezes: s.freezeCount || 0, frozen: s.totalFreezesDuration || 0, lost: s.packetsLost || 0};
  const video = document.querySelector('video');
  if (video && found.video) found.video.shown = video.getVideoPlaybackQuality().totalVideoFrames;
  });
  return found;
}
"""
NOW = "() => performance.timeOrigin + performance.now()"
MARK_STOP = """
() => { window.__stopAt = null; const stop = [...document.querySelectorAll('button')].find(b => b.textContent === 'Stop');
  stop.addEventListener('click', () => { window.__stopAt = performance.timeOrigin + performance.now(); },
                        {once: true, capture: true}); }
"""
MARK_ENTER = """
() => { window.__enterAt = null; const box = document.querySelector('input[aria-label="Say"]');
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter') window.__enterAt = performance.timeOrigin + performance.now(); },
                       {once: true, capture: true}); }
"""


@dataclass
class Recorded:
    """What the player's frame saw: shown frames (time, mouth change, presented count) and the sound's power (time,
    mean square of the samples just played), times in milliseconds since the epoch."""

    frames: list[list[float]] = field(default_factory=list)
    audio: list[list[float]] = field(default_factory=list)

    def take(self, player) -> None:
        got = player.evaluate(TAKE)
        self.frames.extend(got["frames"])
        self.audio.extend(got["audio"])

    def levels(self) -> list[tuple[float, float]]:
        """The sound's power (mean square of the samples played in the last 10.7 ms) at each reading."""
        return [(t, power) for t, power in self.audio]

    def away_from_rest(self, at: float, window: float = 4000.0) -> list[tuple[float, float]]:
        """For the frames in `window` ms after `at`: how far the mouth is from where it was just before `at` (mean
        absolute difference of the mouth crops, 0-255), with the time each was shown."""
        before = [np.asarray(crop, np.float32) for t, _, _, crop in self.frames if at - 400 <= t < at and crop]
        if not before:
            return []
        rest = np.median(before, axis=0)
        return [(t, float(np.abs(np.asarray(crop, np.float32) - rest).mean()))
                for t, _, _, crop in self.frames if at <= t < at + window and crop]

    def first_speaking_frame(self, after: float, threshold: float) -> Optional[float]:
        """The first frame after `after` whose mouth is further than `threshold` from where it was at rest."""
        return next((t for t, away in self.away_from_rest(after) if away > threshold), None)

    def first_loud(self, after: float, threshold: float) -> Optional[float]:
        return next((t for t, power in self.levels() if t >= after and power > threshold), None)

    def silent_from(self, after: float, threshold: float, hold_ms: float = 500.0) -> Optional[float]:
        """The first time after `after` from which the sound stays under `threshold` for `hold_ms`."""
        start = None
        for t, level in self.levels():
            if t < after:
                continue
            if level > threshold:
                start = None
            elif start is None:
                start = t
            elif t - start >= hold_ms:
                return start
        return None

    def resting_from(self, rest_at: float, after: float, threshold: float, hold: int = 4) -> Optional[float]:
        """The first frame after `after` from which the mouth stays, for `hold` frames, within `threshold` of where
        it was at rest just before `rest_at`."""
        start, count = None, 0
        for t, away in self.away_from_rest(rest_at, window=after - rest_at + 4000):
            if t < after:
                continue
            if away > threshold:
                start, count = None, 0
            else:
                start, count = (t if start is None else start), count + 1
                if count >= hold:
                    return start
        return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "AVATAR_OUTPUTS": str(folder / "outputs"), "AVATAR_CHECKPOINTS": str(folder / "checkpoints"),
           "PYTHONUNBUFFERED": "1"}
    env.setdefault("AVATAR_LIVE_SESSIONS", "1")
    log = open(folder / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1",
                               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                return server, base
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"streamlit did not start:\n{(folder / 'server.log').read_text()[-2000:]}")


def mouth_box() -> list[int]:
    """The mouth's region (x, y, w, h) in the page's default avatar at the live size, from its landmarks."""
    from avatar.avatars import list_default_avatars
    from avatar.live.session import LIVE_SIZE
    from avatar.talk.pipeline import prepare_portrait

    avatar = list_default_avatars()[0]
    portrait = prepare_portrait(avatar.image_path, LIVE_SIZE, landmarks_path=avatar.landmarks_path)
    mouth = portrait.face.landmarks[48:68]
    (x0, y0), (x1, y1) = mouth.min(axis=0), mouth.max(axis=0)
    pad_x, pad_y = 0.25 * (x1 - x0), 0.5 * (y1 - y0)
    return [int(x0 - pad_x), int(y0 - pad_y), int(x1 - x0 + 2 * pad_x), int(y1 - y0 + 2 * pad_y)]


def _say(player, text: str) -> float:
    """Type `text` into the player and press Enter; the time the key went down (ms since the epoch, the browser's
    clock)."""
    box = player.get_by_label("Say", exact=True)
    box.fill(text)
    player.evaluate(MARK_ENTER)
    box.press("Enter")
    return player.evaluate("() => window.__enterAt")


def _stop(player) -> float:
    """Click Stop in the player; the time the click reached it (ms since the epoch, the browser's clock)."""
    player.evaluate(MARK_STOP)
    player.get_by_role("button", name="Stop", exact=True).click()
    return player.evaluate("() => window.__stopAt")


def _wait(player, recorded: Recorded, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
        recorded.take(player)


def _wait_for(player, recorded: Recorded, found, timeout: float = 15.0):
    """Keep reading the frame until `found()` gives a time (returned), or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _wait(player, recorded, 0.1)
        at = found()
        if at is not None:
            return at
    return None


def _jitter_delay(before: dict[str, Any], after: dict[str, Any], kind: str) -> float:
    """The mean jitter-buffer delay (seconds) of `kind` between two getStats readings."""
    emitted = after[kind]["emitted"] - before[kind]["emitted"]
    return (after[kind]["delay"] - before[kind]["delay"]) / max(emitted, 1)


def _jitter_delays(before: dict[str, Any], after: dict[str, Any]) -> float:
    """Audio minus video mean jitter-buffer delay (seconds) between two getStats readings."""
    return _jitter_delay(before, after, "audio") - _jitter_delay(before, after, "video")


def run(minutes: float, sentences: int, stops: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    box = mouth_box()
    folder = Path(tempfile.mkdtemp(prefix="live-browser-"))
    server, base = _start_server(folder)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(RECORD_PEERS)
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{base}/live")
            page.get_by_role("heading", name="Live").wait_for()
            page.get_by_role("button", name="Start", exact=True).click()
            player = None
            while player is None:
                player = next((f for f in page.frames if PLAYER in f.url and f.locator("video").count()), None)
                page.wait_for_timeout(200)
            player.wait_for_function("() => { const v = document.querySelector('video');"
                                     " return v.videoWidth > 0 && v.currentTime > 0.5"
                                     " && !document.querySelector('input[aria-label=\"Say\"]').disabled; }")
            player.evaluate(MONITOR, box)
            recorded = Recorded()
            _wait(player, recorded, 10.0)
            idle_power = [power for _, power in recorded.levels()]
            # How far the idle mouth wanders from where it was, over as long as a sentence's onset is looked for.
            idle_start = recorded.frames[5][0] + 500
            idle_away = [away for at in np.arange(idle_start, recorded.frames[-1][0] - 4000, 250)
                         for _, away in recorded.away_from_rest(float(at))]
            speaking = 1.5 * max(idle_away) + 1.0
            loud = max(4.0 * max(idle_power), 1e-4)  # idle sound is silence: energy 0

            first_frame, first_sound = [], []
            for text in (SENTENCES * 2)[:sentences]:
                enter = _say(player, text)
                sound_at = _wait_for(player, recorded, lambda: recorded.first_loud(enter, loud))
                _wait(player, recorded, 1.0)
                frame_at = recorded.first_speaking_frame(enter, speaking)
                if sound_at is not None:
                    first_sound.append((sound_at - enter) / 1000)
                if frame_at is not None:
                    first_frame.append((frame_at - enter) / 1000)
                stopped = _stop(player)
                _wait_for(player, recorded, lambda: recorded.silent_from(stopped, loud))
                _wait(player, recorded, 1.0)

            stop_sound, stop_face = [], []
            for text in SENTENCES[:stops]:
                enter = _say(player, text)
                if _wait_for(player, recorded, lambda: recorded.first_loud(enter, loud)) is None:
                    continue
                _wait(player, recorded, 0.8)
                stopped = _stop(player)
                _wait_for(player, recorded, lambda: recorded.silent_from(stopped, loud))
                _wait(player, recorded, 1.0)
                silent = recorded.silent_from(stopped, loud)
                still = recorded.resting_from(enter, stopped, speaking)
                if silent is not None:
                    stop_sound.append((silent - stopped) / 1000)
                if still is not None:
                    stop_face.append((still - stopped) / 1000)

            # Continuous speech (the mouth crops are not kept: ten minutes of them would not fit a page's memory).
            player.evaluate("() => { window.__liveMonitor.keepCrops = false; }")
            recorded.frames.clear()
            recorded.audio.clear()
            seconds = minutes * 60
            _say(player, PARAGRAPH[:1000])
            _wait(player, recorded, 3.0)
            begin = time.monotonic()
            stats_start = player.evaluate(STATS)
            _wait(player, recorded, min(30.0, seconds / 2))
            stats_start_window = player.evaluate(STATS)
            queued = time.monotonic()
            while time.monotonic() - begin < seconds - 30 and seconds > 60:
                if time.monotonic() - queued > SPEECH_CHUNK_S:
                    _say(player, PARAGRAPH[:1000])
                    queued = time.monotonic()
                _wait(player, recorded, 1.0)
            stats_end_window = player.evaluate(STATS)
            _wait(player, recorded, min(30.0, seconds / 2))
            stats_end = player.evaluate(STATS)
            spoken = [f for f in recorded.frames if f[0] >= recorded.frames[0][0] + 3000] if recorded.frames else []
            times = [t for t, _, _, _ in spoken]
            gaps = [(b - a) / 1000 for a, b in zip(times, times[1:])]
            presented = [p for _, _, p, _ in spoken]
            late = [{"at": times[i], "gap": gaps[i], "presented": presented[i + 1] - presented[i]}
                    for i in range(len(gaps)) if gaps[i] > LATE_GAP_S]
            # presentedFrames counts every frame handed to the compositor: a frame can be shown while the page's main
            # thread is too busy to call back for it, so a gap its count says held several frames was not seen as one.
            presented_fps = (presented[-1] - presented[0]) / max((times[-1] - times[0]) / 1000, 1e-9)
            unseen_gaps = [gaps[i] for i in range(len(gaps)) if presented[i + 1] - presented[i] <= 1]
            per_minute = [sum(1 for t in times if times[0] + 60000 * m <= t < times[0] + 60000 * (m + 1)) / 60
                          for m in range(int((times[-1] - times[0]) // 60000))]
            _stop(player)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    av_start = _jitter_delays(stats_start, stats_start_window)
    av_end = _jitter_delays(stats_end_window, stats_end)
    return {
        "first_frame": first_frame, "first_sound": first_sound, "stop_sound": stop_sound, "stop_face": stop_face,
        "fps": (len(times) - 1) / max((times[-1] - times[0]) / 1000, 1e-9), "max_gap": max(gaps),
        "speech_seconds": (times[-1] - times[0]) / 1000,
        "dropped": stats_end["video"]["dropped"] - stats_start["video"]["dropped"],
        "av_start": av_start, "av_end": av_end, "drift": av_end - av_start,
        "audio_buffer": _jitter_delay(stats_start, stats_end, "audio"),
        "video_buffer": _jitter_delay(stats_start, stats_end, "video"),
        "thresholds": {"mouth_away": speaking, "sound_power": loud},
        "video_counts": {key: stats_end["video"].get(key, 0) - stats_start["video"].get(key, 0)
                         for key in ("received", "decoded", "dropped", "shown", "freezes", "frozen", "lost")},
        "presented_fps": presented_fps, "max_gap_presented": max(unseen_gaps, default=0.0),
        "late_gaps": late, "fps_per_minute": per_minute, "load": os.getloadavg(),
    }


def _p(values: list[float]) -> str:
    if not values:
        return "not measured"
    return f"{statistics.median(values) * 1000:.0f} / {percentile(values, 0.95) * 1000:.0f} ms ({len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="minutes of continuous speech")
    parser.add_argument("--sentences", type=int, default=10, help="sentences timed from Enter to the first frame")
    parser.add_argument("--stops", type=int, default=10, help="sentences stopped half-way")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON as well")
    args = parser.parse_args()
    r = run(args.minutes, args.sentences, args.stops)
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print("Live page in Chromium (streamlit run, WebRTC over loopback, 512 px, 25 fps)\n")
    print("| measure | median / p95 (count) or value | target (issue 23) |")
    print("|---|---|---|")
    print(f"| Enter to the first frame of speech shown | {_p(r['first_frame'])} | <= 800 / 1200 ms |")
    print(f"| Enter to the sound rising | {_p(r['first_sound'])} | |")
    print(f"| frames shown per second ({r['speech_seconds']:.0f} s of speech) | {r['fps']:.2f} | >= 24 |")
    print(f"| largest gap between shown frames | {ms(r['max_gap'])} | <= 120 ms |")
    print(f"| frames handed to the compositor per second (presentedFrames) | {r['presented_fps']:.2f} | |")
    print(f"| largest gap with no frame presented in it | {ms(r['max_gap_presented'])} | |")
    print(f"| frames dropped by the browser | {r['dropped']} | 0 |")
    print(f"| audio minus video jitter-buffer delay, start -> end (drift) | {ms(r['av_start'])} -> "
          f"{ms(r['av_end'])} ({ms(r['drift'])}) | drift <= 40 ms |")
    print(f"| mean jitter-buffer delay, audio / video | {ms(r['audio_buffer'])} / {ms(r['video_buffer'])} | |")
    print(f"| Stop to silence | {_p(r['stop_sound'])} | <= 250 ms |")
    print(f"| Stop to the mouth at rest | {_p(r['stop_face'])} | <= 250 ms |")
    print(f"\nframes a second in each whole minute: {', '.join(f'{v:.2f}' for v in r['fps_per_minute']) or '-'}; "
          f"gaps over {LATE_GAP_S * 1000:.0f} ms: {len(r['late_gaps'])}; load average at the end: "
          f"{' '.join(f'{v:.2f}' for v in r['load'])}")
    if args.json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
