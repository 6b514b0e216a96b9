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


def difficulty_weighted_loss(
    masked_logits: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor, t: torch.Tensor, gamma: float = 2.0
) -> torch.Tensor:
    """MGDM's objective ("Beyond Autoregression", Ye et al. 2024): token-level reweighting puts the weight on tokens
    the model still gets wrong (focal factor (1 - p)^gamma, p its probability of the target), sequence-level
    reweighting on sequences with few masks (weight 1 - t, their "linear" schedule), mean over masked tokens.
    Shapes as in masked_diffusion_loss."""
    token_loss = F.cross_entropy(masked_logits, targets[masked], reduction="none")  # (M,)
    focal = (1 - torch.exp(-token_loss)) ** gamma  # (M,), differentiated through, as MGDM does
    weight = (1 - t)[:, None].expand_as(targets)[masked]  # (M,)
    return (focal * token_loss * weight).sum() / masked.sum().clamp(min=1)
