"""Fast-dLLM's parallel decoding (arXiv 2505.22618): each step commits every masked position of the current window
whose top-1 probability is at least `threshold` (at least the most confident one), with the DLM alone."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from codila.decoding.canvas import Canvas
from codila.decoding.dlm import decode_most_certain
from codila.decoding.result import DecodeResult
from codila.errors import CodilaError
from codila.models.dlm import DiffusionLM


@dataclass
class FastDllmConfig:
    """threshold: commit every position at least this confident (Fast-dLLM's default 0.9).
    temperature, top_p: how the committed tokens are drawn (0: the argmax).
    semi_ar_block: 0, or the window length (left to right; Fast-dLLM decodes in blocks).
    cache: "none", "prefix" or "dual" (Fast-dLLM's approximate KV cache; needs semi_ar_block > 0)."""

    threshold: float = 0.9
    temperature: float = 0.0
    top_p: float = 1.0
    semi_ar_block: int = 0
    cache: str = "none"


def decode_fast_dllm_batch(dlm: DiffusionLM, ar, canvases: list[Canvas], config: FastDllmConfig,
                           generators: list[torch.Generator]) -> list[DecodeResult]:
    if not 0 <= config.threshold <= 1:
        raise CodilaError(f"the confidence threshold is a probability in [0, 1], got {config.threshold}")
    return decode_most_certain(dlm, canvases, generators, selection="confidence",
                               count=lambda scores: max(1, int((scores >= config.threshold).sum())),
                               temperature=config.temperature, top_p=config.top_p, semi_ar_block=config.semi_ar_block,
                               cache=config.cache)
