"""Dream family (Dream-v0, Dream-Coder, DiffuCoder, DreamOn): the Qwen2 architecture and state-dict keys with
bidirectional attention; logits shifted right by one; mask id from the config or the tokenizer. Loaded into
transformers' Qwen2 classes (config.json says model_type "Dream" and points at remote code, which is never run)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from codila.errors import CodilaError
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


# Every config.json field of the published Dream-family checkpoints (Dream-v0, Dream-Coder-v0, DreamOn, DiffuCoder) -> what
# codila does with it (docs/real-models.md prints this table; a test checks every field of the layout is named here).
CONFIG_FIELDS: dict[str, str] = {
    **{key: f"Qwen2Config {key}" for key in QWEN2_FIELDS},
    "rope_theta": "rope_theta (RoPE in the model's dtype, as Dream's own DreamRotaryEmbedding)",
    "rope_scaling": "rope_parameters (null: default RoPE)",
    "vocab_size": "Qwen2Config vocab_size: the output rows (152,064; rows beyond the tokenizer are banned from decoding)",
    "mask_token_id": "the mask token (else the tokenizer's <|mask|>)",
    "use_sliding_window": "refused unless false (Dream attends to the whole canvas)",
    "sliding_window": "unused (use_sliding_window is false)",
    "max_window_layers": "unused (use_sliding_window is false)",
    "initializer_range": "unused: weights are read, never initialised",
    "use_cache": "unused: decoding keeps no cache unless --cache",
    "torch_dtype": "unused: --dtype chooses",
    "model_type": "selects the dream family",
    "architectures": "informational",
    "auto_map": "never run (no remote code)",
    "transformers_version": "informational",
}


def build(directory: Path, config: dict, dtype: torch.dtype, device: torch.device):
    if config.get("use_sliding_window"):
        raise CodilaError(
            f"{directory}: use_sliding_window: true is not implemented for Dream models (the published ones say false)"
        )
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
