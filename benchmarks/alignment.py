"""How well speech is aligned to its known text: `python -m benchmarks.alignment`.

Cloned voices give bare audio; `avatar.speech.text_alignment` finds when each
phoneme and word of the text sounds in it. Ground truth comes from Piper itself:
every target is the bundled voice speaking the text with another seed (Piper's
seeded noise changes every duration) and then warped in known ways, so its true
timeline is known to the sample:

- `rate 0.8` / `rate 1.25`: another seed, slower / faster;
- `pauses`: another seed, 150-600 ms of silence inserted in half the word gaps;
- `stretch`: groups of ~3 words resampled by factors 0.7-1.4 each (tempo and
  pitch change together, phrase by phrase);
- `voice up` / `voice down`: the whole clip resampled by 1/1.18 or 1.15 (pitch
  and formants move as for a smaller or larger speaker: the nearest we get to
  another voice with known timing), with another seed and rate;
- `noisy`: another seed, gain 0.3 and white noise at 20 dB SNR, plus pauses.

Methods: DTW against the Piper reference with four frame features (mfcc+envelope,
mfcc, logmel, envelope) and forced alignment with pocketsphinx (English only).
Metrics: mean and 90th-percentile absolute error (ms) of phoneme boundaries and
of word starts/ends, share of 25 fps video frames with the right phoneme and with
the right mouth shape (viseme), and seconds of alignment per second of audio.
Forced alignment spells phonemes in its own inventory, so its phoneme boundaries
are those of the phonemes a sequence match pairs with the truth, and its phoneme
frame accuracy is not given.

Also: DTW in other languages (rate and seed changes, pauses), the DTW path cost
for speech vs noise and music (the fall-back threshold), and the two real
recordings in /work/shared/fixtures, where DTW (on the words pocketsphinx
recognises) is compared with forced alignment of the same words.
"""

from __future__ import annotations

import argparse
import difflib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

ENGLISH = [
    "The quick brown fox jumps over the lazy dog, and then it runs back into the forest.",
    "Welcome to the studio, where every portrait can find its voice. Today we will look at how a single photo "
    "becomes a short talking video.",
    "She sells sea shells by the sea shore. The shells she sells are surely sea shells, so if she sells shells "
    "on the sea shore, I'm sure she sells sea shore shells.",
    "Please remember to bring your umbrella tomorrow morning; the forecast says it will rain until noon.",
    "First the text is spoken by a neural voice that runs on this computer. Then the face is found, and the "
    "mouth follows every sound it makes. The eyes blink now and then.",
    "My grandmother kept a small garden behind the house, with tomatoes, beans, and a crooked apple tree that "
    "never gave more than a dozen apples a year. Still, she loved it.",
    "Why would anyone wait in line for three hours just to buy a phone? Because, apparently, being first "
    "matters more than being sensible.",
    "Nothing leaves the machine, and no server is needed at any point. When you are happy with the result, "
    "download the video and share it with your friends and family. It only takes a minute, and the whole "
    "process runs quietly in the background while you keep working on something else.",
]

OTHER_LANGUAGES = {
    "es": "Hola, me llamo Juan y vivo en Madrid. Todos los días camino al trabajo por el parque.",
    "fr": "Bonjour, je m'appelle Pierre. Chaque matin, je prends un café avant de partir au travail.",
    "de": "Guten Tag, ich heiße Jürgen. Jeden Morgen fahre ich mit dem Fahrrad zur Arbeit.",
    "ru": "Здравствуйте, меня зовут Иван. Каждое утро я хожу на работу через парк.",
    "zh-cn": "你好，我叫小明。我每天早上走路去上班，路上会经过一个公园。",
    "hi": "नमस्ते, मेरा नाम राहुल है। मैं हर सुबह पार्क से होकर काम पर जाता हूँ।",
}

FPS = 25


@dataclass
class Target:
    """Audio with its true phoneme timeline and words."""

    samples: np.ndarray
    sample_rate: int
    phonemes: list
    words: list

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


