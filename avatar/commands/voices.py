"""`avatar voices list`: who can speak typed text, in which languages, and how to install the rest."""

from __future__ import annotations

import argparse

from avatar.speech.voices import list_voices


def _list(args: argparse.Namespace) -> int:
    rows = [(v.name, v.kind, v.state, ", ".join(v.languages) or "-", v.note) for v in list_voices()]
    header = ("voice", "kind", "state", "languages", "")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("voices", help="the voices that speak typed text, and how to clone one")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the bundled voice and the cloning models, installed or not")
    listing.set_defaults(func=_list)
