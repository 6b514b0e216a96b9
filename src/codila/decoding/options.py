"""What a decoder config field carries besides its value: its CLI help (and flag names), and the label parts shared by
several decoders. The CLI builds its decoding options from these (`codila.decoding.registry.decode_options`)."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def option(default: Any, help: str, *flags: str) -> Any:
    """A config field with its `--help` text; `flags` replace the default `--field-name` (e.g. "--k", "--tokens-per-step")."""
    return field(default=default, metadata={"help": help, "flags": flags})


def window_label(config) -> str:
    """ " semi-AR n" and " prefix cache" / " dual cache" where a config uses them."""
    label = f" semi-AR {config.semi_ar_block}" if config.semi_ar_block else ""
    return label + (f" {config.cache} cache" if config.cache != "none" else "")


WINDOW_HELP = (
    "semi-autoregressive windows: 0 = commit anywhere in the region; n > 0 = in the first unfinished window of n "
    "positions, windows left to right (LLaDA; codila: a multiple of B)"
)
CACHE_HELP = "none, or Fast-dLLM's approximate DLM KV cache: prefix or dual (needs --semi-ar-block)"
