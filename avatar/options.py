"""One declaration per task option, and everything derived from it.

A task's options are one dataclass; each field is declared with `option(...)`:
its default, a one-line help, and its range or choices. From that single
declaration come:

- `from_params(cls, params)`: a job's JSON or form parameters, type-checked and
  converted (5, 5.0 and "5" are a whole number; a boolean is only true/false),
  range-checked, defaults filled in; one sentence naming the bad parameter.
- `check(obj)`: the range and choice checks on an instance built in Python.
- `add_arguments(parser, cls)` / `from_args(cls, args)`: the CLI flags
  (`--expression-scale`, `--still`), with the same defaults and help.
- `json_schema(cls)`: the parameters as JSON Schema, for the API's `/docs`.
- `specs(cls)`: the declarations themselves, for the pages' widgets
  (`ui/options.py`) and for tests that compare every entry point's defaults.

Types a field may have: bool, int, float, str, a fixed or open tuple or list of
one of those, and `Optional[...]` of any of them (None meaning "not given").
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from avatar.errors import InputError, quoted
from avatar.speech.text import MAX_TEXT_CHARS

# Every text option (prompts and names as well as what is spoken) is at most MAX_TEXT_CHARS long, the longest text a
# voice speaks in one job: a megabyte in a parameter is refused in one sentence, not stored and shown in every listing.
MAX_LIST_ITEMS = 1_000
"""Most values a list option takes (clicked points, boxes): far more than a person clicks."""

_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def option(default: Any, help: str, *, min: Optional[float] = None, max: Optional[float] = None,
           choices: Optional[Sequence[Any]] = None, flag: Optional[str] = None, label: Optional[str] = None) -> Any:
    """A dataclass field with its one-line help and its limits.

    `flag` renames the CLI flag (default: `--` + the name with dashes); `label` is
    how an error sentence names it (default: the parameter's name).
    """
    metadata = {"help": help, "min": min, "max": max, "choices": tuple(choices) if choices is not None else None,
                "flag": flag, "label": label}
    if isinstance(default, (list, dict, set)):
        frozen = type(default)(default)
        return dataclasses.field(default_factory=lambda: type(frozen)(frozen), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionSpec:
    """One declared option: what every entry point needs to offer and check it."""

    name: str
    type: type  # bool, int, float, str, tuple or list
    item: Optional[type]  # the element type of a tuple or list
    length: Optional[int]  # a fixed tuple's length
    optional: bool  # None is allowed (and means "not given")
    default: Any
    help: str
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[tuple[Any, ...]] = None
    flag: Optional[str] = None
    label: Optional[str] = None

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def called(self) -> str:
        return self.label or self.name

    def describe_range(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            return f"from {_number(self.min)} to {_number(self.max)}"
        if self.min is not None:
            return f"at least {_number(self.min)}"
        if self.max is not None:
            return f"at most {_number(self.max)}"
        return ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _unwrap(hint: Any) -> tuple[type, Optional[type], Optional[int], bool]:
    """(type, item type, fixed length, optional) of a field's type hint."""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            raise TypeError(f"An option may be one type or Optional of one type, not {hint}.")
        hint = args[0]
        origin = typing.get_origin(hint)
    if origin in (tuple, list):
        args = typing.get_args(hint)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple, args[0], None, optional
        if origin is tuple:
            return tuple, args[0], len(args), optional
        return list, args[0] if args else None, None, optional
    if hint in (bool, int, float, str):
        return hint, None, None, optional
    raise TypeError(f"Unsupported option type {hint}.")


def specs(cls: type) -> list[OptionSpec]:
    """The declared options of a dataclass (fields made with `option`), in order."""
    hints = typing.get_type_hints(cls)
    found = []
    for field in dataclasses.fields(cls):
        if "help" not in field.metadata:
            continue
        kind, item, length, optional = _unwrap(hints[field.name])
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        meta = field.metadata
        found.append(OptionSpec(field.name, kind, item, length, optional, default, meta["help"], meta["min"],
                                meta["max"], meta["choices"], meta["flag"], meta["label"]))
    return found


def defaults(cls: type) -> dict[str, Any]:
    return {spec.name: spec.default for spec in specs(cls)}


# -- checking values -----------------------------------------------------------------------------


def convert(spec: OptionSpec, value: Any) -> Any:
    """`value` as the option's type (JSON numbers and booleans, or form text), or one sentence."""
    if value is None:
        if spec.optional:
            return None
        raise InputError(f"{spec.called} must be {_words(spec)}, not null.")
    if spec.type in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise InputError(f"{spec.called} must be {_words(spec)}, not {_shown(value)}.")
        if spec.length is not None and len(value) != spec.length:
            raise InputError(f"{spec.called} must be {_words(spec)}, not {_shown(value)}.")
        if len(value) > MAX_LIST_ITEMS:
            raise InputError(f"{spec.called} has {len(value):,} values, more than the limit of {MAX_LIST_ITEMS:,}; "
                             "give fewer.")
        items = [_scalar(spec, v, spec.item) if spec.item in _WORDS else v for v in value]
        return tuple(items) if spec.type is tuple else items
    return _scalar(spec, value, spec.type)


def _words(spec: OptionSpec) -> str:
    if spec.type in (tuple, list):
        what = _WORDS.get(spec.item, "value").replace("a ", "").replace("whole number", "whole numbers")
        what = {"number": "numbers", "text": "texts", "true or false": "true/false values"}.get(what, what)
        return f"a list of {spec.length} {what}" if spec.length else f"a list of {what}"
    return _WORDS[spec.type]


def _shown(value: Any) -> str:
    return quoted(value)


def _scalar(spec: OptionSpec, value: Any, kind: type) -> Any:
    wrong = InputError(f"{spec.called} must be {_WORDS[kind] if spec.type is kind else _words(spec)}, "
                       f"not {_shown(value)}.")
    if kind is bool or isinstance(value, bool):
        if kind is bool and isinstance(value, bool):
            return value
        raise wrong
    if kind is str:
        if not isinstance(value, str):
            raise wrong
        if len(value) > MAX_TEXT_CHARS:
            raise InputError(f"{spec.called} has {len(value):,} characters, more than the limit of "
                             f"{MAX_TEXT_CHARS:,}; shorten it.")
        return value
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise wrong from None
    if not math.isfinite(number):
        raise wrong
    if kind is int:
        if not number.is_integer():
            raise wrong
        return int(number)
    return number


def check_value(spec: OptionSpec, value: Any) -> None:
    """The option's range or choices; one sentence naming it."""
    if value is None:
        return
    values = value if isinstance(value, (tuple, list)) else (value,)
    for v in values:
        if spec.choices is not None and v not in spec.choices:
            raise InputError(f"{spec.called} must be {spec.describe_range()}, not {_shown(v)}.")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if (spec.min is not None and v < spec.min) or (spec.max is not None and v > spec.max):
                raise InputError(f"{spec.called} must be {spec.describe_range()}, not {_number(v)}.")


def check(obj: Any) -> Any:
    """Check every declared option of a dataclass instance; the instance."""
    for spec in specs(type(obj)):
        check_value(spec, getattr(obj, spec.name))
    return obj


def from_params(cls: type, params: dict[str, Any], *, allow: Iterable[str] = ()) -> Any:
    """An instance of `cls` from job parameters: converted, checked, defaults filled in.

    A parameter that neither `cls` declares nor `allow` names is refused (a typo
    would otherwise be silently ignored).
    """
    declared = specs(cls)
    names = [spec.name for spec in declared]
    unknown = sorted(set(params) - set(names) - set(allow))
    if unknown:
        raise InputError(f"Unknown parameter {quoted(unknown[0])}; this job takes: {', '.join([*names, *allow])}.")
    values = {}
    for spec in declared:
        if spec.name in params:
            values[spec.name] = convert(spec, params[spec.name])
            check_value(spec, values[spec.name])
    return cls(**values)


def params_of(obj: Any) -> dict[str, Any]:
    """The declared options of an instance as JSON-ready parameters (tuples as lists)."""
    return {spec.name: list(v) if isinstance(v := getattr(obj, spec.name), tuple) else v for spec in specs(type(obj))}


# -- the command line ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser | Any, cls: type, *, skip: Iterable[str] = ()) -> None:
    """One flag per declared option, with its default and help; `skip` leaves some to the command."""
    skipped = set(skip)
    for spec in specs(cls):
        if spec.name in skipped:
            continue
        text = spec.help
        limits = spec.describe_range()
        if spec.type is bool:
            parser.add_argument(spec.cli_flag, dest=spec.name, action=argparse.BooleanOptionalAction,
                                default=spec.default, help=text)
            continue
        if limits:
            text += f" ({limits})"
        if spec.default is not None and spec.default != "":
            text += f"; default {','.join(map(str, spec.default)) if isinstance(spec.default, (tuple, list)) else spec.default}"
        if spec.type in (tuple, list):
            text += " (separated by commas or spaces)"
            parser.add_argument(spec.cli_flag, dest=spec.name, default=None, nargs="+", metavar=spec.name.upper(),
                                help=text)
            continue
        # Values stay text here and are converted and checked by `from_args`, exactly as job parameters are.
        parser.add_argument(spec.cli_flag, dest=spec.name, default=None, metavar=spec.name.upper(), help=text)


def from_args(cls: type, args: argparse.Namespace, **given: Any) -> Any:
    """An instance of `cls` from parsed flags (checked as job parameters are); `given` overrides."""
    params = dict(given)
    for spec in specs(cls):
        if spec.name in params or not hasattr(args, spec.name):
            continue
        value = getattr(args, spec.name)
        if value is None or (spec.type is bool and value == spec.default):
            continue
        if spec.type in (tuple, list) and isinstance(value, (str, list, tuple)):
            words = [value] if isinstance(value, str) else value
            value = [part.strip() for word in words for part in str(word).split(",") if part.strip()]
        params[spec.name] = value
    return from_params(cls, params)


def args_params(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The flags the user gave for `cls`'s options, as job parameters (unset flags left out, so the job's defaults
    apply); checked on the way."""
    return {k: v for k, v in params_of(from_args(cls, args)).items() if _given(cls, args, k)}


def _given(cls: type, args: argparse.Namespace, name: str) -> bool:
    spec = next(s for s in specs(cls) if s.name == name)
    value = getattr(args, name, None)
    return value is not None and not (spec.type is bool and value == spec.default)


# -- the API's documentation ---------------------------------------------------------------------

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def json_schema(*classes: type, extra: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The options of `classes` as one JSON Schema object (the API's parameter documentation)."""
    properties: dict[str, Any] = {}
    for cls in classes:
        for spec in specs(cls):
            if spec.type in (tuple, list):
                schema: dict[str, Any] = {"type": "array", "items": {"type": _JSON_TYPES.get(spec.item, "number")}}
                if spec.length:
                    schema.update(minItems=spec.length, maxItems=spec.length)
            else:
                schema = {"type": _JSON_TYPES[spec.type]}
            if spec.optional:
                schema = {"anyOf": [schema, {"type": "null"}]}
            schema["description"] = spec.help
            if spec.default is not None:
                schema["default"] = list(spec.default) if isinstance(spec.default, tuple) else spec.default
            if spec.min is not None:
                schema["minimum"] = spec.min
            if spec.max is not None:
                schema["maximum"] = spec.max
            if spec.choices is not None:
                schema["enum"] = list(spec.choices)
            properties[spec.name] = schema
    properties.update(extra or {})
    return {"type": "object", "properties": properties, "additionalProperties": False}
