"""The only list of decoder names: the CLI, `codila ls`, the labels, the sweeps and the contract tests all read it.

Adding a decoder = one file (its config dataclass and its `decode_batch`) + one line in DECODERS (docs/extending.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

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

    def decode(self, dlm, ar, canvas: Canvas, config, generator: torch.Generator) -> DecodeResult:
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
register(DecoderSpec("fast-dllm", FastDllmConfig, decode_fast_dllm_batch, False, "DLM alone: every position above a confidence threshold (Fast-dLLM)"))
register(DecoderSpec("codila", CodilaDecodeConfig, decode_codila_batch, True, "DLM + local AR over blocks of B (static, dynamic, verify)"))


def get_decoder(name: str) -> DecoderSpec:
    if name not in DECODERS:
        raise CodilaError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)} (see `codila ls`)")
    return DECODERS[name]
