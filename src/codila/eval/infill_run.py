"""Run one decoder setting over infill spans and aggregate its row of metrics."""

from __future__ import annotations

from typing import Callable

import torch

from codila.data.spans import InfillSpan
from codila.decoding.canvas import Canvas
from codila.decoding.registry import get_decoder
from codila.eval.metrics import score_infill
from codila.eval.order import commit_order_correlation
from codila.eval.settings import DecodeSetting, ModelSet


def run_infill_setting(
    models: ModelSet, setting: DecodeSetting, spans: list[InfillSpan], seed: int, advance: Callable[[], None] = lambda: None
) -> dict:
    """Decode every span (seed + its index as the generator seed) and return one row: the setting's keys,
    tokens_per_step, dlm_forwards and ar_steps (means per span), syntax_valid, exact_match, token_accuracy
    (fractions), tokens_per_s (generated tokens over decoding time), ar_time_share (of decoding time),
    order_spearman (commit step vs position, mean where defined), n."""
    dlm = models.dlm
    ar = models.for_setting(setting)
    decoder = get_decoder(setting.method)
    totals = {"syntax_valid": 0.0, "exact_match": 0.0, "token_accuracy": 0.0}
    tokens = steps = forwards = ar_steps = 0
    seconds = ar_seconds = 0.0
    orders: list[float] = []
    for index, span in enumerate(spans):
        canvas = Canvas.infill(span.prefix_ids, span.length, span.suffix_ids, dlm.mask_id, dlm.max_length)
        result = decoder.decode(dlm, ar, canvas, setting.config, torch.Generator().manual_seed(seed + index))
        for key, value in score_infill(span, result.generated.tolist(), dlm.tokenizer).items():
            totals[key] += value
        tokens += span.length
        steps += result.steps
        forwards += result.dlm_forwards
        ar_steps += result.ar_steps
        seconds += result.seconds
        ar_seconds += result.ar_seconds
        if (rho := commit_order_correlation(result)) is not None:
            orders.append(rho)
        advance()
    n = len(spans)
    return {
        **setting.describe(ar),
        "label": setting.label(ar),
        "tokens_per_step": tokens / steps,
        "dlm_forwards": forwards / n,
        "ar_steps": ar_steps / n,
        **{key: value / n for key, value in totals.items()},
        "tokens_per_s": tokens / seconds,
        "ar_time_share": ar_seconds / seconds,
        "order_spearman": sum(orders) / len(orders) if orders else None,
        "n": n,
    }
