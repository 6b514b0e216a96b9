"""The only list of decoder names: the CLI, `codila ls` and the contract tests all read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from codila.decoding.codila import CodilaDecodeConfig, decode_codila, decode_codila_batch
from codila.decoding.dlm import DlmDecodeConfig, decode_dlm, decode_dlm_batch
from codila.errors import CodilaError


@dataclass(frozen=True)
class DecoderSpec:
    name: str
    config_class: type
    decode: Callable  # (dlm, ar | None, canvas, config, generator) -> DecodeResult
    decode_batch: Callable  # (dlm, ar | None, canvases, config, generators) -> list[DecodeResult], one per canvas
    needs_ar: bool
    summary: str


DECODERS: dict[str, DecoderSpec] = {
    spec.name: spec
    for spec in (
        DecoderSpec("dlm", DlmDecodeConfig, decode_dlm, decode_dlm_batch, False, "DLM alone: K tokens per forward, most certain first"),
        DecoderSpec("codila", CodilaDecodeConfig, decode_codila, decode_codila_batch, True, "DLM + local AR over blocks of B (static, dynamic, verify)"),
    )
}


def get_decoder(name: str) -> DecoderSpec:
    if name not in DECODERS:
        raise CodilaError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)} (see `codila ls`)")
    return DECODERS[name]
