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
