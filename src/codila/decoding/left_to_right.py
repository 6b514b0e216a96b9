"""The AR-only baseline: a causal LM fills a canvas's region greedily, one token per step, left to right."""

from __future__ import annotations

import time

import torch
from transformers import DynamicCache, PreTrainedModel

from codila.decoding.canvas import Canvas
from codila.decoding.result import CommitLog, DecodeResult
from codila.tokenizer import SpecialIds


@torch.no_grad()
def decode_left_to_right_batch(model: PreTrainedModel, special: SpecialIds, canvases: list[Canvas]) -> list[DecodeResult]:
    """Greedy decoding of completion canvases whose prompts have the same length (the planning layouts): one
    forward per token for the whole batch with a KV cache. Tokens no position may take are banned."""
    started = time.perf_counter()
    logs = [CommitLog(canvas.copy(), special.eos_id) for canvas in canvases]
    start, end = canvases[0].start, canvases[0].end
    assert all((c.start, c.end) == (start, end) for c in canvases), "left-to-right batches need one layout"
    banned = special.never_generated()
    cache = DynamicCache(config=model.config)
    inputs = torch.stack([log.canvas.ids[:start] for log in logs])
    for position in range(start, end):
        logits = model(input_ids=inputs, past_key_values=cache, use_cache=True).logits[:, -1].float()
        logits[:, banned] = float("-inf")
        tokens = logits.argmax(-1)
        for log, token in zip(logs, tokens):
            if bool(log.canvas.masked()[position]):  # positions after a committed EOS are EOS already (no step)
                log.commit(torch.tensor([position]), token[None])
        inputs = torch.stack([log.canvas.ids[position : position + 1] for log in logs])
    share = (time.perf_counter() - started) / len(logs)
    return [log.finish(0, end - start, share, share) for log in logs]
