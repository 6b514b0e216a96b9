"""Fast-dLLM's approximate KV cache for semi-autoregressive DLM decoding.

When a new semi-AR block starts, one full forward gives the block's logits and the keys/values of every
position. Until the block is done, later steps reuse the keys/values of the positions outside it instead of
recomputing them, although the block's new tokens would have changed them a little (the approximation):
- `prefix`: the positions before the block are cached; each step runs the block and everything after it;
- `dual`: the positions before and after the block are cached; each step runs the block only.
Attention is bidirectional, so cached keys may sit on either side of the queries: order does not matter once
rotary embeddings (applied before caching) carry the positions.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

from codila.errors import CodilaError
from codila.models.dlm import DiffusionLM


class DlmKvCache:
    def __init__(self, dlm: DiffusionLM, mode: str):
        if mode not in ("prefix", "dual"):
            raise CodilaError(f"unknown DLM cache {mode!r}; choose prefix or dual")
        self.dlm = dlm
        self.mode = mode
        self.shift = int(dlm.shifted_logits)  # shifted models read position p's logits at row p - 1
        self.kept: list[tuple[torch.Tensor, torch.Tensor]] = []  # per layer: cached keys, values (1, H, T, D)

    @torch.no_grad()
    def refresh(self, ids: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """Full forward over the canvas `ids` (L,): logits (end - start, V) of the block [start, end); caches
        the keys/values of the positions the mode keeps."""
        rows = torch.arange(start, end, device=ids.device) - self.shift
        output = self.dlm.model(input_ids=ids[None], is_causal=False, use_cache=True, logits_to_keep=rows)
        self.dlm.forwards += 1
        first = start - self.shift
        keep = torch.arange(first, device=ids.device)
        if self.mode != "prefix":
            keep = torch.cat([keep, torch.arange(end, len(ids), device=ids.device)])
        self.kept = [(layer.keys[:, :, keep], layer.values[:, :, keep]) for layer in output.past_key_values.layers]
        return self.dlm.finish_logits(output.logits)[0]

    @torch.no_grad()
    def block_logits(self, ids: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """Logits (end - start, V) of the block from a forward over the uncached positions only."""
        first = start - self.shift
        last = len(ids) if self.mode == "prefix" else end
        cache = DynamicCache(config=self.dlm.model.config)
        for index, (keys, values) in enumerate(self.kept):
            cache.update(keys, values, index)
        output = self.dlm.model(
            input_ids=ids[None, first:last],
            position_ids=torch.arange(first, last, device=ids.device)[None],
            past_key_values=cache,
            use_cache=True,
            is_causal=False,
            logits_to_keep=torch.arange(end - start, device=ids.device),
        )
        self.dlm.forwards += 1
        return self.dlm.finish_logits(output.logits)[0]
