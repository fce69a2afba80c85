"""One declaration per option: job parameters, CLI flags and the API schema all come from it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Optional

import pytest

from avatar.errors import InputError
from avatar.options import add_arguments, args_params, check, defaults, from_args, from_params, json_schema, option


@dataclass(frozen=True)
class Toy:
    size: int = option(768, "long side in pixels", min=64, max=4096)
    scale: float = option(1.0, "how far things move", min=0.0, max=2.0, label="The scale")
    still: bool = option(False, "no head motion")
    mode: str = option("full", "what to keep", choices=("full", "crop"))
    pads: tuple[int, int, int, int] = option((0, 10, 0, 0), "pixels around the face", min=0, max=200)
    index: Optional[int] = option(None, "which face", min=0)


def test_params_are_converted_checked_and_defaulted():
    toy = from_params(Toy, {"size": "512", "scale": 0.5, "still": True, "pads": [1, 2.0, "3", 4]})
    assert toy == Toy(size=512, scale=0.5, still=True, pads=(1, 2, 3, 4))
    assert from_params(Toy, {}) == Toy()
    assert defaults(Toy)["pads"] == (0, 10, 0, 0)


@pytest.mark.parametrize("params, sentence", [
    ({"size": 9000}, "size must be from 64 to 4096, not 9000."),
    ({"size": 5.5}, "size must be a whole number, not 5.5."),
    ({"size": "many"}, "size must be a whole number, not 'many'."),
    ({"scale": float("nan")}, "The scale must be a number, not nan."),
    ({"scale": 3}, "The scale must be from 0 to 2, not 3."),
    ({"still": "false"}, "still must be true or false, not 'false'."),
    ({"mode": "half"}, "mode must be one of full, crop, not 'half'."),
    ({"pads": [1, 2, 3]}, "pads must be a list of 4 whole numbers, not [1, 2, 3]."),
    ({"pads": [1, 2, 3, 999]}, "pads must be from 0 to 200, not 999."),
    ({"index": -1}, "index must be at least 0, not -1."),
    ({"sise": 5}, "Unknown parameter 'sise'; this job takes: size, scale, still, mode, pads, index."),
])
def test_bad_params_are_one_sentence(params, sentence):
    with pytest.raises(InputError) as error:
        from_params(Toy, params)
    assert str(error.value) == sentence


def test_check_applies_the_declared_ranges_to_instances():
    assert check(Toy()) == Toy()
    with pytest.raises(InputError, match="size must be from 64 to 4096"):
        check(Toy(size=10))


def test_cli_flags_carry_the_same_defaults_and_checks():
    parser = argparse.ArgumentParser()
    add_arguments(parser, Toy)
    assert from_args(Toy, parser.parse_args([])) == Toy()
    given = parser.parse_args(["--size", "256", "--still", "--pads", "1,2,3,4", "--mode", "crop"])
    assert from_args(Toy, given) == Toy(size=256, still=True, pads=(1, 2, 3, 4), mode="crop")
    assert args_params(Toy, given) == {"size": 256, "still": True, "pads": [1, 2, 3, 4], "mode": "crop"}
    with pytest.raises(InputError, match="size must be from 64 to 4096, not 5"):
        from_args(Toy, parser.parse_args(["--size", "5"]))
    assert "long side in pixels (from 64 to 4096); default 768" in parser.format_help().replace("\n", " ").replace(
        "  ", " ")


def test_json_schema_documents_each_option():
    schema = json_schema(Toy)
    assert schema["properties"]["size"] == {"type": "integer", "description": "long side in pixels", "default": 768,
                                            "minimum": 64, "maximum": 4096}
    assert schema["properties"]["mode"]["enum"] == ["full", "crop"]
    assert schema["properties"]["pads"]["default"] == [0, 10, 0, 0]
    assert schema["properties"]["index"]["anyOf"][1] == {"type": "null"}


def test_every_job_kind_documents_its_parameters_with_its_own_defaults():
    """The API's schema for each kind comes from the same declarations as its checks."""
    from avatar.service.kinds import KINDS

    for name, kind in KINDS.items():
        schema = kind.schema()
        assert schema.get("properties"), name
        for parameter, entry in schema["properties"].items():
            assert entry.get("description"), (name, parameter)
