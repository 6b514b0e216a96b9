"""Forward (noising) processes: token masking for the DLM, block masking for the local AR (pure functions)."""

from __future__ import annotations

import torch


def gap_regions(batch: int, length: int, unit: int, gap_fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Where each sequence may be masked, in units of `unit` tokens: (B, L // unit) bool.

    A `gap_fraction` of the sequences (chosen at random) are *gap* sequences: only a contiguous run of units,
    of a length uniform in [1, n_units // 2] at a uniform place, may be masked, the rest is clean context. That
    is what an infilling canvas looks like (prefix, masked gap, suffix), and the loss on it is the masked-diffusion
    bound of the gap given its context. The other sequences may be masked anywhere (the plain forward process)."""
    n_units = length // unit
    region = torch.ones(batch, n_units, dtype=torch.bool)
    is_gap = torch.rand(batch, generator=generator) < gap_fraction  # (B,)
    gap_length = torch.randint(1, max(1, n_units // 2) + 1, (batch,), generator=generator)  # (B,)
    gap_start = (torch.rand(batch, generator=generator) * (n_units - gap_length + 1)).long()  # (B,)
    units = torch.arange(n_units)[None]  # (1, N)
    inside = (units >= gap_start[:, None]) & (units < (gap_start + gap_length)[:, None])  # (B, N)
    return torch.where(is_gap[:, None], inside, region)


def mask_tokens(
    tokens: torch.Tensor, mask_id: int, generator: torch.Generator, eps: float = 1e-3, gap_fraction: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masked diffusion forward process: t ~ U(eps, 1) per sequence, each token masked with probability t
    (`gap_fraction` > 0: that share of the sequences is masked inside one contiguous gap only, see gap_regions).

    Returns (noisy tokens (B, L), masked (B, L) bool, t (B,)).
    """
    batch, length = tokens.shape
    t = eps + (1 - eps) * torch.rand(batch, generator=generator)  # (B,)
    masked = torch.rand(batch, length, generator=generator) < t[:, None]  # (B, L)
    if gap_fraction > 0:
        masked &= gap_regions(batch, length, 1, gap_fraction, generator)
    return torch.where(masked, torch.full_like(tokens, mask_id), tokens), masked, t


def mask_blocks(
    tokens: torch.Tensor,
    mask_id: int,
    block_size: int,
    generator: torch.Generator,
    t_low: float = 0.2,
    t_high: float = 0.8,
    eps: float = 1e-3,
    gap_fraction: float = 0.0,
    region: torch.Tensor | None = None,
    unit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The AR's training forward process: blocks of `block_size` masked whole with p = (1-eps) t + eps.

    t ~ U(t_low, t_high) per sequence; at least one block per sequence is masked. `gap_fraction` > 0: that
    share of the sequences is the *response* of an infilling canvas, a contiguous run of blocks (gap_regions),
    and only its blocks are masked (the paper never masks the prompt; here the context around the gap).
    `region` (B, L // block_size) bool: the blocks that may be masked (a prompt/response example: the response's);
    it replaces gap_fraction.
    `unit` (a multiple of `block_size`; default the block size): runs of `unit` tokens are what is masked whole (and
    what gap_fraction counts in), each read as unit / block_size blocks.
    Returns (noisy tokens (B, L), masked blocks (B, L // block_size) bool).
    """
    unit = unit or block_size
    if unit % block_size:
        raise ValueError(f"mask unit {unit} is not a multiple of block size {block_size}")
    if region is not None and unit != block_size:
        raise ValueError("a region is given in blocks: it takes no mask unit")
    units, masked = _mask_units(tokens, mask_id, unit, generator, t_low, t_high, eps, gap_fraction, region)
    return masked, units.repeat_interleave(unit // block_size, dim=1)


def _mask_units(tokens, mask_id, block_size, generator, t_low, t_high, eps, gap_fraction, region):
    """mask_blocks with unit == block_size: (masked blocks (B, L // block_size), noisy tokens (B, L))."""
    batch, length = tokens.shape
    if length % block_size:
        raise ValueError(f"sequence length {length} is not a multiple of block size {block_size}")
    n_blocks = length // block_size
    t = t_low + (t_high - t_low) * torch.rand(batch, generator=generator)  # (B,)
    p_mask = (1 - eps) * t + eps
    if region is None and gap_fraction > 0:
        region = gap_regions(batch, n_blocks * block_size, block_size, gap_fraction, generator)
    blocks = torch.rand(batch, n_blocks, generator=generator) < p_mask[:, None]  # (B, N)
    if region is not None:
        blocks &= region
    forced = torch.randint(n_blocks, (batch,), generator=generator)
    if region is not None:  # the forced block lies inside the region: its first block, shifted by `forced` mod its length
        first, size = region.float().argmax(1), region.sum(1)
        forced = first + forced % size
    blocks[torch.arange(batch), forced] |= ~blocks.any(dim=1)
    masked = blocks.repeat_interleave(block_size, dim=1)  # (B, L)
    return blocks, torch.where(masked, torch.full_like(tokens, mask_id), tokens)
