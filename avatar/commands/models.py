"""`avatar models list|pull|import|unload`: see and manage the model catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from avatar.models.devices import format_bytes
from avatar.models.registry import ModelStatus, get_registry


def _size(status: ModelStatus) -> str:
    if status.installed:
        return format_bytes(status.size_bytes)
    return f"{format_bytes(status.download_size)} download"


def format_table(statuses: list[ModelStatus]) -> str:
    """A plain-text table: id, task, status, size, path (or the install command)."""
    rows = [("ID", "TASK", "STATUS", "SIZE", "PATH / INSTALL")]
    for s in statuses:
        rows.append((s.id, s.task, s.state, _size(s), str(s.path) if s.path else s.install_command))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows)


def _list(args: argparse.Namespace) -> int:
    print(format_table(get_registry().statuses()))
    return 0


def _pull(args: argparse.Namespace) -> int:
    registry = get_registry()
    path = registry.pull(args.id)  # Hugging Face draws its own progress bars on stderr
    print(f"{args.id} is installed in {path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    path = get_registry().import_model(args.id, Path(args.path), copy=args.copy)
    print(f"{args.id} imported: {path}{' (copied)' if args.copy else ''}")
    return 0


def _unload(args: argparse.Namespace) -> int:
    unloaded = get_registry().unload(args.id)
    print(f"{args.id} {'unloaded' if unloaded else 'was not loaded'}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list, download or import the models the app can use")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every model with its status, size and path")
    listing.set_defaults(func=_list)
    pull = actions.add_parser("pull", help="download a model (pinned revision, only the files needed)")
    pull.add_argument("id", help="model id, as shown by `avatar models list`")
    pull.set_defaults(func=_pull)
    imp = actions.add_parser("import", help="register a local model folder (or checkpoint file) you already have")
    imp.add_argument("id", help="model id, as shown by `avatar models list`")
    imp.add_argument("path", help="a diffusers/transformers folder, or a checkpoint file for the talking-head engines")
    imp.add_argument("--copy", action="store_true", help="copy the files into checkpoints/ instead of linking to them")
    imp.set_defaults(func=_import)
    unload = actions.add_parser("unload", help="free a loaded model's memory (in this process)")
    unload.add_argument("id")
    unload.set_defaults(func=_unload)