# --- making targets with known timing ------------------------------------------------


def _ratio(factor: float, denominator: int = 40) -> tuple[int, int]:
    """up/down with up/down ~ factor (output length / input length)."""
    return max(1, round(factor * denominator)), denominator


def warp(
    speech, pieces: list[tuple[float, float]], silences: dict[int, float], gain: float = 1.0,
    snr_db: Optional[float] = None, seed: int = 0,
) -> Target:
    """Cut `speech` at the times in `pieces` ((start_s, factor) list), resample each piece by its
    factor (output/input length), put `silences[k]` seconds of silence before piece k, and carry
    the phoneme and word times through the same piecewise-linear map."""
    from scipy.signal import resample_poly

    from avatar.speech.timeline import Phoneme, Word

    rate = speech.sample_rate
    x = speech.samples.astype(np.float64)
    cuts = [int(round(start * rate)) for start, _ in pieces] + [len(x)]
    out: list[np.ndarray] = []
    knots_in: list[float] = []
    knots_out: list[float] = []
    position = 0
    for k, (_, factor) in enumerate(pieces):
        a, b = cuts[k], cuts[k + 1]
        pad = int(round(silences.get(k, 0.0) * rate))
        if pad:
            out.append(np.zeros(pad))
            position += pad
        up, down = _ratio(factor)
        piece = resample_poly(x[a:b], up, down) if (up, down) != (1, 1) and up != down else x[a:b]
        knots_in += [a / rate, b / rate - 1e-9]
        knots_out += [position / rate, (position + len(piece)) / rate - 1e-9]
        out.append(piece)
        position += len(piece)
    y = np.concatenate(out) * gain
    if snr_db is not None:
        power = np.mean(y[np.abs(y) > 0.02 * np.max(np.abs(y))] ** 2)
        y = y + np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(y))
    y = np.clip(y, -1.0, 1.0).astype(np.float32)
    total = len(y) / rate

    def mapped(t: float) -> float:
        return float(np.clip(np.interp(t, knots_in, knots_out), 0.0, total))

    bounds = [mapped(p.start) for p in speech.phonemes] + [total]
    bounds[0] = 0.0
    phonemes = [Phoneme(p.ipa, a, b) for p, a, b in zip(speech.phonemes, bounds[:-1], bounds[1:])]
    words = [Word(w.text, mapped(w.start), mapped(w.end)) for w in speech.words]
    return Target(y, rate, phonemes, words)


def _word_gap_times(speech) -> list[float]:
    """Mid-points of the pauses between words (not the first or last pause)."""
    from avatar.speech.piper_voice import PAUSE

    return [
        (p.start + p.end) / 2
        for p in speech.phonemes[1:-1]
        if p.ipa == PAUSE
    ]


def make_targets(text: str, speak: Callable[..., object], index: int) -> dict[str, Target]:
    """The warped versions of `text` (see the module docstring), each with its truth."""
    rng = np.random.default_rng(index)

    def plain(rate: float, seed: int) -> Target:
        s = speak(text, rate=rate, seed=seed)
        return warp(s, [(0.0, 1.0)], {})

    def with_pauses(s, gain: float = 1.0, snr_db: Optional[float] = None) -> Target:
        gaps = _word_gap_times(s)
        chosen = [t for t in gaps if rng.random() < 0.5]
        pieces = [(0.0, 1.0)] + [(t, 1.0) for t in chosen]
        silences = {k + 1: float(rng.uniform(0.15, 0.6)) for k in range(len(chosen))}
        return warp(s, pieces, silences, gain=gain, snr_db=snr_db, seed=index)

    targets = {
        "rate 0.8": plain(0.8, 100 + index),
        "rate 1.25": plain(1.25, 200 + index),
        "pauses": with_pauses(speak(text, rate=1.0, seed=300 + index)),
    }
    s = speak(text, rate=1.0, seed=400 + index)
    gaps = _word_gap_times(s)[2::3]
    pieces = [(0.0, float(rng.uniform(0.7, 1.4)))] + [(t, float(rng.uniform(0.7, 1.4))) for t in gaps]
    targets["stretch"] = warp(s, pieces, {})
    targets["voice up"] = warp(speak(text, rate=0.9, seed=500 + index), [(0.0, 1 / 1.18)], {})
    targets["voice down"] = warp(speak(text, rate=1.1, seed=600 + index), [(0.0, 1.15)], {})
    targets["noisy"] = with_pauses(speak(text, rate=1.0, seed=700 + index), gain=0.3, snr_db=20.0)
    return targets


