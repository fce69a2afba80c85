"""Errors a user can act on.

Every problem caused by input or environment (bad file, no face, missing model)
is raised as a subclass of `AvatarError` whose message is one sentence saying what
happened and what to do. The CLI prints that sentence and exits with code 2; the
pages show it with `st.error`. Anything else is a bug and keeps its traceback.

A message quotes what the user gave through `quoted`, never whole: a request may
carry a megabyte in a name or a value, and the one sentence that refuses it must
stay one short sentence (in the API's 422, the log and the page).
"""

from typing import Any

QUOTE_CHARS = 40
"""How much of a user's value a message repeats."""


def quoted(value: Any, limit: int = QUOTE_CHARS) -> str:
    """`repr(value)` for a message, cut to about `limit` characters with "…" when longer."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


class AvatarError(Exception):
    """Base class for errors whose message is meant for the user."""


class InputError(AvatarError):
    """The user's input (file, text, option) cannot be used as given."""


class NoFaceError(InputError):
    """No face was found where one is needed."""


class ModelNotInstalled(AvatarError):
    """A model the task needs is not installed; the message says how to install it."""


class ServiceUnavailable(AvatarError):
    """A service the studio needs (the job broker) cannot be reached now; trying again later may work."""
