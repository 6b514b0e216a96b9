"""The local AR's cached decoding step for Qwen3 models, in plain tensor ops over the model's own weights.

Why: a local AR decodes B tokens per CoDiLA step, so its per-call cost is pure overhead on top of the DLM
forward, and on a CPU a small AR's call is dominated by the number of tensor ops, not by arithmetic (its
matrix products run near the core's peak; the ~100 other ops cost ~5 us each). This step runs Qwen3's exact
math (RMSNorm, q/k norms, rotary embeddings, grouped-query attention, SwiGLU) with few ops: fused q/k/v and
gate/up projections, the RMSNorm weights in front of a projection folded into its columns
(norm(x) * w @ W.T == norm(x) @ (W * w).T), one norm and one rotation for queries and keys together, a rotary
table computed once, and plain attention for one-token steps. torch.compile was tried on this function and
lost: with shapes that change every call (blocks, cache length) it recompiled past its limit (15 graphs, 65 s)
and ran slower than eager; compiling only the one-token steps (dynamic shapes, 21 s to compile) left a B=8
block's decoding where it was on a quiet CPU (7.3 ms eager, 7.5 ms compiled, N=1). Tests check the step against
the model's own forward; other architectures use the transformers path (`supports`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

KvCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (N, kv_heads, T, head_dim)


class LayerWeights(NamedTuple):
    qkv: torch.Tensor  # ((heads + 2 kv_heads) head_dim, H): q, k, v projections stacked, input norm folded in
    qk_norm: torch.Tensor  # (heads + kv_heads, head_dim): q norm per query head (times 1/sqrt(head_dim)), k norm per key head
    output: torch.Tensor  # (H, heads head_dim)
    gate_up: torch.Tensor  # (2 I, H): gate and up projections stacked, post-attention norm folded in
    down: torch.Tensor  # (H, I)


def supports(model: PreTrainedModel) -> bool:
    config = model.config
    return (config.model_type == "qwen3" and not getattr(config, "use_sliding_window", False) and not config.attention_bias
            and config.hidden_act == "silu")


def _scale_rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) over the last dimension: RMSNorm without its weight, in few ops."""
    return x * (x.square().mean(-1, keepdim=True) + eps).rsqrt()


