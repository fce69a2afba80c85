"""`avatar jobs repair`: rebuild a damaged or lost job database (see `avatar.service.repair`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _repair(args: argparse.Namespace) -> int:
    from avatar.service.repair import needs_repair, repair_database
    from avatar.service.runs import jobs_root
    from avatar.service.store import default_url
    from avatar.service.store_health import database_path

    url, root = default_url(), jobs_root()
    problem = needs_repair(url, root)
    if problem is None and not args.force:
        print(f"The job database {database_path(url) or 'at AVATAR_DATABASE_URL'} is sound; nothing to repair "
              "(--force rebuilds it anyway).")
        return 0
    if problem:
        print(problem)
    report = repair_database(url, root)
    print(report.summary(database_path(url) or Path(url)))
    return 0


def register_repair(actions) -> None:
    """Add `repair` to the `avatar jobs` actions."""
    help_text = ("rebuild a damaged or lost job database from what it still holds and from the job folders "
                 "(stop the studio first; the damaged file is kept)")
    sub = actions.add_parser("repair", help=help_text, description=help_text)
    sub.add_argument("--force", action="store_true", help="rebuild even when the database looks sound")
    sub.set_defaults(func=_repair)
