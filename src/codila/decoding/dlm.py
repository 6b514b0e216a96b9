"""The DLM-only baseline: K tokens per step, committed where the DLM is most certain."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from codila.decoding.canvas import Canvas
from codila.decoding.result import CommitLog, DecodeResult
from codila.decoding.sampling import entropy, sample_top_p
from codila.errors import CodilaError
from codila.models.dlm import DiffusionLM


@dataclass
class DlmDecodeConfig:
    """tokens_per_step: K positions committed per DLM forward.
    selection: which positions go first: "entropy" (lowest entropy; the paper's baseline), "confidence"
        (highest top-1 probability) or "margin" (largest top-1 minus top-2 probability).
    temperature: 0 commits the argmax token; > 0 samples (top_p nucleus) from the DLM's marginal.
    semi_ar_block: 0 decodes the whole region in any order; n > 0 decodes blocks of n positions left to
        right, any order inside a block (LLaDA's semi-autoregressive remasking)."""

    tokens_per_step: int = 1
    selection: str = "entropy"
    temperature: float = 0.0
    top_p: float = 1.0
    semi_ar_block: int = 0


def certainty(logits: torch.Tensor, selection: str) -> torch.Tensor:
    """(..., V) logits -> (...) scores, higher = commit first."""
    if selection == "entropy":
        return -entropy(logits)
    probs = torch.softmax(logits, dim=-1)
    if selection == "confidence":
        return probs.max(-1).values
    if selection == "margin":
        top2 = probs.topk(2, dim=-1).values
        return top2[..., 0] - top2[..., 1]
    raise CodilaError(f"unknown selection {selection!r}; choose entropy, confidence or margin")


def active_positions(canvas: Canvas, semi_ar_block: int) -> torch.Tensor:
    """Masked positions that may be committed now (1D): all of them, or those of the first unfinished
    semi-autoregressive block."""
    masked = torch.nonzero(canvas.masked()).flatten()
    if semi_ar_block <= 0:
        return masked
    block_of = (masked - canvas.start) // semi_ar_block
    return masked[block_of == block_of.min()]


def decode_dlm(dlm: DiffusionLM, ar, canvas: Canvas, config: DlmDecodeConfig, generator: torch.Generator) -> DecodeResult:
    """Decode with the DLM alone: each step, one forward, then the K most certain masked positions."""
    if config.tokens_per_step < 1:
        raise CodilaError(f"tokens per step must be >= 1, got {config.tokens_per_step}")
    certainty(torch.zeros(2), config.selection)  # validates the name before any work
    forwards_before = dlm.forwards
    log = CommitLog(canvas.copy(), dlm.special.eos_id)
    region = torch.arange(canvas.start, canvas.end)
    while not log.done():
        logits = dlm.logits(log.canvas.ids[None], region)[0]  # (R, V): the decoded region only
        candidates = active_positions(log.canvas, config.semi_ar_block)
        scores = certainty(logits[candidates - canvas.start], config.selection)  # (C,)
        chosen = candidates[scores.topk(min(config.tokens_per_step, len(candidates))).indices]
        tokens = sample_top_p(logits[chosen - canvas.start], config.temperature, config.top_p, generator)
        log.commit(chosen, tokens)
    return log.finish(dlm.forwards - forwards_before, 0)