def _attention(hidden: torch.Tensor, weights: LayerWeights, cos: torch.Tensor, signed_sin: torch.Tensor,
               past: tuple[torch.Tensor, torch.Tensor] | None, shape: tuple[int, int, int, float]):
    heads, kv_heads, head_dim, eps = shape
    n, length, _ = hidden.shape
    qkv = F.linear(hidden, weights.qkv).view(n, length, heads + 2 * kv_heads, head_dim)
    query_key = (_scale_rms(qkv[:, :, : heads + kv_heads], eps) * weights.qk_norm).transpose(1, 2)  # (N, heads + kv, T, hd)
    # rotary embedding: rotate_half(x) * sin == roll(x, hd / 2) * signed_sin (the sign lives in the table)
    query_key = torch.addcmul(query_key * cos, query_key.roll(head_dim // 2, -1), signed_sin)
    query, key = query_key[:, :heads], query_key[:, heads:]
    value = qkv[:, :, heads + kv_heads :].transpose(1, 2)
    if past is None:  # a prefill is causal; queries are pre-scaled by 1/sqrt(head_dim)
        output = F.scaled_dot_product_attention(query, key, value, is_causal=length > 1, scale=1.0, enable_gqa=kv_heads != heads)
    else:  # one new token attends to everything before it: three plain ops beat the fused kernel's set-up
        key, value = torch.cat([past[0], key], dim=2), torch.cat([past[1], value], dim=2)
        grouped = query.reshape(n, kv_heads, heads // kv_heads, head_dim)  # (N, kv, group, hd)
        output = (torch.softmax(grouped @ key.transpose(2, 3), dim=-1) @ value).view(n, heads, 1, head_dim)
    return F.linear(output.transpose(1, 2).reshape(n, length, -1), weights.output), (key, value)


def fused_forward(inputs: torch.Tensor, layers: list[LayerWeights], lm_head: torch.Tensor, cos: torch.Tensor,
                  signed_sin: torch.Tensor, pasts: KvCache | None, shape: tuple[int, int, int, float]):
    """Logits (N, V) of the last of `inputs` (N, T, H) and the new keys/values of every layer.

    `pasts` None is a prefill (causal over T); else T == 1 and `pasts` holds each layer's keys and values so far.
    cos, signed_sin (T, hd): the rotary table at these positions; shape: (heads, kv_heads, head_dim, eps)."""
    hidden, cache = inputs, []
    eps = shape[3]
    for index, weights in enumerate(layers):
        attended, kv = _attention(_scale_rms(hidden, eps), weights, cos, signed_sin, None if pasts is None else pasts[index], shape)
        cache.append(kv)
        hidden = hidden + attended
        gate, up = F.linear(_scale_rms(hidden, eps), weights.gate_up).chunk(2, dim=-1)
        hidden = hidden + F.linear(F.silu(gate) * up, weights.down)
    return F.linear(_scale_rms(hidden[:, -1], eps), lm_head), cache


class Qwen3Step:
    """`step(inputs, cache)` -> logits of the last input, extending `cache` (a list, empty at the start).

    The fused weights are copies: they are rebuilt whenever a parameter of the model changed in place (training
    between decodings), checked by the parameters' version counters at each prefill."""

    def __init__(self, model: PreTrainedModel):
        config = model.config
        self.model = model
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.shape = (config.num_attention_heads, config.num_key_value_heads, head_dim, float(config.rms_norm_eps))
        self._versions: tuple[int, ...] | None = None
        self._layers: list[LayerWeights] = []
        self._cos = self._signed_sin = self._lm_head = torch.empty(0)

    def _refresh(self) -> None:
        """Rebuild the fused weights and the rotary table if any parameter changed since the last build."""
        parameters = list(self.model.parameters())
        versions = tuple(p._version for p in parameters) + tuple(p.data_ptr() for p in parameters)
        if versions == self._versions:
            return
        core = self.model.model
        heads, kv_heads, head_dim, _ = self.shape
        with torch.no_grad():
            self._layers = [
                LayerWeights(
                    torch.cat([layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight, layer.self_attn.v_proj.weight])
                    * layer.input_layernorm.weight,
                    torch.cat([(layer.self_attn.q_norm.weight * head_dim**-0.5).expand(heads, -1),
                               layer.self_attn.k_norm.weight.expand(kv_heads, -1)]),
                    layer.self_attn.o_proj.weight.detach(),
                    torch.cat([layer.mlp.gate_proj.weight, layer.mlp.up_proj.weight]) * layer.post_attention_layernorm.weight,
                    layer.mlp.down_proj.weight.detach(),
                )
                for layer in core.layers
            ]
            self._lm_head = self.model.lm_head.weight * core.norm.weight  # (V, H): the final norm folded in
            positions = torch.arange(self.model.config.max_position_embeddings)[None]
            cos, sin = core.rotary_emb(core.norm.weight[None, None], positions)  # (1, P, head_dim)
            half = head_dim // 2
            self._cos, self._signed_sin = cos[0], torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)  # (P, head_dim)
        self._versions = versions

    def __call__(self, inputs: torch.Tensor, cache: KvCache) -> torch.Tensor:
        """inputs (N, T, H) embeddings at the positions after the cache's; returns logits (N, V) of the last one."""
        prefill = not cache
        if prefill:
            self._refresh()
        elif inputs.shape[1] != 1:
            raise ValueError("after the prefill, decode one token per call")
        offset = 0 if prefill else cache[0][0].shape[2]
        positions = slice(offset, offset + inputs.shape[1])
        logits, new_cache = fused_forward(inputs, self._layers, self._lm_head, self._cos[positions],
                                          self._signed_sin[positions], None if prefill else list(cache), self.shape)
        cache[:] = new_cache
        return logits
