"""Vocabulary alignment between a DLM and a local AR whose tokenizers share a base vocabulary but not every id.

Checked token by token at load. Over the shared id range (the smaller of the two row counts: Dream's 152,064 output
rows against Qwen3's 151,936 embeddings) an id both tokenizers spell the same is kept; an id either side lacks, or
that one side reads as an added (special) token and the other as something else (Dream's BOS / mask / expand are
Qwen3's <tool_response> / </tool_response> / <think>), gets zero mass; any other disagreement means the vocabularies
differ and the pair is refused. The DLM's marginals are then sliced (or zero-padded) to the AR's rows, the dropped ids
zeroed and each row renormalised before the AR reads them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from codila.errors import CodilaError


def _id_to_token(tokenizer: PreTrainedTokenizerBase) -> dict[int, str]:
    return {index: token for token, index in tokenizer.get_vocab().items()}


@dataclass
class VocabAlignment:
    keep: torch.Tensor  # (V_ar,) bool: AR ids that carry the DLM's mass
    dlm_rows: int  # the DLM's output rows V_dlm

    @property
    def ar_rows(self) -> int:
        return len(self.keep)

    def dropped(self) -> torch.Tensor:
        """AR ids the DLM cannot mean (1D): the AR must never produce them."""
        return torch.nonzero(~self.keep).flatten()

    def to_ar(self, marginals: torch.Tensor) -> torch.Tensor:
        """DLM marginals (..., V_dlm) -> (..., V_ar): sliced or zero-padded, dropped ids zeroed, renormalised."""
        shared = min(self.dlm_rows, self.ar_rows)
        out = marginals.new_zeros((*marginals.shape[:-1], self.ar_rows))
        out[..., :shared] = marginals[..., :shared]
        out = out * self.keep.to(out.device, out.dtype)
        return out / out.sum(-1, keepdim=True).clamp_min(torch.finfo(out.dtype).tiny)

    @classmethod
    def between(
        cls, dlm_tokenizer: PreTrainedTokenizerBase, dlm_rows: int, ar_tokenizer: PreTrainedTokenizerBase, ar_rows: int
    ) -> "VocabAlignment | None":
        """The alignment of two tokenizers; None when they are the same vocabulary over the same rows (nothing to do).
        Raises a CodilaError when they disagree on a regular token of the shared range."""
        dlm_tokens, ar_tokens = _id_to_token(dlm_tokenizer), _id_to_token(ar_tokenizer)
        if dlm_tokens == ar_tokens and dlm_rows == ar_rows:
            return None
        added = set(dlm_tokenizer.get_added_vocab()) | set(ar_tokenizer.get_added_vocab())
        keep = torch.zeros(ar_rows, dtype=torch.bool)
        conflicts = []
        for index in range(min(dlm_rows, ar_rows)):
            dlm_token, ar_token = dlm_tokens.get(index), ar_tokens.get(index)
            if dlm_token is not None and dlm_token == ar_token:
                keep[index] = True
            elif dlm_token is not None and ar_token is not None and dlm_token not in added and ar_token not in added:
                conflicts.append((index, dlm_token, ar_token))
        if conflicts:
            index, dlm_token, ar_token = conflicts[0]
            raise CodilaError(
                f"the DLM's and the AR's tokenizers disagree on {len(conflicts)} ids of their shared range (id {index}: "
                f"{dlm_token!r} vs {ar_token!r}): pair an AR built on the DLM's vocabulary"
            )
        if not bool(keep.any()):
            raise CodilaError("the DLM's and the AR's tokenizers share no token: pair an AR built on the DLM's vocabulary")
        return cls(keep, dlm_rows)
