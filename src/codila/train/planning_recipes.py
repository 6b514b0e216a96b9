"""Training recipes on planning layouts [prompt | answer] (codila.data.planning.base): the prompt is context and is
never masked nor scored; the answer is what every model learns.

- PlanningDlmRecipe: masked diffusion on the answer only (t ~ U(eps, 1), each answer token masked w.p. t); the loss is
  the ELBO (cross-entropy / t), `weighting="uniform"`, the mean cross-entropy of the masked tokens (lower variance),
  or "mgdm", MGDM's difficulty reweighting (codila.diffusion.losses.difficulty_weighted_loss).
  `shifted_logits`: row i-1 predicts token i (Dream's layout: a DLM started from an AR keeps its next-token head).
- PlanningArRecipe: the CoDiLA local AR on the frozen planning DLM, answer blocks of B masked as in ArRecipe.
- BaselineArRecipe: an ordinary causal LM over the layout, cross-entropy on the answer tokens (left to right)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from codila.diffusion.losses import difficulty_weighted_loss, masked_diffusion_loss
from codila.diffusion.masking import mask_blocks, mask_tokens
from codila.models.dlm import DiffusionLM, selected_logits
from codila.models.local_ar import LocalAR


def _with_prompt(windows: torch.Tensor, prompt_length: int, noisy_answer: torch.Tensor, masked_answer: torch.Tensor):
    """The full noisy layout and its masked positions (B, L) from the answer part's."""
    noisy = torch.cat([windows[:, :prompt_length], noisy_answer], dim=1)
    masked = torch.cat([torch.zeros_like(windows[:, :prompt_length], dtype=torch.bool), masked_answer], dim=1)
    return noisy, masked


DLM_WEIGHTINGS = ("elbo", "uniform", "mgdm")


class PlanningDlmRecipe:
    def __init__(
        self,
        model: PreTrainedModel,
        mask_id: int,
        prompt_length: int,
        meta: dict,
        weighting: str = "elbo",
        shifted_logits: bool = False,
    ):
        self.model, self.mask_id, self.prompt_length, self.weighting = model, mask_id, prompt_length, weighting
        self.shifted_logits = shifted_logits
        self.meta = {"kind": "dlm", "shifted_logits": shifted_logits, **meta}

    def loss(self, windows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        answer = windows[:, self.prompt_length :]
        noisy_answer, masked_answer, t = mask_tokens(answer, self.mask_id, generator)
        noisy, masked = _with_prompt(windows, self.prompt_length, noisy_answer, masked_answer)
        logits = selected_logits(self.model, noisy, masked, self.shifted_logits)
        if self.weighting == "uniform":
            return F.cross_entropy(logits, answer[masked_answer]) if len(logits) else logits.sum()
        if self.weighting == "mgdm":
            return difficulty_weighted_loss(logits, answer, masked_answer, t)
        return masked_diffusion_loss(logits, answer, masked_answer, t)


class PlanningArRecipe:
    def __init__(self, ar: LocalAR, dlm: DiffusionLM, prompt_length: int, meta: dict):
        self.ar, self.dlm, self.prompt_length, self.model = ar, dlm, prompt_length, ar.model
        self.meta = {"kind": "ar", "block_size": ar.block_size, "conditioning": ar.conditioning, "framed": ar.framed, **meta}

    def loss(self, windows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        answer = windows[:, self.prompt_length :]
        batch, block = answer.shape[0], self.ar.block_size
        noisy_answer, masked_blocks = mask_blocks(answer, self.dlm.mask_id, block, generator)  # (N, A), (N, A / B)
        noisy, masked = _with_prompt(windows, self.prompt_length, noisy_answer, masked_blocks.repeat_interleave(block, dim=1))
        block_marginals = self.dlm.selected_marginals(noisy, masked).unflatten(0, (-1, block))  # (M, B, V), no gradient
        targets = answer.reshape(batch, -1, block)[masked_blocks]  # (M, B)
        return self.ar.loss(block_marginals, targets)


class BaselineArRecipe:
    def __init__(self, model: PreTrainedModel, prompt_length: int, meta: dict):
        self.model, self.prompt_length = model, prompt_length
        self.meta = {"kind": "ar-baseline", "prompt_length": prompt_length, **meta}

    def loss(self, windows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        logits = self.model(
            input_ids=windows[:, :-1], use_cache=False, logits_to_keep=windows.shape[1] - self.prompt_length
        ).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, self.prompt_length :].reshape(-1))
