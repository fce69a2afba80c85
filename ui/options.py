"""Page widgets whose default, limits and help come from a task's declared options (`avatar.options`)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from avatar.options import OptionSpec, specs


def spec_of(cls: type, name: str) -> OptionSpec:
    for spec in specs(cls):
        if spec.name == name:
            return spec
    raise KeyError(f"{cls.__name__} declares no option {name!r}")


def widget_kwargs(cls: type, name: str, **overrides: Any) -> dict[str, Any]:
    """value, min_value, max_value and help for a number widget (overrides win, e.g. a narrower page range)."""
    spec = spec_of(cls, name)
    kwargs: dict[str, Any] = {"value": spec.default, "help": spec.help}
    if spec.min is not None:
        kwargs["min_value"] = spec.type(spec.min)
    if spec.max is not None:
        kwargs["max_value"] = spec.type(spec.max)
    kwargs.update(overrides)
    return kwargs


def number_input(cls: type, name: str, label: str, **overrides: Any) -> Any:
    return st.number_input(label, **widget_kwargs(cls, name, **overrides))


def slider(cls: type, name: str, label: str, **overrides: Any) -> Any:
    return st.slider(label, **widget_kwargs(cls, name, **overrides))


def checkbox(cls: type, name: str, label: str, **overrides: Any) -> bool:
    spec = spec_of(cls, name)
    return st.checkbox(label, **{"value": bool(spec.default), "help": spec.help, **overrides})


def selectbox(cls: type, name: str, label: str, **overrides: Any) -> Any:
    """A choice among the declared choices, the declared default selected."""
    spec = spec_of(cls, name)
    choices = list(overrides.pop("options", spec.choices or ()))
    index = choices.index(spec.default) if spec.default in choices else 0
    return st.selectbox(label, choices, **{"index": index, "help": spec.help, **overrides})


def text_input(cls: type, name: str, label: str, **overrides: Any) -> str:
    spec = spec_of(cls, name)
    return st.text_input(label, **{"value": spec.default or "", "help": spec.help, **overrides})


def label_of(cls: type, name: str) -> str:
    """How a page names an option: the class's `LABELS` entry, else its name in words ("pose_style" -> "Pose style")."""
    return getattr(cls, "LABELS", {}).get(name) or name.replace("_", " ").capitalize()


def list_text(value: Any) -> str:
    """A list option's value as a text field shows it: "0, 10, 0, 0"."""
    return ", ".join(str(v) for v in value) if value is not None else ""


def parse_list(text: str) -> Any:
    """A text field's list ("0, 10, 0, 0" or "0 10 0 0") as numbers where they are numbers; the job's check
    explains anything else."""
    parts = [part for part in text.replace(",", " ").split() if part]
    values: list[Any] = []
    for part in parts:
        try:
            number = float(part)
        except ValueError:
            values.append(part)
        else:
            values.append(int(number) if number.is_integer() else number)
    return values


def option_widgets(cls: type, *, skip: tuple[str, ...] = (), key_prefix: str = "option_", columns: int = 3
                   ) -> dict[str, Any]:
    """One widget per declared option of `cls` (but `skip`), with its default, limits and help; their values by name.

    Booleans are checkboxes, a few choices a radio, numbers number inputs, lists a
    text field ("0, 10, 0, 0"), text a text field. Each widget's key is `key_prefix`
    + the option's name. A new option (or a new engine's options) appears by itself.
    """
    declared = [spec for spec in specs(cls) if spec.name not in skip]
    values: dict[str, Any] = {}
    if not declared:
        return values
    cells = st.columns(min(columns, len(declared)))
    for index, spec in enumerate(declared):
        where, label, key = cells[index % len(cells)], label_of(cls, spec.name), key_prefix + spec.name
        if spec.type is bool:
            values[spec.name] = where.checkbox(label, value=bool(spec.default), help=spec.help, key=key)
        elif spec.choices is not None:
            choices = list(spec.choices)
            index_of = choices.index(spec.default) if spec.default in choices else 0
            if len(choices) <= 4:
                values[spec.name] = where.radio(label, choices, index=index_of, horizontal=True, help=spec.help,
                                                key=key)
            else:
                values[spec.name] = where.selectbox(label, choices, index=index_of, help=spec.help, key=key)
        elif spec.type in (tuple, list):
            text = where.text_input(label, value=list_text(spec.default), help=spec.help, key=key)
            values[spec.name] = parse_list(text)
        elif spec.type in (int, float):
            kwargs = widget_kwargs(cls, spec.name, key=key)
            if spec.type is float:
                span = (spec.max or 1.0) - (spec.min or 0.0)
                kwargs["step"] = 0.01 if span <= 1 else 0.1
            values[spec.name] = where.number_input(label, **kwargs)
        else:
            values[spec.name] = where.text_input(label, value=spec.default or "", help=spec.help, key=key) or None
    return values
