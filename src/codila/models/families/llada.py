"""LLaDA family: OLMo-style module names (model.transformer.blocks.N.q_proj / attn_out / ff_proj / up_proj / ff_out,
attn_norm, ff_norm; wte, ln_f, and transformer.ff_out as the output layer) mapped onto transformers' Llama classes with
bidirectional attention. Its LLaDALlamaBlock computes ff_out(act(ff_proj(x)) * up_proj(x)): ff_proj is Llama's gate
projection. No logit shift; mask id 126336 unless the config or the tokenizer says otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from transformers import AttentionInterface, LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

from codila.errors import CodilaError
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


# Every config.json field of the published LLaDA checkpoints (LLaDA-8B-Base / -Instruct, LLaDA-1.5) -> what codila does
# with it (docs/real-models.md prints this table; a test checks every field of the layout is named here). "refused
# unless X": any other value would change the forward in a way the Llama mapping does not implement.
CONFIG_FIELDS: dict[str, str] = {
    "d_model": "hidden_size",
    "n_heads": "num_attention_heads",
    "n_kv_heads": "num_key_value_heads (n_heads when null)",
    "n_layers": "num_hidden_layers",
    "mlp_hidden_size": "intermediate_size",
    "mlp_ratio": "unused: mlp_hidden_size is set",
    "embedding_size": "vocab_size of the model (embedding and output rows; vocab_size when null)",
    "vocab_size": "the tokenizer's size (rows beyond it are banned from decoding)",
    "max_sequence_length": "max_position_embeddings (the longest canvas)",
    "rope": "refused unless true (RoPE; LLaDA's published models all use it)",
    "rope_theta": "rope_theta",
    "rope_full_precision": "RoPE applied in float32 and cast back, as LLaDA's RotaryEmbedding (true in the published "
    "configs): changes bf16 logits (up to 0.5) and greedy decodes",
    "rms_norm_eps": "rms_norm_eps",
    "layer_norm_type": "refused unless rms",
    "layer_norm_with_affine": "refused unless true (the norm weights in the checkpoint)",
    "bias_for_layer_norm": "refused unless false/null",
    "attention_layer_norm": "refused unless false (no q/k norm)",
    "attention_layer_norm_with_affine": "unused (attention_layer_norm is false)",
    "block_type": "refused unless llama (LLaDALlamaBlock: ff_proj is the gate)",
    "activation_type": "refused unless silu or swiglu (SiLU-gated MLP)",
    "alibi": "refused unless false",
    "alibi_bias_max": "unused (alibi is false)",
    "include_bias": "attention and MLP biases (false in the published models)",
    "include_qkv_bias": "q/k/v biases (false in the published models)",
    "weight_tying": "tie_word_embeddings",
    "scale_logits": "refused unless false",
    "input_emb_norm": "refused unless false",
    "clip_qkv": "refused unless null",
    "multi_query_attention": "unused (n_kv_heads decides)",
    "flash_attention": "unused: the attention kernel is transformers' sdpa (same maths)",
    "attention_dropout": "unused at inference (eval mode)",
    "residual_dropout": "unused at inference",
    "embedding_dropout": "unused at inference",
    "init_device": "unused: weights are read, never initialised",
    "init_fn": "unused (initialisation)",
    "init_std": "unused (initialisation)",
    "init_cutoff_factor": "unused (initialisation)",
    "precision": "unused (the training precision; --dtype chooses the inference dtype)",
    "block_group_size": "unused (FSDP grouping in training)",
    "mask_token_id": "the mask token (126336 when absent)",
    "eos_token_id": "EOS (else the tokenizer's)",
    "pad_token_id": "unused by decoding (canvases are never padded)",
    "use_cache": "unused: decoding keeps no cache unless --cache",
    "torch_dtype": "unused: --dtype chooses",
    "model_type": "selects the llada family",
    "architectures": "informational",
    "auto_map": "never run (no remote code)",
    "transformers_version": "informational",
}
REQUIRED = {  # field -> accepted values (absent = accepted)
    "rope": (True,),
    "layer_norm_type": ("rms",),
    "layer_norm_with_affine": (True,),
    "bias_for_layer_norm": (False, None),
    "attention_layer_norm": (False,),
    "block_type": ("llama",),
    "activation_type": ("silu", "swiglu"),
    "alibi": (False,),
    "scale_logits": (False,),
    "input_emb_norm": (False,),
    "clip_qkv": (None,),
}
ROPE_FP32 = "codila_llada_rope_fp32"


def check_config(config: dict) -> None:
    for key, accepted in REQUIRED.items():
        if key in config and config[key] not in accepted:
            raise CodilaError(
                f"LLaDA config {key}: {config[key]!r} changes the forward in a way codila does not implement "
                f"(supported: {', '.join(map(repr, accepted))})"
            )


class FullPrecisionRotary(LlamaRotaryEmbedding):
    """cos/sin kept in float32 whatever the model's dtype: q * cos then promotes q and k to float32, as LLaDA's
    RotaryEmbedding with rope_full_precision (they are cast back to the model's dtype in `rope_fp32_attention`)."""

    def forward(self, x, position_ids):
        return super().forward(x.new_empty(0, dtype=torch.float32), position_ids)


def rope_fp32_attention(module, query, key, value, attention_mask, **kwargs):
    """transformers' sdpa attention after casting the float32-rotated queries and keys back to the model's dtype (a
    key/value cache may hold them, and the values with them, in float32: exact upcasts, cast back exactly)."""
    sdpa = AttentionInterface._global_mapping["sdpa"]
    dtype = module.o_proj.weight.dtype
    return sdpa(module, query.to(dtype), key.to(dtype), value.to(dtype), attention_mask, **kwargs)


AttentionInterface.register(ROPE_FP32, rope_fp32_attention)


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
    check_config(config)
    model = empty_model(LlamaForCausalLM, llama_config(config))
    if config.get("rope_full_precision", True):  # LLaDA's ModelConfig default
        model.model.rotary_emb = FullPrecisionRotary(model.config)
        model.set_attn_implementation(ROPE_FP32)
    return load_renamed(model, directory, rename, dtype, device)


FAMILY = Family(
    "llada",
    ("llada",),
    shifted_logits=False,
    build=build,
    default_mask_id=LLADA_MASK_ID,
    mask_tokens=("<|mdm_mask|>",),
    summary="LLaDA: OLMo-style keys mapped onto Llama, bidirectional, no shift",
)
