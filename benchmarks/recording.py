"""How well uploaded recordings are lip-synced: `python -m benchmarks.recording`.

A paragraph of about a minute is spoken by the bundled Piper voice, and only its
samples are handed to the recording path, as if uploaded. The jaw ("open") column
of the mouth track is then compared, by Pearson correlation, with the track from
Piper's own phonemes (the ground truth) for: (a) recognised words, aligned;
(b) the typed text, aligned; (c) loudness only. It also times `align_recording`
on that recording (median of --runs, decoder loaded before the clock starts).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks.talk import script_for


def jaw(speech) -> np.ndarray:
    from avatar.talk.builtin.mouth_track import mouth_track

    return mouth_track(speech).param("open")


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=55.0, help="length of the spoken paragraph")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from avatar.speech.piper_voice import synthesize
    from avatar.speech.recognize import align_recording, load_recognizer
    from avatar.speech.timeline import Speech

    text = script_for(args.seconds)
    spoken = synthesize(text)
    upload = Speech(spoken.samples, spoken.sample_rate)
    truth = jaw(spoken)
    load_recognizer()

    rows = []
    for label, transcript in (("recognised words", None), ("typed transcript", text)):
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            result = align_recording(upload, transcript=transcript)
            times.append(time.perf_counter() - start)
        aligned = Speech(upload.samples, upload.sample_rate, phonemes=result.phonemes)
        r = correlation(jaw(aligned), truth) if result.phonemes is not None else float("nan")
        rows.append((label, result.method, result.confidence, r, statistics.median(times)))
    rows.append(("loudness only", "loudness", float("nan"), correlation(jaw(upload), truth), float("nan")))

    print(f"{upload.duration:.1f} s of Piper speech fed as a recording; jaw correlation with Piper's own phonemes\n")
    print("| path | method | confidence | jaw r | align s (median of %d) | RTF |" % args.runs)
    print("|---|---|---|---|---|---|")
    for label, method, confidence, r, seconds in rows:
        print(
            f"| {label} | {method} | {confidence:.2f} | {r:.3f} | {seconds:.2f} | {seconds / upload.duration:.3f} |"
            .replace("nan", "-")
        )


if __name__ == "__main__":
    main()
