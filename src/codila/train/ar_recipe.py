"""The local AR recipe: the DLM is frozen; blocks of B are masked with t ~ U(0.2, 0.8) and the AR learns to
produce each masked block's true tokens from the DLM's marginals (teacher forcing). The whole training window
counts as the response (code has no prompt/response split), except in the `gap_fraction` of windows that are
infilling canvases: there the response is one contiguous run of blocks (see gap_regions). `mask_unit` U > B (a
multiple of B): runs of U tokens are masked whole and read as U / B blocks, so that a block's neighbours are masked
too, as inside a span being decoded (B = 1 otherwise learns from lone masked tokens only)."""

from __future__ import annotations

import torch

from codila.data.responses import ResponseBatch
from codila.diffusion.masking import mask_blocks
from codila.models.dlm import DiffusionLM
from codila.models.local_ar import LocalAR


class ArRecipe:
    def __init__(self, ar: LocalAR, dlm: DiffusionLM, gap_fraction: float = 0.0, mask_unit: int | None = None):
        self.ar = ar
        self.dlm = dlm
        self.gap_fraction = gap_fraction
        self.mask_unit = mask_unit or ar.block_size
        self.model = ar.model
        self.meta = {
            "kind": "ar",
            "block_size": ar.block_size,
            "conditioning": ar.conditioning,
            "framed": ar.framed,
            "residual": ar.residual,
        }

    def loss(
        self, windows: torch.Tensor | ResponseBatch, generator: torch.Generator, shard: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """Mean cross-entropy of the masked blocks' tokens. `shard` (rank, world): the masks are drawn for the whole batch,
        this rank keeps rows rank::world and returns its share scaled so that the ranks' mean is the batch's mean."""
        region = None
        if isinstance(windows, ResponseBatch):  # prompt/response examples: only the response's blocks are masked
            windows, region = windows.tokens, windows.region
        batch, length = windows.shape
        block, unit = self.ar.block_size, self.mask_unit
        # (N, L), (N, L / B), drawn on the CPU (the generator's device), then moved to the models'
        noisy, masked_blocks = mask_blocks(
            windows, self.dlm.mask_id, block, generator, gap_fraction=self.gap_fraction, region=region, unit=unit
        )
        scale = 1.0
        if shard is not None:
            rank, world = shard
            total = int(masked_blocks.sum())
            windows, noisy, masked_blocks = windows[rank::world], noisy[rank::world], masked_blocks[rank::world]
            batch, scale = len(windows), world * int(masked_blocks.sum()) / total
        windows, noisy, masked_blocks = (t.to(self.dlm.device) for t in (windows, noisy, masked_blocks))
        masked = masked_blocks.repeat_interleave(block, dim=1)  # (N, L)
        # the masked blocks' marginals (M, B, V), row-major like the block selection; no gradient: the DLM is frozen
        block_marginals = self.dlm.selected_marginals(noisy, masked).unflatten(0, (-1, block))
        targets = windows.view(batch, length // block, block)[masked_blocks]  # (M, B)
        return self.ar.loss(block_marginals, targets) * scale
