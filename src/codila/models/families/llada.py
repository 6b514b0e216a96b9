"""LLaDA family: OLMo-style module names (model.transformer.blocks.N.q_proj / attn_out / ff_proj / up_proj / ff_out,
attn_norm, ff_norm; wte, ln_f, and transformer.ff_out as the output layer) mapped onto transformers' Llama classes with
bidirectional attention. Its LLaDALlamaBlock computes ff_out(act(ff_proj(x)) * up_proj(x)): ff_proj is Llama's gate
projection. No logit shift; mask id 126336 unless the config or the tokenizer says otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from codila.models.families.base import Family, empty_model, load_renamed

LLADA_MASK_ID = 126336  # the published models' config.json mask_token_id

BLOCK_KEYS = {  # LLaDA block module -> Llama decoder-layer module
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "attn_out": "self_attn.o_proj",
    "ff_proj": "mlp.gate_proj",
    "up_proj": "mlp.up_proj",
    "ff_out": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ff_norm": "post_attention_layernorm",
}
TOP_KEYS = {
    "model.transformer.wte.weight": "model.embed_tokens.weight",
    "model.transformer.ln_f.weight": "model.norm.weight",
    "model.transformer.ff_out.weight": "lm_head.weight",
}
BLOCK_PATTERN = re.compile(r"model\.transformer\.blocks\.(\d+)\.(\w+)\.(weight|bias)")


def rename(key: str) -> str:
    """A LLaDA state-dict key -> the Llama key (unknown keys pass unchanged, so that loading names them)."""
    if key in TOP_KEYS:
        return TOP_KEYS[key]
    match = BLOCK_PATTERN.fullmatch(key)
    if match and match.group(2) in BLOCK_KEYS:
        return f"model.layers.{match.group(1)}.{BLOCK_KEYS[match.group(2)]}.{match.group(3)}"
    return key


def llama_config(config: dict) -> LlamaConfig:
    llama = LlamaConfig(
        vocab_size=config.get("embedding_size") or config["vocab_size"],
        hidden_size=config["d_model"],
        intermediate_size=config["mlp_hidden_size"],
        num_hidden_layers=config["n_layers"],
        num_attention_heads=config["n_heads"],
        num_key_value_heads=config.get("n_kv_heads") or config["n_heads"],
        max_position_embeddings=config.get("max_sequence_length", 4096),
        rms_norm_eps=config.get("rms_norm_eps", 1e-5),
        rope_parameters={"rope_type": "default", "rope_theta": config.get("rope_theta", 10000.0)},
        tie_word_embeddings=bool(config.get("weight_tying", False)),
        attention_bias=bool(config.get("include_bias") or config.get("include_qkv_bias")),
        mlp_bias=bool(config.get("include_bias")),
    )
    llama.is_causal = False
    return llama


def build(directory: Path, config: dict, dtype: torch.dtype, device: torch.device):
    return load_renamed(empty_model(LlamaForCausalLM, llama_config(config)), directory, rename, dtype, device)


FAMILY = Family(
    "llada",
    ("llada",),
    shifted_logits=False,
    build=build,
    default_mask_id=LLADA_MASK_ID,
    mask_tokens=("<|mdm_mask|>",),
    summary="LLaDA: OLMo-style keys mapped onto Llama, bidirectional, no shift",
)
