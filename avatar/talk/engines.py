"""The animation engines, by name: one line each.

An engine is a folder (`builtin/`, `wav2lip/`, `sadtalker/`) with a class that
follows `avatar.talk.engine.Engine`, its own `Options` dataclass and, when it needs
a model, a catalog entry. Listed here, its options appear in the job kind's checks
and schema, the CLI's flags and the page's widgets by themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from avatar.errors import InputError, quoted
from avatar.options import OptionSpec, specs
from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.engine import Engine, FileOption, file_options
from avatar.talk.sadtalker.engine import SadTalkerEngine
from avatar.talk.wav2lip.engine import Wav2LipEngine

ENGINES: dict[str, type] = {
    "builtin": BuiltinEngine,
    "wav2lip": Wav2LipEngine,
    "sadtalker": SadTalkerEngine,
}


def get_engine(name: "str | Engine") -> Engine:
    """The engine called `name` (an engine object is used as it is); unknown names list the available ones."""
    if not isinstance(name, str):
        return name
    if name not in ENGINES:
        raise InputError(f"Unknown animation engine {quoted(name)}; choose one of: {', '.join(ENGINES)}.")
    return ENGINES[name]()


@dataclass(frozen=True)
class EngineChoice:
    """An engine as a picker shows it: ready, or the command that installs its model."""

    name: str
    title: str
    install_command: Optional[str]  # None when the engine can run now


def engine_choices(registry=None) -> list[EngineChoice]:
    """Every engine, with what it still needs."""
    from avatar.models.catalog import get_spec
    from avatar.models.registry import get_registry

    choices = []
    for name, engine in ENGINES.items():
        missing = engine.model_id is not None and not (registry or get_registry()).is_installed(engine.model_id)
        command = get_spec(engine.model_id).install_command if missing else None
        choices.append(EngineChoice(name=name, title=engine.title, install_command=command))
    return choices


# -- every engine's own options, for the job kind, the CLI and the page ----------------------------


def engine_options() -> dict[str, list[OptionSpec]]:
    """Each engine's declared options, by engine name (engines without options left out)."""
    found = {name: specs(engine.Options) for name, engine in ENGINES.items()}
    return {name: declared for name, declared in found.items() if declared}


def engine_files() -> dict[str, list[FileOption]]:
    """Each engine's file options (input files such as a reference video), by engine name."""
    found = {name: file_options(engine.Options) for name, engine in ENGINES.items()}
    return {name: files for name, files in found.items() if files}


def option_owners() -> dict[str, list[str]]:
    """Each engine option's name (files included) -> the engines that declare it."""
    owners: dict[str, list[str]] = {}
    for name, engine in ENGINES.items():
        for option_name in [s.name for s in specs(engine.Options)] + [f.name for f in file_options(engine.Options)]:
            owners.setdefault(option_name, []).append(name)
    return owners


def refuse_foreign(names, engine: Engine) -> None:
    """Refuse, in one sentence naming its engine, an option or file given that belongs to another engine."""
    owners = option_owners()
    for name in names:
        if name in owners and engine.name not in owners[name]:
            owner = ENGINES[owners[name][0]]
            raise InputError(f"{name} is an option of the {owner.title} engine, which the {engine.name} engine does "
                             f"not take; choose engine {owner.name}, or leave {name} out.")
