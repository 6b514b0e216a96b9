"""Token sampling and uncertainty scores from logits (pure functions, explicit generator)."""

from __future__ import annotations

import torch


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of softmax(logits) over the last dimension."""
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def _sorted_head(probs: torch.Tensor, top_p: float, head: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The most likely tokens in descending order: only the first `head` when they already hold `top_p` of
    the mass in every row (the nucleus is then inside them), else all of them."""
    if probs.shape[-1] > head:
        values, order = probs.topk(head, dim=-1)
        if bool((values.sum(-1) >= top_p).all()):
            return values, order
    return probs.sort(dim=-1, descending=True)


def sample_top_p(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> torch.Tensor:
    """Nucleus sampling from (..., V) logits; temperature 0 is argmax. Returns (...) token ids."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = _sorted_head(probs, top_p)
    keep = sorted_probs.cumsum(-1) - sorted_probs < top_p  # always keeps the most likely token
    sorted_probs = sorted_probs * keep
    flat = sorted_probs.reshape(-1, sorted_probs.shape[-1])
    choice = torch.multinomial(flat, 1, generator=generator).reshape(sorted_probs.shape[:-1] + (1,))
    return order.gather(-1, choice).squeeze(-1)
