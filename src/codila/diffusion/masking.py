"""Forward (noising) processes: token masking for the DLM, block masking for the local AR (pure functions)."""

from __future__ import annotations

import torch


def mask_tokens(
    tokens: torch.Tensor, mask_id: int, generator: torch.Generator, eps: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masked diffusion forward process: t ~ U(eps, 1) per sequence, each token masked with probability t.

    Returns (noisy tokens (B, L), masked (B, L) bool, t (B,)).
    """
    batch, length = tokens.shape
    t = eps + (1 - eps) * torch.rand(batch, generator=generator)  # (B,)
    masked = torch.rand(batch, length, generator=generator) < t[:, None]  # (B, L)
    return torch.where(masked, torch.full_like(tokens, mask_id), tokens), masked, t


def mask_blocks(
    tokens: torch.Tensor,
    mask_id: int,
    block_size: int,
    generator: torch.Generator,
    t_low: float = 0.2,
    t_high: float = 0.8,
    eps: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The AR's training forward process: blocks of `block_size` masked whole with p = (1-eps) t + eps.

    t ~ U(t_low, t_high) per sequence; at least one block per sequence is masked.
    Returns (noisy tokens (B, L), masked blocks (B, L // block_size) bool).
    """
    batch, length = tokens.shape
    if length % block_size:
        raise ValueError(f"sequence length {length} is not a multiple of block size {block_size}")
    n_blocks = length // block_size
    t = t_low + (t_high - t_low) * torch.rand(batch, generator=generator)  # (B,)
    p_mask = (1 - eps) * t + eps
    blocks = torch.rand(batch, n_blocks, generator=generator) < p_mask[:, None]  # (B, N)
    forced = torch.randint(n_blocks, (batch,), generator=generator)
    blocks[torch.arange(batch), forced] |= ~blocks.any(dim=1)
    masked = blocks.repeat_interleave(block_size, dim=1)  # (B, L)
    return torch.where(masked, torch.full_like(tokens, mask_id), tokens), blocks
