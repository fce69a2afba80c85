"""`avatar talk`: portrait + text or audio -> lip-synced MP4, run as a talk job (the pages' and the API's).

The flags for the video's options, the request's numbers and each engine's own
settings come from their declarations (`TalkOptions`, `TalkRequest`, each engine's
`Options`); an engine added to the table brings its flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional

from avatar.avatars import get_default_avatar, list_default_avatars
from avatar.captions import AUTOMATIC_CAPTIONS_FILE, captions_note
from avatar.commands.jobs import copy_result, run_job
from avatar.errors import InputError
from avatar.options import add_arguments, args_params, specs
from avatar.service.talk_kind import TalkRequest
from avatar.speech.voices import DEFAULT_CLONING_VOICE, DEFAULT_VOICE, VOICE_SPECS, VOICES, VoiceOptions
from avatar.talk.engine import TalkOptions, file_options
from avatar.talk.engines import ENGINES
from avatar.talk.pipeline import MOUTH_METHODS

HAND_MADE = ("text", "avatar", "transcript", "engine", "voice")
"""Request fields with flags of their own below (files, mutually exclusive choices, the voice's default)."""


def _request_help(name: str) -> str:
    return next(spec.help for spec in specs(TalkRequest) if spec.name == name)


def _engine_help() -> str:
    from avatar.models.catalog import get_spec

    described = []
    for name, engine in ENGINES.items():
        need = f"needs `{get_spec(engine.model_id).install_command}`" if engine.model_id else "no download"
        described.append(f"{name} ({need})")
    return "animation engine: " + ", ".join(described)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "talk",
        help="make a talking video from a portrait and text or audio",
        description="Animate a portrait speaking typed text (bundled Piper voice) or a recording. It runs as a job, "
                    "listed by `avatar jobs list` and on the History page.",
    )
    portrait = parser.add_mutually_exclusive_group(required=True)
    portrait.add_argument("--avatar", metavar="NAME", help="a default avatar (see --list-avatars)")
    portrait.add_argument("--image", type=Path, metavar="PATH",
                          help="your own portrait (PNG, JPEG or WebP); a NAME.landmarks.json beside it is used")
    portrait.add_argument("--list-avatars", action="store_true", help="list the default avatars and exit")
    add_speech_arguments(parser, _request_help("text"), _request_help("transcript"))
    add_arguments(parser, TalkRequest, skip=HAND_MADE)
    engine_default = next(spec.default for spec in specs(TalkRequest) if spec.name == "engine")
    parser.add_argument("--engine", choices=list(ENGINES), default=engine_default, help=_engine_help())
    add_arguments(parser, TalkOptions)
    added = {spec.name for cls in (TalkRequest, TalkOptions) for spec in specs(cls)}
    for name, engine in ENGINES.items():
        own = [spec.name for spec in specs(engine.Options) if spec.name not in added]
        files = [f for f in file_options(engine.Options) if f.name not in added]
        if not own and not files:
            continue
        group = parser.add_argument_group(f"{engine.title} options (--engine {name})")
        add_arguments(group, engine.Options, skip=added)
        for file in files:
            group.add_argument(file.cli_flag, dest=file.name, type=Path, metavar="PATH", help=file.help)
        added.update(own, (f.name for f in files))
    parser.add_argument("-o", "--output", type=Path,
                        help="where to copy the MP4, with its captions beside it as .srt, or .auto.srt when recognised "
                             "from a recording (the job keeps its own copy)")
    parser.set_defaults(func=run)


