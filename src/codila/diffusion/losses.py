"""Training losses (pure functions of logits and targets)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_diffusion_loss(
    masked_logits: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """The masked-diffusion NELBO estimate: cross-entropy on masked tokens weighted by 1/t, per token.

    masked_logits (M, V): the logits of the masked positions only, in row-major order (`logits[masked]`);
    targets (B, L), masked (B, L) bool with M True, t (B,). Normalised by B * L (LLaDA, eq. 3).
    """
    token_loss = F.cross_entropy(masked_logits, targets[masked], reduction="none")  # (M,)
    weight = (1 / t)[:, None].expand_as(targets)[masked]  # (M,)
    return (token_loss * weight).sum() / targets.numel()
