"""The decoding options of `codila generate`, `infill` and `eval`, generated from the decoder registry: one option per
config field of any registered decoder (the union), its help naming the decoders that take it and their defaults."""

from __future__ import annotations

import functools
import inspect
from typing import Callable, Optional

import typer

from codila.decoding.registry import decode_options


def with_decode_options(command: Callable) -> Callable:
    """Give `command` one CLI option per decoder config field; it receives those the user set as `decode_options`
    (a dict, field name -> value; an unset option keeps the chosen decoder's default)."""
    options = decode_options()
    signature = inspect.signature(command)
    kept = [parameter for parameter in signature.parameters.values() if parameter.name != "decode_options"]
    added = [
        inspect.Parameter(
            option.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Optional[option.type],
            default=typer.Option(None, *option.flags, help=option.help, show_default=False),
        )
        for option in options
    ]

    @functools.wraps(command)
    def wrapper(**kwargs):
        given = {option.name: kwargs.pop(option.name) for option in options}
        return command(**kwargs, decode_options={name: value for name, value in given.items() if value is not None})

    wrapper.__signature__ = signature.replace(parameters=kept + added)
    return wrapper
