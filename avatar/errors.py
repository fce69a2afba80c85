"""Errors a user can act on.

Every problem caused by input or environment (bad file, no face, missing model)
is raised as a subclass of `AvatarError` whose message is one sentence saying what
happened and what to do. The CLI prints that sentence and exits with code 2; the
pages show it with `st.error`. Anything else is a bug and keeps its traceback.
"""


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
