"""codila family: our own checkpoints, and any transformers model directory whose config says it is bidirectional
(`is_causal: false`): loaded as is with AutoModelForCausalLM (local files, no remote code). Unshifted logits unless its
codila.json says otherwise."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from codila.errors import CodilaError
from codila.models.families.base import Family, weight_files


def build(directory: Path, config: dict, dtype: torch.dtype, device: torch.device):
    if config.get("is_causal", True) and not (directory / "codila.json").is_file():
        raise CodilaError(
            f"{directory}: its config.json does not say is_causal: false, so it is not a bidirectional DLM; "
            f"pass --dlm-family dream or llada if it is one"
        )
    weight_files(directory)  # a clear error when the weights or a shard are missing
    model = AutoModelForCausalLM.from_pretrained(str(directory), local_files_only=True, dtype=dtype, trust_remote_code=False)
    model.config.is_causal = False
    return model.to(device).eval()


FAMILY = Family(
    "codila",
    (),
    shifted_logits=False,
    build=build,
    mask_tokens=("<|mask|>",),
    summary="codila's own checkpoints, or any transformers model whose config says is_causal: false",
)
