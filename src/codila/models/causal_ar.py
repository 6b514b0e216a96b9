"""A plain causal LM that decodes a whole region by itself, left to right (the AR-only baseline of the planning tasks;
`codila train planning --kind ar-baseline` writes one). It has no block size and reads no DLM marginals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

BASELINE_KIND = "ar-baseline"  # the kind its codila.json records


@dataclass
class CausalAR:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerFast
    block_size = None  # the row keys of a setting read these (an AR-only baseline has neither)
    conditioning = None
