"""`avatar talk`: portrait + text or audio -> lip-synced MP4."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from avatar.avatars import get_default_avatar, list_default_avatars
from avatar.commands.progress_bar import progress_bar
from avatar.errors import InputError
from avatar.talk.engine import DEFAULT_MAX_SIZE, ENGINES, TalkOptions
from avatar.talk.wav2lip.engine import DEFAULT_PADS
from avatar.speech.cloned_voice import DEFAULT_CLONING_MODEL
from avatar.talk.pipeline import BUNDLED_VOICE, MOUTH_METHODS, VOICES, make_talking_video


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "talk",
        help="make a talking video from a portrait and text or audio",
        description="Animate a portrait speaking typed text (bundled Piper voice) or a recording.",
    )
    portrait = parser.add_mutually_exclusive_group(required=True)
    portrait.add_argument("--avatar", metavar="NAME", help="a default avatar (see --list-avatars)")
    portrait.add_argument("--image", type=Path, metavar="PATH", help="your own portrait (PNG, JPEG or WebP)")
    portrait.add_argument("--list-avatars", action="store_true", help="list the default avatars and exit")
    voice = parser.add_mutually_exclusive_group()
    voice.add_argument("--text", help="what the avatar says")
    voice.add_argument("--text-file", type=Path, metavar="F", help="read the text from a UTF-8 file")
    voice.add_argument("--audio", type=Path, metavar="PATH", help="a recording (wav, mp3, m4a, ogg, flac)")
    transcript = parser.add_mutually_exclusive_group()
    transcript.add_argument("--transcript", metavar="TEXT", help="what the --audio recording says (exact word timing)")
    transcript.add_argument("--transcript-file", type=Path, metavar="F", help="read the transcript from a UTF-8 file")
    parser.add_argument("--voice", choices=VOICES, metavar="NAME",
                        help=f"who speaks typed text: {BUNDLED_VOICE} (bundled, English) or a cloning model "
                             f"({', '.join(VOICES[1:])}; default {DEFAULT_CLONING_MODEL} when --voice-sample is given); "
                             "see `avatar voices list`")
    parser.add_argument("--voice-sample", type=Path, metavar="PATH",
                        help="6-30 s of one person speaking, whose voice speaks the text (you must have their consent)")
    parser.add_argument("--language", default="en", metavar="CODE",
                        help="language of the text for a cloning voice, e.g. en, es, fr, de (default en)")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="builtin",
                        help="animation engine: builtin (no download), wav2lip (needs `avatar models import wav2lip-gan PATH`) "
                             "or sadtalker (needs `avatar models pull sadtalker`)")
    parser.add_argument("--pads", type=int, nargs=4, default=list(DEFAULT_PADS), metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        help="wav2lip: pixels added to the face box (default 0 10 0 0)")
    parser.add_argument("--pose-style", type=int, default=0, metavar="N",
                        help="sadtalker: one of its 46 head-motion styles, 0-45 (default 0)")
    parser.add_argument("--preprocess", choices=("full", "crop"), default="full",
                        help="sadtalker: full = the whole portrait (default), crop = the face crop only")
    parser.add_argument("--face-size", type=int, choices=(256, 512), default=256,
                        help="sadtalker: the renderer's size and model file, 256 (default) or 512")
    parser.add_argument("--ref-eyeblink", type=Path, metavar="VIDEO",
                        help="sadtalker: blink as the face in this video does (instead of seeded blinks)")
    parser.add_argument("--rate", type=float, default=1.0, help="speaking rate for text, 0.5-2.0 (default 1.0)")
    parser.add_argument("--still", action="store_true", help="no head motion: only mouth, jaw and eyelids move")
    parser.add_argument("--expression-scale", type=float, default=1.0, metavar="S", help="0-2 (default 1.0)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the voice, blinks and head motion (default 0)")
    parser.add_argument("--face-index", type=int, metavar="K", help="which face, 0 = largest (default)")
    parser.add_argument("--size", type=int, default=DEFAULT_MAX_SIZE, help=f"long side in pixels (default {DEFAULT_MAX_SIZE})")
    parser.add_argument("-o", "--output", type=Path,
                        help="where to copy the MP4, with its captions beside it as .srt (all is kept in outputs/)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_avatars:
        for avatar in list_default_avatars():
            print(f"{avatar.name:20s} {avatar.title}")
        return 0
    if args.text is None and args.text_file is None and args.audio is None:
        raise InputError("Say what the avatar should speak: give --text, --text-file or --audio.")
    text = args.text if args.text_file is None else _read_text(args.text_file, "text")
    voice = args.voice or (DEFAULT_CLONING_MODEL if args.voice_sample is not None else BUNDLED_VOICE)
    transcript = args.transcript if args.transcript_file is None else _read_text(args.transcript_file, "transcript")
    if args.avatar is not None:
        avatar = get_default_avatar(args.avatar)
        portrait, landmarks = avatar.image_path, avatar.landmarks_path
    else:
        portrait, landmarks = args.image, None
    options = TalkOptions(
        max_size=args.size, still=args.still, expression_scale=args.expression_scale, seed=args.seed,
        pads=tuple(args.pads), pose_style=args.pose_style, preprocess=args.preprocess, face_size=args.face_size,
        blink_video=None if args.ref_eyeblink is None else str(args.ref_eyeblink),
    )
    with progress_bar("talk") as progress:
        result = make_talking_video(
            portrait,
            text=text,
            audio=args.audio,
            transcript=transcript,
            rate=args.rate,
            voice=voice,
            voice_sample=args.voice_sample,
            language=args.language,
            engine=args.engine,
            options=options,
            face_index=args.face_index,
            landmarks_path=landmarks,
            progress=progress,
        )
    video = result.video_path
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        video = Path(shutil.copyfile(result.video_path, args.output))
        if result.captions_path is not None:
            shutil.copyfile(result.captions_path, args.output.with_suffix(".srt"))
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    print(f"{video}  ({result.duration:.1f} s, {result.width}x{result.height}; "
          f"made in {result.seconds:.1f}s: {timings})")
    mouth = result.manifest["speech"]["mouth"]
    if mouth["method"] != "voice":
        print(f"mouth timing: {MOUTH_METHODS[mouth['method']]}" + (f" ({mouth['reason']})" if mouth.get("reason") else ""))
    return 0


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise InputError(f"Cannot read the {what} file {path}; give a UTF-8 text file.") from None
