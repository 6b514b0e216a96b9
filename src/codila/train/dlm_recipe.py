"""The DLM recipe: masked diffusion on code windows (mask each token w.p. t, t ~ U(eps, 1), loss / t); a
`gap_fraction` of the windows is masked inside one contiguous gap only (infilling canvases, see gap_regions)."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from codila.diffusion.losses import masked_diffusion_loss
from codila.diffusion.masking import mask_tokens
from codila.models.dlm import selected_logits


class DlmRecipe:
    def __init__(self, model: PreTrainedModel, mask_id: int, gap_fraction: float = 0.0):
        self.model = model
        self.mask_id = mask_id
        self.gap_fraction = gap_fraction
        self.meta = {"kind": "dlm", "shifted_logits": False}

    def loss(self, windows: torch.Tensor, generator: torch.Generator, shard: tuple[int, int] | None = None) -> torch.Tensor:
        """The masked-diffusion loss of the batch. `shard` (rank, world): the masks are drawn for the whole batch, this
        rank keeps rows rank::world, scaled so that the ranks' mean is the batch's loss (normalised by B * L)."""
        noisy, masked, t = mask_tokens(windows, self.mask_id, generator, gap_fraction=self.gap_fraction)
        scale = 1.0
        if shard is not None:
            rank, world = shard
            scale = world * len(windows[rank::world]) / len(windows)
            windows, noisy, masked, t = windows[rank::world], noisy[rank::world], masked[rank::world], t[rank::world]
        masked_logits = selected_logits(self.model, noisy, masked)  # (M, V): the output layer runs on masked rows only
        return masked_diffusion_loss(masked_logits, windows, masked, t) * scale