# --- scoring -------------------------------------------------------------------------


def _starts(phonemes) -> np.ndarray:
    return np.array([p.start for p in phonemes[1:]])


def _at_frames(phonemes, duration: float) -> list[str]:
    times = (np.arange(int(duration * FPS)) + 0.5) / FPS
    starts = np.array([p.start for p in phonemes])
    index = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(phonemes) - 1)
    return [phonemes[i].ipa for i in index]


def _viseme_key(ipa: str) -> tuple:
    from avatar.talk.visemes import viseme

    return tuple(np.round(viseme(ipa).as_array(), 3))


def _first_letter(ipa: str) -> str:
    return ipa.strip()[:1] or " "


def score(truth: Target, phonemes, words) -> dict[str, float]:
    """Boundary errors (ms) and frame accuracies of one alignment against the truth."""
    same = [p.ipa for p in phonemes] == [p.ipa for p in truth.phonemes]
    if same:
        errors = np.abs(_starts(phonemes) - _starts(truth.phonemes)) * 1000
    else:  # pair the phonemes a sequence match finds (forced alignment has its own inventory)
        a = [_first_letter(p.ipa) for p in truth.phonemes]
        b = [_first_letter(p.ipa) for p in phonemes]
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        pairs = [
            (truth.phonemes[block.a + k].start, phonemes[block.b + k].start)
            for block in matcher.get_matching_blocks()
            for k in range(block.size)
            if block.a + k > 0 and a[block.a + k] != " "
        ]
        errors = np.array([abs(x - y) * 1000 for x, y in pairs]) if pairs else np.array([np.nan])
    result = {"ph mean": float(np.mean(errors)), "ph p90": float(np.percentile(errors, 90))}
    if len(words) == len(truth.words):
        w = np.abs(
            np.array([[x.start, x.end] for x in words]) - np.array([[x.start, x.end] for x in truth.words])
        ).reshape(-1) * 1000
        result["word mean"], result["word p90"] = float(np.mean(w)), float(np.percentile(w, 90))
    else:
        result["word mean"] = result["word p90"] = float("nan")
    true_frames = _at_frames(truth.phonemes, truth.duration)
    got_frames = _at_frames(phonemes, truth.duration)
    result["frame ph"] = (
        float(np.mean([x == y for x, y in zip(true_frames, got_frames)])) if same else float("nan")
    )
    result["frame vis"] = float(np.mean([_viseme_key(x) == _viseme_key(y) for x, y in zip(true_frames, got_frames)]))
    return result


# --- running -------------------------------------------------------------------------


def run_method(method: str, target: Target, text: str, language: str = "en"):
    """(phonemes, words, method name, seconds, cost) of one method on one target."""
    from avatar.speech import text_alignment as ta
    from avatar.speech.timeline import Speech

    speech = Speech(target.samples, target.sample_rate)
    start = time.perf_counter()
    if method == "forced":
        result = ta.align_to_text(speech, text, language=language, method="forced")
        cost = float("nan")
    else:
        result, cost = ta._dtw_align(speech, text, language, kind=method.split("-")[1])
    seconds = time.perf_counter() - start
    return result, seconds, cost


