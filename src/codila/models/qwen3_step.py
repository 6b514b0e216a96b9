"""The local AR's cached decoding step for Qwen3 models, in plain tensor ops over the model's own weights.

Why: a local AR decodes B tokens per CoDiLA step, so its per-call cost is pure overhead on top of the DLM
forward, and on a CPU a small AR's call is dominated by the number of tensor ops, not by arithmetic. This
step runs Qwen3's exact math (RMSNorm, q/k norms, rotary embeddings, grouped-query attention, SwiGLU) with
few ops: fused q/k/v and gate/up projections, one rotation for queries and keys together, a rotary table
computed once, and the RMSNorm weights in front of a projection folded into that projection's columns
(norm(x) * w @ W.T == norm(x) @ (W * w).T), so those norms are a scale by the inverse root mean square only. Measured on 2-core CPUs for two 128-wide layers on 10 blocks:
transformers' layers 2.3 ms per call, plain ops 1.4 ms (first version); fused ops about 25 % less than plain
ops in a micro-benchmark on a slower machine of the same kind (`scripts/profile_decoder.py` shows where a
decoding step's time goes). Tests check it against the model's own forward; other architectures use
the transformers path (`supports`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

KvCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (N, kv_heads, T, head_dim)


def supports(model: PreTrainedModel) -> bool:
    config = model.config
    return (config.model_type == "qwen3" and not getattr(config, "use_sliding_window", False) and not config.attention_bias
            and config.hidden_act == "silu")


@dataclass(frozen=True)
class _FusedLayer:
    qkv: torch.Tensor  # ((heads + 2 kv_heads) head_dim, H): q, k and v projections stacked, input norm folded in
    qk_norm: torch.Tensor  # (heads + kv_heads, head_dim): q norm weight per query head (times 1/sqrt(head_dim)), k norm per key head
    output: torch.Tensor  # (H, heads head_dim)
    gate_up: torch.Tensor  # (2 I, H): gate and up projections stacked, post-attention norm folded in
    down: torch.Tensor  # (H, I)


def _scale_rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) over the last dimension: RMSNorm without its weight, in few ops."""
    return x * (x.square().mean(-1, keepdim=True) + eps).rsqrt_()


class Qwen3Step:
    """`step(inputs, cache)` -> logits of the last input, extending `cache` (a list, empty at the start).

    The fused weights are copies: they are rebuilt whenever a parameter of the model changed in place (training
    between decodings), checked by the parameters' version counters at each prefill."""

    def __init__(self, model: PreTrainedModel):
        config = model.config
        self.model = model
        self.eps = config.rms_norm_eps
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.intermediate = config.intermediate_size
        self._versions: tuple[int, ...] | None = None
        self._layers: list[_FusedLayer] = []
        self._cos = self._signed_sin = self._lm_head = torch.empty(0)

    def _refresh(self) -> None:
        """Rebuild the fused weights and the rotary table if any parameter changed since the last build."""
        parameters = list(self.model.parameters())
        versions = tuple(p._version for p in parameters) + tuple(p.data_ptr() for p in parameters)
        if versions == self._versions:
            return
        core = self.model.model
        heads, kv_heads = self.heads, self.kv_heads
        with torch.no_grad():
            self._layers = [
                _FusedLayer(
                    torch.cat([layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight, layer.self_attn.v_proj.weight])
                    * layer.input_layernorm.weight,
                    torch.cat([(layer.self_attn.q_norm.weight * self.head_dim**-0.5).expand(heads, -1),
                               layer.self_attn.k_norm.weight.expand(kv_heads, -1)]),
                    layer.self_attn.o_proj.weight,
                    torch.cat([layer.mlp.gate_proj.weight, layer.mlp.up_proj.weight]) * layer.post_attention_layernorm.weight,
                    layer.mlp.down_proj.weight,
                )
                for layer in core.layers
            ]
            self._lm_head = self.model.lm_head.weight * core.norm.weight  # (V, H): the final norm folded in
            positions = torch.arange(self.model.config.max_position_embeddings)[None]
            cos, sin = core.rotary_emb(core.norm.weight[None, None], positions)  # (1, P, head_dim)
            half = self.head_dim // 2
            # rotate_half(x) * sin == roll(x, half) * signed_sin: the sign of rotate_half's first half moves into the table
            self._cos, self._signed_sin = cos[0], torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)  # (P, head_dim)
        self._versions = versions

    def _attention(self, layer: _FusedLayer, hidden: torch.Tensor, cos, signed_sin, past: tuple[torch.Tensor, torch.Tensor] | None):
        n, length, _ = hidden.shape
        heads, kv_heads, head_dim = self.heads, self.kv_heads, self.head_dim
        qkv = F.linear(hidden, layer.qkv).view(n, length, heads + 2 * kv_heads, head_dim)
        query_key = (_scale_rms(qkv[:, :, : heads + kv_heads], self.eps) * layer.qk_norm).transpose(1, 2)  # (N, heads + kv, T, hd)
        query_key = torch.addcmul(query_key * cos, query_key.roll(head_dim // 2, -1), signed_sin)  # rotary embedding
        query, key = query_key[:, :heads], query_key[:, heads:]
        value = qkv[:, :, heads + kv_heads :].transpose(1, 2)
        if past is not None:
            key, value = torch.cat([past[0], key], dim=2), torch.cat([past[1], value], dim=2)
        if past is None:  # a prefill is causal; queries are pre-scaled by 1/sqrt(head_dim) (folded into qk_norm)
            output = F.scaled_dot_product_attention(query, key, value, is_causal=length > 1, scale=1.0, enable_gqa=kv_heads != heads)
        else:  # one new token attends to everything before it: three plain ops beat the fused kernel's set-up
            grouped = query.view(n, kv_heads, heads // kv_heads, head_dim)  # (N, kv, group, hd)
            weights = torch.softmax(grouped @ key.transpose(2, 3), dim=-1)  # (N, kv, group, S)
            output = (weights @ value).view(n, heads, 1, head_dim)
        return F.linear(output.transpose(1, 2).reshape(n, length, -1), layer.output), (key, value)

    def __call__(self, inputs: torch.Tensor, cache: KvCache) -> torch.Tensor:
        """inputs (N, T, H) embeddings at the positions after the cache's; returns logits (N, V) of the last one."""
        prefill = not cache
        if prefill:
            self._refresh()
        elif inputs.shape[1] != 1:
            raise ValueError("after the prefill, decode one token per call")
        offset = 0 if prefill else cache[0][0].shape[2]
        positions = slice(offset, offset + inputs.shape[1])
        cos, signed_sin = self._cos[positions], self._signed_sin[positions]  # (T, head_dim)
        hidden = inputs
        for index, layer in enumerate(self._layers):
            attended, kv = self._attention(layer, _scale_rms(hidden, self.eps), cos, signed_sin, None if prefill else cache[index])
            if prefill:
                cache.append(kv)
            else:
                cache[index] = kv
            hidden = hidden + attended
            gate, up = F.linear(_scale_rms(hidden, self.eps), layer.gate_up).split(self.intermediate, dim=-1)
            hidden = hidden + F.linear(F.silu(gate) * up, layer.down)
        return F.linear(_scale_rms(hidden[:, -1], self.eps), self._lm_head)
