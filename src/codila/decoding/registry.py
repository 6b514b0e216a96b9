"""The only list of decoder names: the CLI, `codila ls`, the labels, the sweeps and the contract tests all read it.

Adding a decoder = one file (its config dataclass and its `decode_batch`) + one line in DECODERS (docs/extending.md)."""

from __future__ import annotations

import typing
from dataclasses import MISSING, dataclass, fields
from typing import Callable

from codila.decoding.canvas import Canvas
from codila.decoding.codila import CodilaDecodeConfig, decode_codila_batch
from codila.decoding.dlm import DlmDecodeConfig, decode_dlm_batch
from codila.decoding.fast_dllm import FastDllmConfig, decode_fast_dllm_batch
from codila.decoding.result import DecodeResult
from codila.errors import CodilaError


@dataclass(frozen=True)
class DecoderSpec:
    name: str
    config_class: type
    decode_batch: Callable  # (dlm, ar | None, canvases, config, generators) -> list[DecodeResult], one per canvas
    needs_ar: bool
    summary: str

    def decode(self, dlm, ar, canvas: Canvas, config, generator) -> DecodeResult:
        """`decode_batch` for one canvas."""
        return self.decode_batch(dlm, ar, [canvas], config, [generator])[0]


DECODERS: dict[str, DecoderSpec] = {}


def register(spec: DecoderSpec) -> DecoderSpec:
    """Add a decoder to the registry (a name may be registered once)."""
    if spec.name in DECODERS:
        raise CodilaError(f"decoder {spec.name!r} is already registered")
    DECODERS[spec.name] = spec
    return spec


register(DecoderSpec("dlm", DlmDecodeConfig, decode_dlm_batch, False, "DLM alone: K tokens per forward, most certain first"))
register(
    DecoderSpec(
        "fast-dllm", FastDllmConfig, decode_fast_dllm_batch, False, "DLM alone: every position above a threshold (Fast-dLLM)"
    )
)
register(
    DecoderSpec(
        "codila", CodilaDecodeConfig, decode_codila_batch, True, "DLM + local AR over blocks of B (static, dynamic, verify)"
    )
)


def get_decoder(name: str) -> DecoderSpec:
    if name not in DECODERS:
        raise CodilaError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)} (see `codila ls`)")
    return DECODERS[name]


@dataclass(frozen=True)
class DecodeOption:
    """One CLI decoding option: a config field name taken by one or more decoders."""

    name: str
    type: type
    flags: tuple[str, ...]
    help: str  # each decoder's help and default


def decode_options() -> list[DecodeOption]:
    """The union of the registered decoders' config fields, in registry order; the help of each names the decoders
    that take it with their defaults (an option left unset keeps the chosen decoder's default)."""
    uses: dict[str, list] = {}
    for spec in DECODERS.values():
        hints = typing.get_type_hints(spec.config_class)
        for field in fields(spec.config_class):
            uses.setdefault(field.name, []).append((spec.name, hints[field.name], field))
    options = []
    for name, taken in uses.items():
        helps: dict[str, list[str]] = {}
        for decoder, _, field in taken:
            default = field.default if field.default is not MISSING else field.default_factory()
            helps.setdefault(field.metadata.get("help", ""), []).append(f"{decoder} {default}")
        text = "; ".join(f"{help} (default: {', '.join(defaults)})" for help, defaults in helps.items())
        flags = next((field.metadata["flags"] for _, _, field in taken if field.metadata.get("flags")), ())
        options.append(DecodeOption(name, taken[0][1], flags or ("--" + name.replace("_", "-"),), text))
    return options


def decoder_config(decoder: str, given: dict):
    """The registry's spec and config for `decoder` from the options the user gave (None = unset: the default)."""
    spec = get_decoder(decoder)
    given = {name: value for name, value in given.items() if value is not None}
    unused = sorted(set(given) - {field.name for field in fields(spec.config_class)})
    if unused:
        raise CodilaError(f"decoder {decoder!r} takes no option {', '.join('--' + u.replace('_', '-') for u in unused)}")
    return spec, spec.config_class(**given)
