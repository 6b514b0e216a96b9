"""Training losses (pure functions of logits and targets)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_diffusion_loss(logits: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The masked-diffusion NELBO estimate: cross-entropy on masked tokens weighted by 1/t, per token.

    logits (B, L, V), targets (B, L), masked (B, L) bool, t (B,). Normalised by B * L (LLaDA, eq. 3).
    """
    token_loss = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, L)
    weighted = token_loss * masked / t[:, None]
    return weighted.sum() / targets.numel()
