"""Dream family (Dream-v0, Dream-Coder, DiffuCoder, DreamOn): the Qwen2 architecture and state-dict keys with
bidirectional attention; logits shifted right by one; mask id from the config or the tokenizer. Loaded into
transformers' Qwen2 classes (config.json says model_type "Dream" and points at remote code, which is never run)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from codila.models.families.base import Family, empty_model, load_renamed

QWEN2_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "tie_word_embeddings",
    "attention_dropout",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
)


def build(directory: Path, config: dict, dtype: torch.dtype, device: torch.device):
    rope = config.get("rope_scaling") or {"rope_type": "default"}
    rope = {
        **rope,
        "rope_type": rope.get("rope_type", rope.get("type", "default")),
        "rope_theta": config.get("rope_theta", 10000.0),
    }
    qwen2 = Qwen2Config(**{key: config[key] for key in QWEN2_FIELDS if config.get(key) is not None}, rope_parameters=rope)
    qwen2.is_causal = False
    return load_renamed(empty_model(Qwen2ForCausalLM, qwen2), directory, lambda key: key, dtype, device)


FAMILY = Family(
    "dream",
    ("dream",),
    shifted_logits=True,
    build=build,
    mask_tokens=("<|mask|>",),
    expand_tokens=("<|expand|>",),
    summary="Dream-v0 / Dream-Coder / DiffuCoder / DreamOn: Qwen2 keys, bidirectional, logits shifted by one",
)
