"""Speed and memory of the talking-video pipeline: `python -m benchmarks.talk`.

For a ~10 s and a ~60 s clip at 512 px it prints TTS real-time factor, animation
and encoding frames per second, end-to-end real-time factor (compute seconds per
second of audio) and peak memory. Each run is a fresh process, so peak memory is
that clip's own; models are loaded before the clock starts, as in a running app
(the one-time load is reported separately). Figures are medians over --runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SENTENCES = [
    "Welcome to the studio, where every portrait can find its voice.",
    "Today we will look at how a single photo becomes a short talking video.",
    "First the text is spoken by a neural voice that runs on this computer.",
    "Then the face is found, and the mouth follows every sound it makes.",
    "The eyes blink now and then, and the head moves a little while speaking.",
    "Nothing leaves the machine, and no server is needed at any point.",
    "When you are happy with the result, download the video and share it.",
]
WORDS_PER_SECOND = 3.6  # the bundled voice at rate 1.0


def script_for(seconds: float) -> str:
    words, text, i = 0, [], 0
    while words < seconds * WORDS_PER_SECOND:
        sentence = SENTENCES[i % len(SENTENCES)]
        text.append(sentence)
        words += len(sentence.split())
        i += 1
    return " ".join(text)


def run_one(seconds: float, size: int) -> dict:
    """One clip in this process; returns the measurements as a dict."""
    from avatar.avatars import get_default_avatar
    from avatar.face.detect import find_faces
    from avatar.speech.piper_voice import load_voice, synthesize
    from avatar.talk.engine import TalkOptions
    from avatar.talk.pipeline import make_talking_video

    start = time.perf_counter()
    load_voice()
    find_faces(__import__("numpy").zeros((64, 64, 3), "uint8"))
    load_s = time.perf_counter() - start

    text = script_for(seconds)
    avatar = get_default_avatar("maya")
    with tempfile.TemporaryDirectory() as job:
        start = time.perf_counter()
        speech = synthesize(text)
        tts_s = time.perf_counter() - start
        start = time.perf_counter()
        result = make_talking_video(
            avatar.image_path, audio=speech, landmarks_path=avatar.landmarks_path,
            options=TalkOptions(max_size=size), job_dir=Path(job),
        )
        render_s = time.perf_counter() - start
    frames = result.frames
    return {
        "audio_s": speech.duration,
        "frames": frames,
        "size": f"{result.width}x{result.height}",
        "load_s": load_s,
        "tts_rtf": tts_s / speech.duration,
        "animation_fps": frames / result.timings["animation"],
        "encoding_fps": frames / result.timings["encoding"],
        "e2e_rtf": (tts_s + render_s) / speech.duration,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=float, nargs="+", default=[10, 60], help="clip lengths in seconds")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.size)))
        return

    print(f"talking video at {args.size} px, median of {args.runs} runs (fresh process each)\n")
    header = ["clip", "audio s", "frames", "size", "TTS RTF", "anim fps", "enc fps", "e2e RTF", "peak MB", "load s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for clip in args.clips:
        runs = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.talk", "--one", str(clip), "--size", str(args.size)],
                capture_output=True, text=True, check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0] if key != "size"}
        print(
            f"| {clip:g} s | {med['audio_s']:.1f} | {med['frames']:.0f} | {runs[0]['size']} | {med['tts_rtf']:.3f} | "
            f"{med['animation_fps']:.0f} | {med['encoding_fps']:.0f} | {med['e2e_rtf']:.3f} | "
            f"{med['peak_mb']:.0f} | {med['load_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
