"""`avatar dub`: a video of a person + new text or a recording -> the video re-synced to it, run as a dub job."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from avatar.commands.jobs import copy_result, run_job
from avatar.commands.talk import add_speech_arguments, copy_captions, read_text_file
from avatar.captions import captions_note
from avatar.errors import InputError
from avatar.options import add_arguments, args_params
from avatar.service.dub_kind import DubRequest
from avatar.speech.voices import DEFAULT_CLONING_VOICE, DEFAULT_VOICE
from avatar.talk.pipeline import MOUTH_METHODS
from avatar.video.dub_options import DubOptions

HAND_MADE = ("text", "transcript", "voice")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dub",
        help="re-sync a video of a person to new speech",
        description="Re-animate the mouth of a person in a video so that they say new text (bundled Piper voice) or "
                    "a recording; the output keeps the video's size and frame rate, with the new speech as its "
                    "sound. It runs as a job, listed by `avatar jobs list` and on the History page.",
    )
    parser.add_argument("--video", type=Path, required=True, metavar="PATH", help="the video to dub (mp4, mov, "
                        "webm, mkv, avi; up to 5 minutes)")
    add_speech_arguments(parser, "what the person says now", "what the recording says, word for word",
                         required=True, copying="--voice-sample or --clone-from-video")
    add_arguments(parser, DubRequest, skip=HAND_MADE)
    add_arguments(parser, DubOptions)
    parser.add_argument("-o", "--output", type=Path,
                        help="where to copy the MP4, with its captions beside it as .srt (.auto.srt when recognised "
                             "from a recording); the job keeps its own copy")
    parser.set_defaults(func=run)


def dub_params(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Path]]:
    """The dub job's parameters and input files from the flags (only the options given: the defaults are the job's)."""
    params: dict[str, Any] = {**args_params(DubRequest, args), **args_params(DubOptions, args)}
    text = args.text if args.text_file is None else read_text_file(args.text_file, "text")
    transcript = args.transcript if args.transcript_file is None else read_text_file(args.transcript_file, "transcript")
    if text is not None:
        params["text"] = text
    if transcript is not None:
        if args.audio is None:
            raise InputError("A transcript belongs to a recording; give --audio with it, or leave it out.")
        params["transcript"] = transcript
    copies = args.voice_sample is not None or args.clone_from_video
    params["voice"] = args.voice or (DEFAULT_CLONING_VOICE if copies else DEFAULT_VOICE)
    files = {"video": args.video}
    for field, path in (("audio", args.audio), ("voice_sample", args.voice_sample)):
        if path is not None:
            files[field] = path
    return params, files


def run(args: argparse.Namespace) -> int:
    params, files = dub_params(args)
    finished = run_job("dub", params, files, label="dub")
    video = finished.files["video.mp4"]
    if args.output is not None:
        video = copy_result(finished, "video.mp4", args.output)
    manifest = finished.manifest
    output = manifest["output"]
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in manifest["timings_s"].items())
    print(f"{video}  ({output['frames'] / output['fps']:.1f} s, {output['width']}x{output['height']} at "
          f"{output['fps']} fps; made in {manifest['wall_s']:.1f}s: {timings})")
    scaled_from = manifest["video"].get("scaled_from")
    if scaled_from:
        print(f"the video is {scaled_from[0]}x{scaled_from[1]}, over the size limit: dubbed scaled down to "
              f"{output['width']}x{output['height']}")
    cropped_from = manifest["video"].get("cropped_from")
    if cropped_from:
        print(f"the video is {cropped_from[0]}x{cropped_from[1]}, an odd size that MP4 (H.264) cannot hold: its last "
              f"odd row or column is left out ({output['width']}x{output['height']})")
    own = sum(last - first + 1 for first, last in manifest["video"].get("own_mouth_frames") or [])
    if own:
        print(f"in pauses of both the new speech and the video's own sound, {own} frames keep the speaker's own "
              "mouth (--pauses closed draws them closed)")
    seen = manifest["video"]["face_seen"]
    if seen < 1.0:
        print(f"the face was seen in {seen:.0%} of the frames; the others are left as they were")
    mouth = manifest["speech"]["mouth"]
    if mouth["method"] != "voice":
        print(f"mouth timing: {MOUTH_METHODS[mouth['method']]}" + (f" ({mouth['reason']})" if mouth.get("reason") else ""))
    captions = copy_captions(finished, args.output)
    if captions is not None:
        cues = manifest["captions"]["cues"]
        print(f"{captions}  ({cues} caption{'s' if cues != 1 else ''})")
    note = captions_note(manifest["speech"].get("captions"))
    if note:
        print(note)
    return 0