def _table(rows: list[tuple[str, str, dict]], title: str) -> None:
    columns = ["ph mean", "ph p90", "word mean", "word p90", "frame ph", "frame vis", "s per s", "fallbacks"]
    print(f"\n{title}\n")
    print("| target | method | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for target, method, values in rows:
        cells = []
        for c in columns:
            v = values.get(c, float("nan"))
            if c.startswith("frame"):
                cells.append(f"{v:.1%}")
            elif c == "s per s":
                cells.append(f"{v:.3f}")
            elif c == "fallbacks":
                cells.append(f"{int(v)}")
            else:
                cells.append(f"{v:.0f}")
        print(f"| {target} | {method} | " + " | ".join(cells).replace("nan%", "-").replace("nan", "-") + " |")


def _collect(results: dict, key: tuple[str, str], values: dict, seconds: float, duration: float) -> None:
    bucket = results.setdefault(key, {"values": [], "s": 0.0, "d": 0.0, "fallbacks": 0})
    bucket["values"].append(values)
    bucket["s"] += seconds
    bucket["d"] += duration


def _summary(results: dict) -> list[tuple[str, str, dict]]:
    rows = []
    for (target, method), bucket in results.items():
        merged = {}
        for c in ("ph mean", "ph p90", "word mean", "word p90", "frame ph", "frame vis"):
            vals = [v[c] for v in bucket["values"] if not np.isnan(v[c])]
            merged[c] = float(np.mean(vals)) if vals else float("nan")
        merged["s per s"] = bucket["s"] / bucket["d"] if bucket["d"] else float("nan")
        merged["fallbacks"] = bucket["fallbacks"]
        rows.append((target, method, merged))
    return rows


def english(methods: list[str], texts: list[str]) -> None:
    from avatar.speech.piper_voice import synthesize

    results: dict = {}
    overall: dict = {}
    costs: dict[str, list[float]] = {}
    for index, text in enumerate(texts):
        for name, target in make_targets(text, synthesize, index).items():
            for method in methods:
                result, seconds, cost = run_method(method, target, text)
                if not np.isnan(cost):
                    costs.setdefault(method, []).append(cost)
                for bucket in (results, overall):
                    key = (name, method) if bucket is results else ("all", method)
                    if result.phonemes is None:
                        bucket.setdefault(key, {"values": [], "s": 0.0, "d": 0.0, "fallbacks": 0})["fallbacks"] += 1
                        continue
                    _collect(bucket, key, score(target, result.phonemes, result.words), seconds, target.duration)
    durations = [synthesize(t).duration for t in texts]
    _table(
        sorted(_summary(results), key=lambda r: (r[0], r[1])) + _summary(overall),
        f"English: {len(texts)} texts of {min(durations):.0f}-{max(durations):.0f} s (at rate 1), "
        "errors in ms, means over texts",
    )
    print("\nDTW mean path cost on these speech targets:\n")
    for method, values in costs.items():
        print(f"- {method}: median {np.median(values):.3f}, max {max(values):.3f}")


def languages(methods: list[str]) -> None:
    from avatar.speech import text_alignment as ta

    results: dict = {}
    for index, (language, text) in enumerate(OTHER_LANGUAGES.items()):

        def speak(t, rate, seed, language=language):
            return ta.reference_speech(t, language, rate=rate, seed=seed)

        targets = make_targets(text, speak, index)
        for name in ("rate 0.8", "rate 1.25", "pauses", "voice up"):
            for method in methods:
                result, seconds, cost = run_method(method, targets[name], text, language)
                if result.phonemes is None:
                    results.setdefault((language, method), {"values": [], "s": 0.0, "d": 0.0, "fallbacks": 0})[
                        "fallbacks"
                    ] += 1
                    continue
                _collect(results, (language, method), score(targets[name], result.phonemes, result.words),
                         seconds, targets[name].duration)
    _table(_summary(results), "Other languages (DTW; rate 0.8, rate 1.25, pauses, voice up per language)")


def noise_costs(kind: str) -> None:
    """Mean DTW path cost for things that are not the text spoken."""
    from avatar.speech import text_alignment as ta
    from avatar.speech.piper_voice import synthesize
    from avatar.speech.timeline import Speech

    rate = 22050
    rng = np.random.default_rng(0)
    n = rate * 6
    white = rng.normal(0, 0.1, n)
    pink = np.cumsum(rng.normal(0, 0.01, n))
    pink = pink - np.convolve(pink, np.ones(2000) / 2000, mode="same")
    t = np.arange(n) / rate
    notes = 220 * 2 ** (rng.integers(0, 12, 24) / 12)
    music = sum(
        np.sin(2 * np.pi * h * notes[np.minimum((t * 4).astype(int), 23)] * t) / h for h in range(1, 6)
    ) * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 2 * t)))
    hum = 0.2 * np.sin(2 * np.pi * 120 * t) + rng.normal(0, 0.005, n)
    other = synthesize("Completely different words are spoken here, about the weather in the mountains.")
    text = ENGLISH[1]
    rows = [
        ("white noise", white), ("pink noise", pink), ("synthetic music", music), ("hum", hum),
        ("other English text", other.samples),
    ]
    print(f"\nMean DTW path cost ({kind}) of non-matching audio against text 2 (threshold "
          f"{ta.COST_THRESHOLD}):\n")
    print("| audio | cost |\n|---|---|")
    for label, samples in rows:
        samples = np.asarray(samples, dtype=np.float32)
        samples = samples / np.max(np.abs(samples)) * 0.8
        _, cost = ta._dtw_align(Speech(samples, rate), text, "en", kind=kind)
        print(f"| {label} | {cost:.3f} |")