def add_speech_arguments(parser: argparse.ArgumentParser, text_help: str, transcript_help: str, *,
                         required: bool = False, copying: str = "--voice-sample") -> None:
    """What is said and by whom, shared by the commands that speak: --text, --text-file or --audio, a transcript
    for the recording, --voice and --voice-sample (`copying` names the flags that pick the cloning voice)."""
    said = parser.add_mutually_exclusive_group(required=required)
    said.add_argument("--text", help=text_help)
    said.add_argument("--text-file", type=Path, metavar="F", help="read the text from a UTF-8 file")
    said.add_argument("--audio", type=Path, metavar="PATH", help="a recording (wav, mp3, m4a, ogg, flac)")
    transcript = parser.add_mutually_exclusive_group()
    transcript.add_argument("--transcript", metavar="TEXT", help=transcript_help)
    transcript.add_argument("--transcript-file", type=Path, metavar="F", help="read the transcript from a UTF-8 file")
    parser.add_argument("--voice", choices=list(VOICES), metavar="NAME",
                        help=f"{VOICE_SPECS['voice'].help}: {', '.join(VOICES)}; default {DEFAULT_VOICE}, or "
                             f"{DEFAULT_CLONING_VOICE} when {copying} is given")
    parser.add_argument("--voice-sample", type=Path, metavar="PATH", help=VoiceOptions.SAMPLE_HELP)


def talk_params(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Path]]:
    """The talk job's parameters and input files from the flags (only the options the user gave: the job's defaults
    are the declared ones)."""
    if args.text is None and args.text_file is None and args.audio is None:
        raise InputError("Say what the avatar should speak: give --text, --text-file or --audio.")
    params: dict[str, Any] = {**args_params(TalkRequest, args), **args_params(TalkOptions, args)}
    for engine in ENGINES.values():
        params.update(args_params(engine.Options, args))
    params["engine"] = args.engine
    text = args.text if args.text_file is None else read_text_file(args.text_file, "text")
    transcript = args.transcript if args.transcript_file is None else read_text_file(args.transcript_file, "transcript")
    if text is not None:
        params["text"] = text
    if transcript is not None:
        params["transcript"] = transcript
    params["voice"] = args.voice or (DEFAULT_CLONING_VOICE if args.voice_sample is not None else DEFAULT_VOICE)
    files: dict[str, Path] = {}
    if args.avatar is not None:
        params["avatar"] = get_default_avatar(args.avatar).name
    else:
        files["portrait"] = args.image
        from avatar.face.sidecar import sidecar_path_for

        if sidecar_path_for(args.image).is_file():
            files["landmarks"] = sidecar_path_for(args.image)
    for field, path in (("audio", args.audio), ("voice_sample", args.voice_sample)):
        if path is not None:
            files[field] = path
    for engine in ENGINES.values():
        for file in file_options(engine.Options):
            if getattr(args, file.name, None) is not None:
                files[file.name] = getattr(args, file.name)
    return params, files


def run(args: argparse.Namespace) -> int:
    if args.list_avatars:
        for avatar in list_default_avatars():
            print(f"{avatar.name:20s} {avatar.title}")
        return 0
    params, files = talk_params(args)
    finished = run_job("talk", params, files, label="talk")
    video = finished.files["video.mp4"]
    if args.output is not None:
        video = copy_result(finished, "video.mp4", args.output)
    manifest = finished.manifest
    captions = copy_captions(finished, args.output)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in manifest["timings_s"].items())
    print(f"{video}  ({manifest['speech']['duration_s']:.1f} s, {manifest['video']['width']}x"
          f"{manifest['video']['height']}; made in {manifest['wall_s']:.1f}s: {timings})")
    mouth = manifest["speech"]["mouth"]
    if mouth["method"] != "voice":
        print(f"mouth timing: {MOUTH_METHODS[mouth['method']]}" + (f" ({mouth['reason']})" if mouth.get("reason") else ""))
    note = captions_note(manifest["speech"].get("captions"))
    if captions is not None:
        cues = manifest["captions"]["cues"]
        print(f"{captions}  ({cues} caption{'s' if cues != 1 else ''})")
    if note:
        print(note)
    return 0


def copy_captions(finished, output: Optional[Path]) -> Optional[Path]:
    """The captions file (copied beside `output` when given: `out.srt`, or `out.auto.srt` for recognised words), or
    None when the video has none."""
    name = (finished.manifest.get("captions") or {}).get("file")
    if name is None or name not in finished.files:
        return None
    if output is None:
        return finished.files[name]
    suffix = ".auto.srt" if name == AUTOMATIC_CAPTIONS_FILE else ".srt"
    return copy_result(finished, name, Path(output).with_suffix(suffix))


def read_text_file(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise InputError(f"Cannot read the {what} file {path}; give a UTF-8 text file.") from None
