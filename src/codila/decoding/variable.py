"""DreamOn's variable-length infilling: the DLM decodes the span K tokens per step (most certain first), and
- the expand token committed at a masked position turns it into two masks (the span grows by one),
- EOS committed inside the span deletes that position (the span shrinks by one).
So the infill may end longer or shorter than the masks it started with. The span never grows past `max_span` tokens
(there the expand token is not offered). One canvas at a time: its length changes."""

from __future__ import annotations

import time

import torch

from codila.decoding.canvas import Canvas
from codila.decoding.dlm import DlmDecodeConfig, certainty
from codila.decoding.result import DecodeResult
from codila.errors import CodilaError
from codila.models.dlm import DiffusionLM
from codila.sampling import rank_first, sample_top_p


def decode_variable_infill(
    dlm: DiffusionLM, canvas: Canvas, config: DlmDecodeConfig, generator: torch.Generator, max_span: int
) -> DecodeResult:
    if dlm.expand_id is None:
        raise CodilaError("variable-length infilling needs a DLM with an expand token (a DreamOn model): drop --variable-length")
    if config.tokens_per_step < 1 or max_span < canvas.length:
        raise CodilaError(
            f"tokens per step must be >= 1 and the span cap ({max_span}) at least the initial length ({canvas.length})"
        )
    started, forwards, tokens_per_step = time.perf_counter(), 0, []
    ids, start, end, mask = canvas.ids.to(dlm.device), canvas.start, canvas.end, canvas.mask_id
    committed = torch.full_like(ids, -1)
    may_expand = dlm.banned_ids[dlm.banned_ids != dlm.expand_id]
    while bool((ids[start:end] == mask).any()):
        room = end - start < max_span and len(ids) < dlm.max_length
        positions = torch.arange(start, end, device=ids.device)
        logits = dlm.logits(ids[None], positions, banned=may_expand if room else None)[0]  # (span, V)
        forwards += 1
        candidates = torch.nonzero(ids[start:end] == mask).flatten()  # offsets in the span
        scores = certainty(logits[candidates], config.selection)
        chosen = candidates[rank_first(scores, min(config.tokens_per_step, len(candidates)), descending=True)]
        tokens = sample_top_p(logits[chosen], config.temperature, config.top_p, generator)
        count, step = 0, len(tokens_per_step)
        for offset, token in sorted(zip(chosen.tolist(), tokens.tolist()), reverse=True):  # right to left: offsets stay valid
            position = start + offset
            if token == dlm.expand_id:
                ids = torch.cat([ids[:position], ids.new_tensor([mask, mask]), ids[position + 1 :]])
                committed = torch.cat([committed[:position], committed.new_tensor([-1, -1]), committed[position + 1 :]])
                end += 1
            elif token == dlm.special.eos_id:
                ids = torch.cat([ids[:position], ids[position + 1 :]])
                committed = torch.cat([committed[:position], committed[position + 1 :]])
                end -= 1
            else:
                ids[position], committed[position] = token, step
                count += 1
        tokens_per_step.append(count)
    return DecodeResult(ids, start, end, forwards, 0, tokens_per_step, committed, time.perf_counter() - started)