def fixtures(directory: Path) -> None:
    """Real recordings: forced alignment of the recognised words vs DTW with the same words."""
    from avatar.media import load_audio
    from avatar.speech import text_alignment as ta
    from avatar.speech.recognize import align_recording

    print("\nReal recordings (no ground truth): DTW vs forced alignment of the words pocketsphinx recognises\n")
    print("| recording | s | words | word start/end |DTW - forced| mean ms | p90 ms | viseme frames agree | "
          "DTW cost | DTW s per s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("RD_Radio31_000.wav", "RD_Radio34_002.wav"):
        path = directory / name
        if not path.exists():
            continue
        speech = load_audio(path)
        recognised = align_recording(speech)
        text = " ".join(w.text for w in recognised.words)
        forced = ta.align_to_text(speech, text, method="forced")
        start = time.perf_counter()
        dtw, cost = ta._dtw_align(speech, text, "en")
        seconds = time.perf_counter() - start
        truth = Target(speech.samples, speech.sample_rate, forced.phonemes, forced.words)
        s = score(truth, dtw.phonemes, dtw.words)
        print(f"| {name} | {speech.duration:.1f} | {len(dtw.words)} | {s['word mean']:.0f} | {s['word p90']:.0f} | "
              f"{s['frame vis']:.1%} | {cost:.3f} | {seconds / speech.duration:.3f} |")
        print(f"\n  text: {text}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="dtw-mfcc+envelope,dtw-mfcc,dtw-logmel,dtw-envelope,forced")
    parser.add_argument("--texts", type=int, default=len(ENGLISH))
    parser.add_argument("--fixtures", type=Path, default=Path("/work/shared/fixtures"))
    parser.add_argument("--skip", default="", help="comma list of: english, languages, noise, fixtures")
    args = parser.parse_args()
    methods = args.methods.split(",")
    skip = set(args.skip.split(","))

    from avatar.speech import text_alignment as ta

    ta.reference_speech("Warm up.")  # load the voice before any clock starts
    if "english" not in skip:
        english(methods, ENGLISH[: args.texts])
    if "languages" not in skip:
        languages([m for m in methods if m != "forced"])
    if "noise" not in skip:
        for kind in [m.split("-")[1] for m in methods if m.startswith("dtw-")]:
            noise_costs(kind)
    if "fixtures" not in skip:
        fixtures(args.fixtures)


if __name__ == "__main__":
    main()
