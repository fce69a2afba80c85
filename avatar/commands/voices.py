"""`avatar voices list`: who can speak typed text, in which languages, and how to install the rest."""

from __future__ import annotations

import argparse

from avatar.speech.voices import VOICE_SPECS, VoiceOptions, list_voices


def _list(args: argparse.Namespace) -> int:
    default = VOICE_SPECS["voice"].default
    rows = [(v.name + (" (default)" if v.name == default else ""), v.kind, v.state, ", ".join(v.languages) or "-",
             v.note) for v in list_voices()]
    header = ("voice", "kind", "state", "languages", "")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    print()
    print(settings_help())
    return 0


def settings_help() -> str:
    """The voice settings of `avatar talk`, as `VoiceOptions` declares them."""
    language, rate = VOICE_SPECS["language"], VOICE_SPECS["rate"]
    return (f"avatar talk --voice NAME --language CODE (default {language.default}) "
            f"--rate R ({rate.describe_range()}, default {rate.default}); "
            f"a cloning voice also needs --voice-sample: {VoiceOptions.SAMPLE_HELP}.")


def register(subparsers) -> None:
    parser = subparsers.add_parser("voices", help="the voices that speak typed text, and how to clone one")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the bundled voice and the cloning models, installed or not")
    listing.set_defaults(func=_list)
