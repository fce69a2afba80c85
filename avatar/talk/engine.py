"""The animation engine contract: `engine.render(portrait, face, speech, options) -> Iterator[frame]`.

`TalkOptions` holds what every engine shares (video size, frame rate, still head,
expression scale, seed, blinks, mouth lead); each engine declares its own settings
in its `Options` dataclass, carried in `TalkOptions.engine`. Both are declared with
`avatar.options.option`, so the job kind, the API schema, the CLI flags and the
page widgets come from them. The engines themselves are listed in `engines.py`;
the built-in one is in `builtin/`, the learned ones in `wav2lip/` and `sadtalker/`.

This module is light (no OpenCV or torch): the job kind and the API import it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Optional, Protocol, TypeVar

from avatar.errors import InputError
from avatar.options import check, option

FPS = 25
DEFAULT_SIZE = 768
DEFAULT_ENGINE = "builtin"

T = TypeVar("T")

ENHANCE_CHOICES = ("none", "face", "face+background")
ENHANCE_HELP = ("redraw the face with GFPGAN (face: needs gfpgan-1.4) and also sharpen the rest with Real-ESRGAN "
                "(face+background: also needs realesrgan-x2); none: as rendered")
"""Face enhancement after any engine (`avatar.enhance.video`); declared here, where the job kinds can read it cheaply."""


@dataclass(frozen=True)
class NoOptions:
    """The options of an engine that has no settings of its own."""


@dataclass(frozen=True)
class TalkOptions:
    """How a talking video is made, whatever the engine; every field has a sensible default."""

    size: int = option(DEFAULT_SIZE, "long side of the video in pixels", min=64, max=4096)
    still: bool = option(False, "no head motion: only mouth, jaw and eyelids move")
    expression_scale: float = option(1.0, "how far mouth and head move (0.3 subtle, 1.5 lively)", min=0, max=2)
    seed: int = option(0, "seed for the voice's variation, the blinks and the head motion", min=0, max=2**31 - 1)
    fps: int = option(FPS, "frames per second of the video", min=1, max=120)
    lead: float = option(0.05, "seconds the mouth moves ahead of the sound", min=0, max=0.5)
    blinks: bool = option(True, "blink every few seconds")
    enhance: str = option("none", ENHANCE_HELP, choices=ENHANCE_CHOICES)
    engine: Any = None
    """The engine's own options (an instance of its `Options`); None means its defaults."""

    LABELS: ClassVar[dict[str, str]] = {"fps": "Frames per second", "lead": "Mouth lead (s)", "blinks": "Blink",
                                          "enhance": "Face enhancement"}
    """How the page names the options it does not place itself (default: the option's name)."""

    def own(self, cls: type[T]) -> T:
        """The engine's own options as `cls` (its defaults when none were given)."""
        if self.engine is None:
            return cls()
        if not isinstance(self.engine, cls):
            raise InputError(f"The engine options given are {type(self.engine).__name__}, but this engine takes "
                             f"{cls.__name__}; give its options, or none for its defaults.")
        return self.engine

    def validate(self) -> "TalkOptions":
        """Check the shared options and the engine's own (one sentence naming the first bad one); self."""
        check(self)
        if self.engine is not None:
            check(self.engine)
        return self


def for_engine(options: Optional[TalkOptions], engine: "Engine") -> TalkOptions:
    """`options` (default: all defaults) with the engine's own options filled in, checked."""
    options = options or TalkOptions()
    return dataclasses.replace(options, engine=options.own(engine.Options)).validate()


def frame_count(duration: float, fps: float) -> int:
    """Frames needed to cover `duration` seconds: ceil(duration * fps), robust to float noise."""
    return max(0, math.ceil(round(duration * fps, 6)))


# -- files an engine's options may take -----------------------------------------------------------


@dataclass(frozen=True)
class FileOption:
    """An engine option that is a file (a job's input file, a CLI path flag, a page upload)."""

    name: str
    kind: str  # "video", "audio" or "image": which files an upload accepts
    help: str
    flag: Optional[str] = None  # the CLI flag (default: -- + the name with dashes)
    label: Optional[str] = None  # the page's label (default: the help)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


def file_option(help: str, kind: str, *, flag: Optional[str] = None, label: Optional[str] = None) -> Any:
    """A dataclass field holding the path of an input file (None when not given), e.g. a reference video."""
    return dataclasses.field(default=None, metadata={"file": kind, "file_help": help, "flag": flag, "label": label})


def file_options(cls: type) -> list[FileOption]:
    """The file fields of an options dataclass, in order."""
    return [FileOption(f.name, f.metadata["file"], f.metadata["file_help"], f.metadata["flag"], f.metadata["label"])
            for f in dataclasses.fields(cls) if "file" in f.metadata]


# -- the contract ---------------------------------------------------------------------------------


class Engine(Protocol):
    name: str  # as jobs, the CLI and the engine table call it
    title: str  # as a picker shows it
    model_id: Optional[str]  # the catalog model it needs, if any
    Options: type  # its own settings: a dataclass declared with `option` (NoOptions when it has none)
    queue: str  # "cpu" when it needs no accelerator, "gpu" otherwise

    def check_ready(self, options: Optional[TalkOptions] = None) -> None:
        """Raise `ModelNotInstalled` (saying how to install it) or `InputError` if the engine cannot run with `options`."""

    def output_size(self, portrait: Any, face: Any, options: TalkOptions) -> tuple[int, int]:
        """(width, height) of the frames `render` yields."""

    def render(self, portrait: Any, face: Any, speech: Any, options: TalkOptions,
               progress: Any = None) -> Iterator[Any]:
        """Yield RGB frames (numpy arrays) of `output_size`, `options.fps` per second of speech.

        `options.own(self.Options)` gives the engine's own settings. `progress` hears
        the stages before the first frame (loading, analysis); frames themselves are
        counted by the caller. The yielded array may be reused for the next frame:
        copy it to keep it.
        """
