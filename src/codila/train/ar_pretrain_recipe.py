"""The local AR's pretraining recipe: a plain causal language model on code windows (next-token cross-entropy),
as the paper's AR starts from a pretrained LM (Qwen3). Targets after a window's first EOS are padding and are
left out; the first EOS itself is learnt (a file ends)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

# codila.json kind of a pretrained AR: a causal LM with no block size yet (`codila train ar --init` picks one)
PRETRAINED_AR_KIND = "ar-lm"


def causal_lm_targets(windows: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Next-token targets (N, L - 1) of windows (N, L): -100 (ignored) where the input token is EOS padding."""
    targets = windows[:, 1:].clone()
    targets[windows[:, :-1] == eos_id] = -100
    return targets


class CausalLmRecipe:
    def __init__(self, model: PreTrainedModel, eos_id: int):
        self.model = model
        self.eos_id = eos_id
        self.meta = {"kind": PRETRAINED_AR_KIND}

    def loss(self, windows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        logits = self.model(input_ids=windows[:, :-1]).logits  # (N, L - 1, V)
        targets = causal_lm_targets(windows, self.eos_id)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
