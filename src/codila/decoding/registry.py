"""The only list of decoder names, and the one way to decode (`decode`): the CLI, the API, the server, eval, the trace,
`codila ls`, the labels, the sweeps and the contract tests all read it.

Adding a decoder = one file (its config dataclass and its `decode_batch`) + one `register` line (docs/extending.md);
its options then reach the CLI, the server's request schema and `codila ls` with no other change."""

from __future__ import annotations

import typing
from dataclasses import MISSING, dataclass, fields
from typing import Callable

from codila.decoding.canvas import Canvas
from codila.decoding.codila import CodilaDecodeConfig, decode_codila_batch
from codila.decoding.dlm import DlmDecodeConfig, decode_dlm_batch
from codila.decoding.fast_dllm import FastDllmConfig, decode_fast_dllm_batch
from codila.decoding.left_to_right import ArBaselineConfig, decode_ar_baseline_batch
from codila.decoding.result import DecodeResult
from codila.decoding.variable import VariableInfillConfig, decode_variable_batch
from codila.errors import CodilaError
from codila.lazy import lazy_module

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


@dataclass(frozen=True)
class DecoderSpec:
    name: str
    config_class: type
    decode_batch: Callable  # (dlm, ar | None, canvases, config, generators) -> list[DecodeResult], one per canvas
    needs_ar: bool
    summary: str
    ar_kind: str = "local"  # with needs_ar: "local" (soft-conditioned on the DLM, B tokens a block) or "causal" (decodes alone)
    needs_expand_token: bool = False  # runs only on a DLM with an expand token (DreamOn)
    joinable: bool = False  # decode_batch takes `feed=`: canvases join while it runs (codila.decoding.feed)


DECODERS: dict[str, DecoderSpec] = {}


def register(spec: DecoderSpec) -> DecoderSpec:
    """Add a decoder to the registry (a name may be registered once)."""
    if spec.name in DECODERS:
        raise CodilaError(f"decoder {spec.name!r} is already registered")
    DECODERS[spec.name] = spec
    return spec


register(
    DecoderSpec(
        "dlm", DlmDecodeConfig, decode_dlm_batch, False, "DLM alone: K tokens per forward, most certain first", joinable=True
    )
)
register(
    DecoderSpec(
        "fast-dllm",
        FastDllmConfig,
        decode_fast_dllm_batch,
        False,
        "DLM alone: every position above a threshold (Fast-dLLM)",
        joinable=True,
    )
)
register(
    DecoderSpec(
        "codila",
        CodilaDecodeConfig,
        decode_codila_batch,
        True,
        "DLM + local AR over blocks of B (static, dynamic, verify)",
        joinable=True,
    )
)
register(
    DecoderSpec(
        "dlm-variable",
        VariableInfillConfig,
        decode_variable_batch,
        False,
        "DLM alone, variable-length infilling (DreamOn: the expand token grows the span, EOS deletes)",
        needs_expand_token=True,
    )
)
register(
    DecoderSpec(
        "ar-baseline",
        ArBaselineConfig,
        decode_ar_baseline_batch,
        True,
        "AR alone: a causal LM, greedy, left to right (codila train planning --kind ar-baseline)",
        ar_kind="causal",
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
    choices: tuple = ()  # the values it takes (an option of names); () = a number checked by its rule (codila.validate)


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
        choices = tuple(dict.fromkeys(choice for _, _, field in taken for choice in field.metadata.get("choices", ())))
        options.append(DecodeOption(name, taken[0][1], flags or ("--" + name.replace("_", "-"),), text, choices))
    return options


def decode(
    decoder: str | DecoderSpec, dlm, ar, canvases: list[Canvas], config=None, seed: int | list[int] = 0, feed=None
) -> list[DecodeResult]:
    """The one way to decode: `canvases` (not modified) with the decoder (a registered name or its spec) and its
    `config` (None: its defaults), as one batch; one DecodeResult per canvas.

    dlm: the DiffusionLM. ar: the AR the decoder needs (None for DLM-only decoders; ignored by them).
    seed: an int (canvas i samples with a generator seeded seed + i) or one seed per canvas. Each canvas has its own
    generator, so its output does not depend on its batch mates.
    feed: continuous batching (`codila.decoding.feed.Feed`, a decoder with `joinable` only): canvases join between
    steps and each result is handed to the feed as soon as its canvas is done."""
    spec = decoder if isinstance(decoder, DecoderSpec) else get_decoder(decoder)
    config = spec.config_class() if config is None else config
    if not isinstance(config, spec.config_class):
        raise CodilaError(f"decoder {spec.name!r} takes a {spec.config_class.__name__}, got a {type(config).__name__}")
    if spec.needs_ar and ar is None:
        raise CodilaError(f"decoder {spec.name!r} needs an AR: pass --ar DIR (with --block-size B for a plain causal LM)")
    seeds = [seed + index for index in range(len(canvases))] if isinstance(seed, int) else list(seed)
    if len(seeds) != len(canvases):
        raise CodilaError(f"{len(seeds)} seeds for {len(canvases)} canvases: give one per canvas")
    generators = [torch.Generator().manual_seed(value) for value in seeds]
    if feed is not None:
        if not spec.joinable:
            raise CodilaError(f"decoder {spec.name!r} decodes static batches only: canvases cannot join it while it runs")
        return spec.decode_batch(dlm, ar if spec.needs_ar else None, canvases, config, generators, feed=feed)
    return spec.decode_batch(dlm, ar if spec.needs_ar else None, canvases, config, generators)


def decoder_config(decoder: str, given: dict):
    """The registry's spec and config for `decoder` from the options the user gave (None = unset: the default)."""
    spec = get_decoder(decoder)
    given = {name: value for name, value in given.items() if value is not None}
    unused = sorted(set(given) - {field.name for field in fields(spec.config_class)})
    if unused:
        raise CodilaError(f"decoder {decoder!r} takes no option {', '.join('--' + u.replace('_', '-') for u in unused)}")
    return spec, spec.config_class(**given)


def defaults_markdown(specs: list[DecoderSpec] | None = None) -> str:
    """The options of `specs` (default: every registered decoder) as a Markdown table: flag, default, the values it
    takes (its choices, or its rule in codila.validate.RULES), meaning. `codila ls --defaults` prints it; docs/usage.md
    holds the shipped decoders' (tested equal)."""
    from codila.validate import RULES

    lines = ["| decoder | option | default | takes | meaning |", "|---|---|---|---|---|"]
    for spec in DECODERS.values() if specs is None else specs:
        for field in fields(spec.config_class):
            flags = field.metadata.get("flags") or ("--" + field.name.replace("_", "-"),)
            choices = field.metadata.get("choices")
            takes = ", ".join(map(str, choices)) if choices else RULES[field.name].what if field.name in RULES else ""
            help = field.metadata.get("help", "").replace("|", "/")
            lines.append(f"| {spec.name} | `{' / '.join(flags)}` | {field.default} | {takes} | {help} |")
        if not fields(spec.config_class):
            lines.append(f"| {spec.name} | | | | no options |")
    return "\n".join(lines) + "\n"
