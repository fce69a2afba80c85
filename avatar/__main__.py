"""`python -m avatar <command>` is the same as the `avatar` console script."""

from avatar.cli import main

raise SystemExit(main())
