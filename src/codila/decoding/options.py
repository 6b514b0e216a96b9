"""What a decoder config field carries besides its value: its CLI help (and flag names), its allowed values, and the
label parts shared by several decoders. The CLI and the server build their decoding options from these
(`codila.decoding.registry.decode_options`), and every config checks itself with `check_config` when built: one
validation layer, one message per bad value."""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any

from codila.validate import check_choice, check_option


def option(default: Any, help: str, *flags: str, choices: tuple = ()) -> Any:
    """A config field with its `--help` text; `flags` replace the default `--field-name` (e.g. "--k", "--tokens-per-step");
    `choices`: the only values it takes (numbers are checked by their rule in `codila.validate.RULES`)."""
    return field(default=default, metadata={"help": help, "flags": flags, "choices": choices})


def check_config(config) -> None:
    """Refuse a config whose fields break their rule (codila.validate) or are not among their choices."""
    for item in fields(config):
        value = getattr(config, item.name)
        if item.metadata.get("choices"):
            check_choice(item.name, value, item.metadata["choices"])
        else:
            check_option(item.name, value)


def cli_flags(config) -> list[str]:
    """The command-line options that build `config` from its decoder's defaults (e.g. ["--scope", "10", "--reference"])."""
    defaults, flags = type(config)(), []
    for item in fields(config):
        value = getattr(config, item.name)
        if value == getattr(defaults, item.name):
            continue
        flag = (item.metadata.get("flags") or ("--" + item.name.replace("_", "-"),))[0]
        if isinstance(value, bool):
            on, _, off = flag.partition("/")
            flags.append(on if value else off or "--no-" + on.removeprefix("--"))
        else:
            flags += [flag, str(value)]
    return flags


def window_label(config) -> str:
    """ " semi-AR n" and " prefix cache" / " dual cache" where a config uses them."""
    label = f" semi-AR {config.semi_ar_block}" if config.semi_ar_block else ""
    return label + (f" {config.cache} cache" if config.cache != "none" else "")


WINDOW_HELP = (
    "semi-autoregressive windows: 0 = commit anywhere in the region; n > 0 = in the first unfinished window of n "
    "positions, windows left to right (LLaDA; codila: a multiple of B)"
)
CACHE_HELP = "none, or Fast-dLLM's approximate DLM KV cache: prefix or dual (needs --semi-ar-block)"
