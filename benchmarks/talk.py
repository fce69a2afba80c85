"""Speed and memory of the talking-video pipeline: `python -m benchmarks.talk`.

For a ~10 s and a ~60 s clip at 512 px it prints, as medians over --runs:

- in process (a fresh Python process per run, voice and face models loaded
  before the clock starts, as in a running app): TTS real-time factor, animation
  and encoding frames per second, and the job's wall-clock seconds per second of
  audio (voice, animation and encoding overlap: text is animated sentence by
  sentence);
- whole process: a fresh `avatar talk` command timed from outside, start-up and
  model loading included, per second of audio, and its peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
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
    from avatar.speech.piper_voice import load_voice
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
        result = make_talking_video(
            avatar.image_path, text=text, landmarks_path=avatar.landmarks_path,
            options=TalkOptions(size=size), job_dir=Path(job),
        )
        wall_s = time.perf_counter() - start
    frames = result.frames
    return {
        "audio_s": result.duration,
        "frames": frames,
        "size": f"{result.width}x{result.height}",
        "load_s": load_s,
        "tts_rtf": result.timings["voice"] / result.duration,
        "animation_fps": frames / result.timings["animation"],
        "encoding_fps": frames / result.timings["encoding"],
        "e2e_rtf": wall_s / result.duration,
    }


def run_command(seconds: float, size: int) -> dict:
    """A fresh `avatar talk` process, timed from outside; its peak memory from the kernel."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "script.txt"
        script.write_text(script_for(seconds), encoding="utf-8")
        command = [sys.executable, "-m", "avatar", "talk", "--avatar", "maya", "--text-file", str(script),
                   "--size", str(size), "-o", str(Path(folder) / "out.mp4")]
        env = {**os.environ, "AVATAR_OUTPUTS": folder}
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - start
        if status != 0:
            raise RuntimeError(f"avatar talk failed with status {status}")
        manifest = next(Path(folder).glob("**/manifest.json"))
        duration = json.loads(manifest.read_text())["speech"]["duration_s"]
    return {"process_rtf": wall_s / duration, "peak_mb": usage.ru_maxrss / 1024}


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
    header = ["clip", "audio s", "frames", "size", "TTS RTF", "anim fps", "enc fps", "in-process RTF",
              "whole-process RTF", "peak MB", "load s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    run_command(5, args.size)  # builds the voice cache once, as the first start after installing does
    for clip in args.clips:
        runs = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.talk", "--one", str(clip), "--size", str(args.size)],
                capture_output=True, text=True, check=True,
            )
            runs.append({**json.loads(out.stdout.strip().splitlines()[-1]), **run_command(clip, args.size)})
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0] if key != "size"}
        print(
            f"| {clip:g} s | {med['audio_s']:.1f} | {med['frames']:.0f} | {runs[0]['size']} | {med['tts_rtf']:.3f} | "
            f"{med['animation_fps']:.0f} | {med['encoding_fps']:.0f} | {med['e2e_rtf']:.3f} | "
            f"{med['process_rtf']:.3f} | {med['peak_mb']:.0f} | {med['load_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
