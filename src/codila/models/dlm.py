"""DiffusionLM: a masked diffusion LM (any transformers model with bidirectional attention)."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from codila.tokenizer import SpecialIds


def selected_logits(
    model: PreTrainedModel, input_ids: torch.Tensor, selected: torch.Tensor, shifted_logits: bool = False
) -> torch.Tensor:
    """Raw position-aligned logits (M, V) of a bidirectional `model` at the `selected` (B, L) bool positions of
    `input_ids`, in row-major order. Only those rows go through the output layer: a training loss needs no others
    (and the output layer over a 4k vocabulary is a sixth of a small model's compute). Keeps gradients."""
    hidden = model.base_model(input_ids=input_ids, is_causal=False, use_cache=False).last_hidden_state  # (B, L, H)
    if shifted_logits:  # row i-1 predicts token i; position 0 reads row 0
        hidden = torch.cat([hidden[:, :1], hidden[:, :-1]], dim=1)
    return model.get_output_embeddings()(hidden[selected])  # (M, V)


class DiffusionLM:
    """Wraps a bidirectional transformers model; returns position-aligned logits and counts forwards.

    `shifted_logits`: Dream-family models predict token i+1 at position i (their AR initialisation); their
    logits are shifted right by one so that row i is the marginal of position i. LLaDA and ours: unshifted.
    `special`: the ids a published model's family resolved (default: codila's own token strings). `expand_id`: DreamOn's
    token that grows a masked span (never committed as a token; see codila.decoding.variable). `family`: its name.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerFast,
        shifted_logits: bool = False,
        special: SpecialIds | None = None,
        expand_id: int | None = None,
        family: str = "codila",
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.special = special or SpecialIds.from_tokenizer(tokenizer)
        self.shifted_logits = shifted_logits
        self.expand_id = expand_id
        self.family = family
        self.forwards = 0  # every forward pass over a canvas batch counts one
        padding_rows = range(len(tokenizer), self.vocab_rows)  # output rows no token owns (Dream pads to a multiple of 128)
        extra = [*padding_rows, *([expand_id] if expand_id is not None else [])]
        self.banned_ids = self.special.never_generated(extra).to(self.device)

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def vocab_rows(self) -> int:
        """Output rows V of the model (may exceed the tokenizer's size: Dream pads its 151,667 tokens to 152,064)."""
        return self.model.get_output_embeddings().weight.shape[0]

    @property
    def mask_id(self) -> int:
        return self.special.mask_id

    @torch.no_grad()
    def logits(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        banned: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Position-aligned logits (B, P, V) at `positions` (1D; default: all L) of the canvas `input_ids` (B, L),
        special tokens other than EOS excluded (-inf). Counts one forward. Only the requested rows go through
        the output layer. `attention_mask` / `position_ids` (B, L): for padded batches (decoding never pads: `CanvasBatch`). `banned`: the
        ids at -inf instead of `banned_ids` (DreamOn's variable-length decoding lets the expand token through)."""
        self.forwards += 1
        if positions is None:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        rows = (positions - 1).clamp(min=0) if self.shifted_logits else positions  # row i-1 predicts token i
        logits = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            is_causal=False,
            logits_to_keep=rows,
            use_cache=False,
        ).logits  # a decoding step keeps no keys/values
        return self.finish_logits(logits, banned)

    @torch.no_grad()
    def selected_marginals(self, input_ids: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
        """Distributions (M, V) at the `selected` (B, L) bool positions of `input_ids`, in row-major order (the
        rows `marginals(input_ids)[selected]` would give, without the output layer on the others). Counts one
        forward."""
        self.forwards += 1
        return torch.softmax(self.finish_logits(selected_logits(self.model, input_ids, selected, self.shifted_logits)), dim=-1)

    def finish_logits(self, logits: torch.Tensor, banned: torch.Tensor | None = None) -> torch.Tensor:
        """Raw model logits (B, P, V) -> float32, with the tokens no position may take (`banned`, default
        `banned_ids`) at -inf."""
        logits = logits.float()
        logits[..., self.banned_ids if banned is None else banned] = float("-inf")
        return logits

    def marginals(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-position distributions (B, P, V): softmax of `logits`."""
        return torch.softmax(self.logits(input_ids, positions, attention_mask, position_ids), dim=-1)

    @property
    def max_length(self) -> int:
        return self.model.config.max_position_embeddings
