"""The AR-only baseline (`ar-baseline`): a plain causal LM fills a canvas's region greedily, one token per step, left to
right, reading only what precedes the region (the DLM is not run; its special tokens say what no position may take)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from codila.decoding.canvas import Canvas
from codila.decoding.result import CommitLog, DecodeResult
from codila.errors import CodilaError
from codila.lazy import lazy_module
from codila.models.causal_ar import BASELINE_KIND, CausalAR

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


@dataclass(frozen=True)
class ArBaselineConfig:
    """The baseline has no options: greedy, one token per step."""

    def label(self, ar=None) -> str:
        return "AR baseline (left to right)"

    def columns(self) -> dict:
        return {"k": 1}

    @classmethod
    def examples(cls) -> list[ArBaselineConfig]:
        return [cls()]


def decode_ar_baseline_batch(dlm, ar: CausalAR, canvases: list[Canvas], config, generators) -> list[DecodeResult]:
    """Canvases with the same layout (start, end) decode as one batch (planning's fixed-length prompts), each group
    with one forward per token and a KV cache; greedy, so the generators are not drawn from."""
    if not isinstance(ar, CausalAR):
        raise CodilaError(
            f"the ar-baseline decoder needs a left-to-right AR checkpoint (kind {BASELINE_KIND}, "
            "`codila train planning --kind ar-baseline`), not a local AR: pass --ar DIR"
        )
    results: list[DecodeResult | None] = [None] * len(canvases)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, canvas in enumerate(canvases):
        groups.setdefault((canvas.start, canvas.end), []).append(index)
    for members in groups.values():
        for index, result in zip(members, _decode_group(ar, dlm.special, [canvases[i] for i in members])):
            results[index] = result
    return results


def _decode_group(ar: CausalAR, special, canvases: list[Canvas]) -> list[DecodeResult]:
    from transformers import DynamicCache

    started = time.perf_counter()
    device = ar.model.device
    logs = [CommitLog(canvas.copy(device), special.eos_id) for canvas in canvases]
    start, end = canvases[0].start, canvases[0].end
    banned = special.never_generated()
    cache = DynamicCache(config=ar.model.config)
    inputs = torch.stack([log.canvas.ids[:start] for log in logs])
    for position in range(start, end):
        if all(log.done() for log in logs):  # the group ended early (EOS everywhere, or every canvas cancelled)
            break
        with torch.no_grad():
            logits = ar.model(input_ids=inputs, past_key_values=cache, use_cache=True).logits[:, -1].float()
        logits[:, banned] = float("-inf")
        tokens = logits.argmax(-1)
        for log, token in zip(logs, tokens):
            if bool(log.canvas.masked()[position]):  # positions after a committed EOS are EOS already (no step)
                log.commit(torch.tensor([position], device=device), token[None])
        inputs = torch.stack([log.canvas.ids[position : position + 1] for log in logs])
    share = (time.perf_counter() - started) / len(logs)
    return [log.finish(0, end - start, share, share) for log in logs]
