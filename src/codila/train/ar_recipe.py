"""The local AR recipe: the DLM is frozen; blocks of B are masked with t ~ U(0.2, 0.8) and the AR learns to
produce each masked block's true tokens from the DLM's marginals (teacher forcing). The whole training window
counts as the response (code has no prompt/response split), except in the `gap_fraction` of windows that are
infilling canvases: there the response is one contiguous run of blocks (see gap_regions)."""

from __future__ import annotations

import torch

from codila.diffusion.masking import mask_blocks
from codila.models.dlm import DiffusionLM
from codila.models.local_ar import LocalAR


class ArRecipe:
    def __init__(self, ar: LocalAR, dlm: DiffusionLM, gap_fraction: float = 0.0):
        self.ar = ar
        self.dlm = dlm
        self.gap_fraction = gap_fraction
        self.model = ar.model
        self.meta = {"kind": "ar", "block_size": ar.block_size, "conditioning": ar.conditioning, "framed": ar.framed}

    def loss(self, windows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, length = windows.shape
        block = self.ar.block_size
        # (N, L), (N, L / B)
        noisy, masked_blocks = mask_blocks(windows, self.dlm.mask_id, block, generator, gap_fraction=self.gap_fraction)
        masked = masked_blocks.repeat_interleave(block, dim=1)  # (N, L)
        # the masked blocks' marginals (M, B, V), row-major like the block selection; no gradient: the DLM is frozen
        block_marginals = self.dlm.selected_marginals(noisy, masked).unflatten(0, (-1, block))
        targets = windows.view(batch, length // block, block)[masked_blocks]  # (M, B)
        return self.ar.loss(block_marginals, targets)
