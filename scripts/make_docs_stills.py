"""Save stills of the built-in engine (rest, closed on "m", mid and wide-open mouth).

    python scripts/make_docs_stills.py [--out docs/stills] [--portrait PATH ...] [--video PATH ...]

For each portrait it renders one short phrase with the built-in engine (still
head, no blinks) and writes a strip of mouth crops: the portrait as given, then
the frames at a pause, on an "m", on a schwa (mid) and on "ah" (wide open).
README shows the strips of the shipped avatars (see docs/CREDITS.md); the test
portraits are written the same way for checking by eye but are not shipped.
`--video` takes the first frame of each video as its portrait (for example the
real-speaker clips of `python -m benchmarks.reality`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Union

import cv2
import numpy as np

from avatar.speech.timeline import Phoneme, Speech
from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.engine import TalkOptions
from avatar.talk.pipeline import prepare_portrait

FPS = 25
# (label, ipa, seconds): the phrase; a frame is taken in the middle of each labelled sound.
PHRASE = [
    ("rest", " ", 0.6),
    ("closed (m)", "m", 0.16),
    ("mid (ə)", "ə", 0.32),
    ("", " ", 0.3),
    ("wide (ɑ)", "ɑ", 0.36),
    ("", " ", 0.6),
]
DEFAULT_PORTRAITS = ["default_avatars/astronaut.png", "default_avatars/maya.png"]


def phrase_speech(sample_rate: int = 16000) -> tuple[Speech, list[tuple[str, float]]]:
    """A quiet tone carrying the phrase's phoneme timeline, and the still times."""
    phonemes, stills, t = [], [], 0.0
    for label, ipa, seconds in PHRASE:
        phonemes.append(Phoneme(ipa, t, t + seconds))
        if label:
            stills.append((label, t + seconds / 2))
        t += seconds
    n = int(round(t * sample_rate))
    samples = (0.1 * np.sin(np.arange(n) * 2 * np.pi * 150 / sample_rate)).astype(np.float32)
    return Speech(samples, sample_rate, phonemes), stills


def first_frame(video: Path) -> np.ndarray:
    """The first frame of a video, RGB."""
    import av

    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{video} has no video frames")


def render_stills(portrait: Union[Path, np.ndarray], size: int) -> list[tuple[str, np.ndarray]]:
    """Mouth crops of `portrait` (a path, or an RGB array such as a video's first frame)."""
    picture = prepare_portrait(portrait, size)
    speech, stills = phrase_speech()
    options = TalkOptions(size=size, still=True, blinks=False, lead=0.0)
    wanted = {int(round(t * FPS)): label for label, t in stills}
    frames = [("portrait", picture.image.copy())]
    for index, frame in enumerate(BuiltinEngine().render(picture.image, picture.face, speech, options)):
        if index in wanted:
            frames.append((wanted[index], frame.copy()))
    lm = picture.face.landmarks
    mouth = lm[48:68].mean(axis=0)
    half = 0.55 * float(np.linalg.norm(lm[16] - lm[0]))
    x0, y0 = int(max(0, mouth[0] - half)), int(max(0, mouth[1] - half * 0.9))
    x1, y1 = int(mouth[0] + half), int(mouth[1] + half * 0.6)
    return [(label, frame[y0:y1, x0:x1]) for label, frame in frames]


def strip(crops: list[tuple[str, np.ndarray]], height: int = 220) -> np.ndarray:
    tiles = []
    for label, crop in crops:
        scale = height / crop.shape[0]
        tile = cv2.resize(crop, (int(crop.shape[1] * scale), height), interpolation=cv2.INTER_CUBIC)
        tile = cv2.copyMakeBorder(tile, 0, 26, 0, 4, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(tile, label.replace("ə", "schwa").replace("ɑ", "ah"), (6, height + 18),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/stills"))
    parser.add_argument("--portrait", type=Path, nargs="*", default=None,
                        help="portrait images (default: the shipped avatars, unless --video is given)")
    parser.add_argument("--video", type=Path, nargs="*", default=[], help="videos whose first frame is the portrait")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    portraits = args.portrait if args.portrait is not None else ([] if args.video else DEFAULT_PORTRAITS)
    sources = [(Path(p).stem, Path(p)) for p in portraits] + [(v.stem, first_frame(v)) for v in args.video]
    for stem, portrait in sources:
        image = strip(render_stills(portrait, args.size))
        path = args.out / f"{args.prefix}{stem}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        print(path)


if __name__ == "__main__":
    main()
