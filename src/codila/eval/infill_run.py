"""Run one decoder setting over infill spans and aggregate its row of metrics."""

from __future__ import annotations

from typing import Callable

import torch

from codila.data.spans import InfillSpan
from codila.decoding.canvas import Canvas
from codila.decoding.registry import get_decoder
from codila.eval.metrics import score_infill
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.tally import DecodeTally


def run_infill_setting(
    models: ModelSet, setting: DecodeSetting, spans: list[InfillSpan], seed: int, advance: Callable[[], None] = lambda: None,
    batch_size: int = 1,
) -> dict:
    """Decode every span (seed + its index as the generator seed), `batch_size` spans at a time, and return one
    row: the setting's keys, the speed columns of `DecodeTally.row` (per span), syntax_valid, exact_match,
    token_accuracy (fractions), n."""
    dlm = models.dlm
    ar = models.for_setting(setting)
    decoder = get_decoder(setting.method)
    totals = {"syntax_valid": 0.0, "exact_match": 0.0, "token_accuracy": 0.0}
    tally = DecodeTally()
    for first in range(0, len(spans), batch_size):
        chunk = spans[first : first + batch_size]
        canvases = [Canvas.infill(s.prefix_ids, s.length, s.suffix_ids, dlm.mask_id, dlm.max_length) for s in chunk]
        generators = [torch.Generator().manual_seed(seed + first + i) for i in range(len(chunk))]
        for span, result in zip(chunk, decoder.decode_batch(dlm, ar, canvases, setting.config, generators)):
            for key, value in score_infill(span, result.generated.tolist(), dlm.tokenizer).items():
                totals[key] += value
            tally.add(result)
            advance()
    n = len(spans)
    return {**setting.describe(ar), "label": setting.label(ar), **tally.row(), **{key: value / n for key, value in totals.items()}, "n": n}
