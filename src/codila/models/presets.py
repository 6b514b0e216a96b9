"""Model sizes we train here, as transformers Qwen3 configs. Vocabulary size comes from the tokenizer."""

from __future__ import annotations

from transformers import Qwen3Config

from codila.errors import CodilaError

# name -> (hidden_size, layers, intermediate_size, attention heads)
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "test": (32, 2, 64, 2),  # seconds on a CPU: for the test suite
    "dlm-small": (256, 6, 768, 4),  # 6.2M parameters with a 4k vocabulary: the shipped DLM
    "ar-small": (128, 2, 384, 2),  # ~0.5M non-embedding parameters: about a tenth of dlm-small's
    "ar-base": (256, 4, 768, 4),  # ~3.1M non-embedding parameters: two thirds of dlm-small's layers, same width
    "planning": (64, 3, 256, 4),  # ~0.2M parameters: the planning DLM and its AR-only baseline (trains on a shared core)
    "planning-ar": (64, 2, 192, 2),  # ~0.1M: the planning DLM's local AR
    "planning-m": (128, 3, 384, 2),  # ~0.6M, head dim 64 (sharp lookups under q/k-norm): graph DLM and its baseline
}


def qwen3_config(preset: str, vocab_size: int, max_positions: int, bidirectional: bool) -> Qwen3Config:
    """A Qwen3 config of the given preset; `bidirectional=True` makes attention see both ways (the DLM)."""
    if preset not in PRESETS:
        raise CodilaError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    hidden, layers, intermediate, heads = PRESETS[preset]
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=intermediate,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=hidden // heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
    )
    config.is_causal = not bidirectional
    return config
