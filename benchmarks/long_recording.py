"""Speed and memory of a long real recording: `python -m benchmarks.long_recording`.

A recording of about ten minutes is made by repeating the real radio fixtures
(`../shared/fixtures/RD_Radio*.wav`, alternately) and a fresh `avatar talk`
process animates a real portrait (`obama.jpg`) speaking it at 512 px, timed from
outside as a user would run it. Per run it measures:

- wall seconds and RTF (wall seconds per second of audio);
- peak memory of the command's whole process tree, decoding helpers included
  (sampled from /proc every 0.1 s): the sum of proportional set sizes (shared
  pages shared out: what the tree occupies) and of resident sets (shared pages
  counted in every process), and the kernel's peak for the largest process;
- recognition seconds: the job's "voice" stage from its manifest (reading the
  recording, speech recognition and alignment), and the mouth method it chose;
- CPU seconds of the process and the helpers it waited for, and the machine's
  one-minute load average before the run: on a shared machine, other work
  slows the wall clock, and these show when it did.

Medians over --runs are printed as a Markdown table, a row per `--decoders`
setting (`--decoders 1 auto` compares one decoder with one per core).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Optional

from avatar.speech.decode_pool import DECODERS_ENV

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


def build_recording(path: Path, seconds: float) -> float:
    """Write the radio fixtures, repeated in turn, to `path` until it holds `seconds`; return its length."""
    clips = sorted(FIXTURES.glob("RD_Radio*.wav"))
    if not clips:
        raise SystemExit(f"no RD_Radio*.wav fixtures in {FIXTURES}")
    sounds = []
    for clip in clips:
        with wave.open(str(clip), "rb") as source:
            sounds.append((source.getparams(), source.readframes(source.getnframes())))
    params = sounds[0][0]
    if any(p[:3] != params[:3] for p, _ in sounds):
        raise SystemExit("the radio fixtures differ in channels, sample width or rate")
    frames, i = 0, 0
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        while frames < seconds * params.framerate:
            clip_params, data = sounds[i % len(sounds)]
            out.writeframes(data)
            frames += clip_params.nframes
            i += 1
    return frames / params.framerate


def _descendants(root: int) -> list[int]:
    """`root` and every process under it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _tree_memory_mb(root: int) -> tuple[float, float]:
    """(resident, proportional) memory of a process tree in MB.

    Resident memory counts pages shared between the processes (the speech
    model's mapped files, the libraries) once per process; the proportional set
    size shares them out, so its sum is what the tree really occupies.
    """
    rss = pss = 0
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as rollup:
                for line in rollup:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


class TreeMemory:
    """Samples a process tree's memory on a thread; keeps the largest sums seen."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.pid, self.every_s = pid, every_s
        self.peak_rss_mb = self.peak_pss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, pss = _tree_memory_mb(self.pid)
            self.peak_rss_mb, self.peak_pss_mb = max(self.peak_rss_mb, rss), max(self.peak_pss_mb, pss)
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_command(recording: Path, portrait: Path, size: int, decoders: Optional[int] = None) -> dict:
    """One fresh `avatar talk` process on the recording, timed and measured from outside."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "avatar", "talk", "--image", str(portrait), "--audio", str(recording),
                   "--size", str(size), "-o", str(Path(folder) / "out.mp4")]
        env = {**os.environ, "AVATAR_OUTPUTS": folder}
        if decoders is not None:
            env[DECODERS_ENV] = str(decoders)
        log = Path(folder) / "stderr.txt"
        load_before = os.getloadavg()[0]
        with open(log, "wb") as errors:
            start = time.perf_counter()
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors)
            memory = TreeMemory(process.pid)
            _, status, usage = os.wait4(process.pid, 0)
            wall_s = time.perf_counter() - start
            memory.stop()
        if status != 0:
            raise RuntimeError(f"avatar talk failed with status {status}:\n{log.read_text(errors='replace')[-2000:]}")
        manifest = json.loads(next(Path(folder).glob("**/manifest.json")).read_text())
    duration = manifest["speech"]["duration_s"]
    timings = manifest["timings_s"]
    return {
        "audio_s": duration,
        "wall_s": wall_s,
        "rtf": wall_s / duration,
        "tree_mb": memory.peak_rss_mb,
        "tree_pss_mb": memory.peak_pss_mb,
        "process_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "load_before": load_before,
        "recognition_s": timings.get("voice", float("nan")),
        "render_s": wall_s - timings.get("voice", 0.0),
        "mouth": manifest["speech"]["mouth"]["method"],
        "frames": manifest["video"]["frames"],
    }


def _row(label: str, runs: list[dict]) -> str:
    med = {key: statistics.median(r[key] for r in runs) for key in runs[0] if key != "mouth"}
    return (f"| {label} | {med['audio_s']:.0f} | {med['wall_s']:.1f} | {med['rtf']:.3f} | "
            f"{med['recognition_s']:.1f} | {med['render_s']:.1f} | {med['cpu_s']:.0f} | {med['tree_pss_mb']:.0f} | "
            f"{med['tree_mb']:.0f} | {med['process_mb']:.0f} | {runs[0]['mouth']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the recording")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--portrait", type=Path, default=FIXTURES / "obama.jpg")
    parser.add_argument("--decoders", nargs="+", default=["auto"],
                        help=f"{DECODERS_ENV} for the command: 'auto' (unset: one decoder per core), or a number "
                        "(1: recognition in the command's own process only, as before helpers existed); several "
                        "values are run in turn, run by run, so that they meet the same machine load")
    args = parser.parse_args()
    settings = [None if value == "auto" else int(value) for value in args.decoders]

    with tempfile.TemporaryDirectory() as folder:
        recording = Path(folder) / "long_radio.wav"
        seconds = build_recording(recording, args.minutes * 60)
        print(f"{seconds:.0f} s recording (radio fixtures repeated), {args.portrait.name} at {args.size} px, "
              f"median of {args.runs} fresh `avatar talk` processes\n")
        runs: dict[Optional[int], list[dict]] = {setting: [] for setting in settings}
        for i in range(args.runs):
            for setting in settings:
                r = run_command(recording, args.portrait, args.size, setting)
                runs[setting].append(r)
                print(f"run {i + 1}, decoders {setting or 'auto'}: {r['wall_s']:.1f} s, RTF {r['rtf']:.3f}, "
                      f"recognition {r['recognition_s']:.1f} s, peak {r['tree_pss_mb']:.0f} MB PSS, "
                      f"{r['tree_mb']:.0f} MB RSS (largest process {r['process_mb']:.0f} MB), CPU {r['cpu_s']:.0f} s, "
                      f"load before {r['load_before']:.1f}, mouth {r['mouth']}", flush=True)
    header = ["decoders", "audio s", "wall s", "whole-process RTF", "recognition s", "rest s", "CPU s",
              "peak MB (tree PSS)", "peak MB (tree RSS)", "peak MB (largest process)", "mouth"]
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for setting in settings:
        print(_row(str(setting or "auto"), runs[setting]))


if __name__ == "__main__":
    main()
