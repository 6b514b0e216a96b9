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

On a CPU in float32 (models up to KERNEL_MAX_PARAMETERS) the same math runs compiled (qwen3_kernel.c, built on first
use; these tensor ops where it cannot be built): `decode_block` decodes a whole block in one call, sampling included.
`scripts/time_ar_block.py`: a B=4 block of the shipped AR took 2.5 ms with these tensor ops and 0.56 ms compiled (N=1;
N=8 blocks at once 3.9 vs 2.4 ms; B=8: 4.8 vs 0.83 ms, N=8 8.0 vs 4.2 ms).
"""

from __future__ import annotations

import ctypes
from typing import NamedTuple

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from codila.errors import CodilaError
from codila.models import qwen3_kernel

# the kernel runs on one core: fine for small ARs (the shipped one has 0.95M parameters); a large model's products
# keep MKL's threads (not measured here: only small ARs exist on this machine)
KERNEL_MAX_PARAMETERS = 50_000_000


class KernelWeights(NamedTuple):
    library: ctypes.CDLL
    tensors: list[torch.Tensor]  # per layer LayerWeights' five, then the lm_head: kept alive for the addresses below
    pointers: ctypes.Array


KvCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (N, kv_heads, T, head_dim)


class LayerWeights(NamedTuple):
    qkv: torch.Tensor  # ((heads + 2 kv_heads) head_dim, H): q, k, v projections stacked, input norm folded in
    qk_norm: torch.Tensor  # (heads + kv_heads, head_dim): q norm per query head (times 1/sqrt(head_dim)), k norm per key head
    output: torch.Tensor  # (H, heads head_dim)
    gate_up: torch.Tensor  # (2 I, H): gate and up projections stacked, post-attention norm folded in
    down: torch.Tensor  # (H, I)


def pack_weight(weight: torch.Tensor, panel: int) -> torch.Tensor:
    """(out, in) -> (out / panel rounded up, in, panel), zero-padded: the kernel's layout (qwen3_kernel.c, "Matrix
    products"), each panel's columns side by side for each input dimension."""
    out, width = weight.shape
    return F.pad(weight, (0, 0, 0, -out % panel)).view(-1, panel, width).transpose(1, 2).contiguous()


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
        # the Parameter objects: training, .to() and load_state_dict change their data in place (seen by the versions
        # and addresses); listing them anew each block would cost more than a small block's decoding
        self._parameters = list(model.parameters())
        self._layers: list[LayerWeights] = []
        self._cos = self._signed_sin = self._lm_head = torch.empty(0)
        self._kernel: KernelWeights | None = None

    def _refresh(self) -> None:
        """Rebuild the fused weights and the rotary table if any parameter changed since the last build."""
        parameters = self._parameters
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
        self._kernel = self._kernel_pointers(parameters)

    def _kernel_pointers(self, parameters: list[torch.Tensor]) -> KernelWeights | None:
        """The kernel with this model's weights, or None when it does not serve this model."""
        on_cpu_float32 = all(p.device.type == "cpu" and p.dtype == torch.float32 for p in parameters)
        if not on_cpu_float32 or sum(p.numel() for p in parameters) > KERNEL_MAX_PARAMETERS:
            return None
        library = qwen3_kernel.load()
        if library is None:
            return None
        panel = library.codila_panel_width()
        tensors = [w.contiguous() if name == "qk_norm" else pack_weight(w, panel)
                   for layer in self._layers for name, w in zip(LayerWeights._fields, layer)]
        tensors.append(pack_weight(self._lm_head, panel))
        return KernelWeights(library, tensors, (ctypes.c_void_p * len(tensors))(*(w.data_ptr() for w in tensors)))

    def _dims(self, n: int, length: int, block: int) -> ctypes.Array:
        """The kernel's dims (qwen3_kernel.c's enum): rows, prefill positions, the model's sizes, block."""
        heads, kv_heads, head_dim, _ = self.shape
        return (ctypes.c_int * 11)(n, length, self._cos.shape[0], self._lm_head.shape[1], heads, kv_heads, head_dim,
                                   self._layers[0].down.shape[1], len(self._layers), self._lm_head.shape[0], block)

    @property
    def compiled(self) -> bool:
        """True when the compiled kernel serves this model (its weights rebuilt first if they changed)."""
        self._refresh()
        return self._kernel is not None

    def decode_block(self, inputs: torch.Tensor, block: int, embedding: torch.Tensor, bias: torch.Tensor, forced: torch.Tensor | None,
                     uniforms: torch.Tensor, temperature: float, top_p: float, with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole block in one kernel call (once `compiled` said True): prefill `inputs` (N, T, H), then `block` tokens
        per row, each sampled like `sample_top_p` from the logits + `bias` (V) with the row's uniform number
        (`uniforms` (N, block)), replaced by `forced` (N, block; -1 = free) where given, and fed back through
        `embedding` (V, H). Returns tokens (N, block) and entropies (N, block; NaN unless `with_entropy`)."""
        if self._kernel is None:
            raise CodilaError("the compiled kernel does not serve this model (check `compiled` first): decode step by step")
        n, length, _ = inputs.shape
        if length + block - 1 > self._cos.shape[0]:
            raise CodilaError(f"the AR's positions end at {self._cos.shape[0]} (max_position_embeddings); a block needs {length + block - 1}")
        inputs, uniforms = inputs.float().contiguous(), uniforms.float().contiguous()
        embedding, bias = embedding.float().contiguous(), bias.float().contiguous()
        forced = None if forced is None else forced.to(torch.int64).contiguous()
        tokens = torch.empty(n, block, dtype=torch.int64)
        entropies = torch.full((n, block), float("nan"))
        status = self._kernel.library.codila_qwen3_decode_block(
            self._dims(n, length, block), self.shape[3], self._cos.data_ptr(), self._signed_sin.data_ptr(),
            self._kernel.pointers, embedding.data_ptr(), bias.data_ptr(), inputs.data_ptr(),
            None if forced is None else forced.data_ptr(), uniforms.data_ptr(), temperature, top_p, int(with_entropy),
            tokens.data_ptr(), entropies.data_ptr())
        if status != 0:
            raise MemoryError("the local AR's kernel could not allocate its scratch memory")
        return tokens, entropies

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
