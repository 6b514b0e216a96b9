"""The DLM-only baseline: K tokens per step, committed where the DLM is most certain."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from codila.decoding.batch import CanvasBatch
from codila.decoding.canvas import Canvas
from codila.decoding.result import CommitLog, DecodeResult
from codila.decoding.sampling import entropy, rank_first, sample_top_p
from codila.errors import CodilaError
from codila.validate import check_options
from codila.models.dlm import DiffusionLM
from codila.models.dlm_cache import DlmKvCache


@dataclass
class DlmDecodeConfig:
    """tokens_per_step: K positions committed per DLM forward.
    selection: which positions go first: "entropy" (lowest entropy; the paper's baseline), "confidence"
        (highest top-1 probability) or "margin" (largest top-1 minus top-2 probability).
    temperature: 0 commits the argmax token; > 0 samples (top_p nucleus) from the DLM's marginal.
    semi_ar_block: 0 decodes the whole region in any order; n > 0 decodes blocks of n positions left to
        right, any order inside a block (LLaDA's semi-autoregressive remasking).
    threshold: > 0 is Fast-dLLM's parallel decoding: every position whose top-1 probability is at least
        `threshold` is committed (at least the most certain one); tokens_per_step is then ignored.
    cache: "none", or Fast-dLLM's approximate KV cache for semi-AR decoding: "prefix" or "dual"
        (see codila.models.dlm_cache); needs semi_ar_block > 0. Cached canvases decode one at a time."""

    tokens_per_step: int = 1
    selection: str = "entropy"
    temperature: float = 0.0
    top_p: float = 1.0
    semi_ar_block: int = 0
    threshold: float = 0.0
    cache: str = "none"

    def __post_init__(self) -> None:
        check_options(asdict(self))  # finite, in range (codila.validate)


def certainty(logits: torch.Tensor, selection: str) -> torch.Tensor:
    """(..., V) logits -> (...) scores, higher = commit first."""
    if selection == "entropy":
        return -entropy(logits)
    probs = torch.softmax(logits, dim=-1)
    if selection == "confidence":
        return probs.amax(-1)  # amax: max with indices is ~20x slower on a CPU
    if selection == "margin":
        top2 = probs.topk(2, dim=-1).values
        return top2[..., 0] - top2[..., 1]
    raise CodilaError(f"unknown selection {selection!r}; choose entropy, confidence or margin")


def active_positions(canvas: Canvas, semi_ar_block: int) -> torch.Tensor:
    """Masked positions that may be committed now (1D): all of them, or those of the first unfinished
    semi-autoregressive block."""
    masked = torch.nonzero(canvas.masked()).flatten()
    if semi_ar_block <= 0:
        return masked
    block_of = (masked - canvas.start) // semi_ar_block
    return masked[block_of == block_of.min()]


def _step(log: CommitLog, logits: torch.Tensor, config: DlmDecodeConfig, generator: torch.Generator, start: int | None = None) -> None:
    """Commit the K most certain masked positions of one canvas, given logits (R, V) of positions start.. (default:
    its region)."""
    start = log.canvas.start if start is None else start
    candidates = active_positions(log.canvas, config.semi_ar_block)
    if config.threshold > 0:  # Fast-dLLM: every position at least this confident, most confident first
        scores = certainty(logits[candidates - start], "confidence")  # (C,) top-1 probabilities
        count = max(1, int((scores >= config.threshold).sum()))
    else:
        scores = certainty(logits[candidates - start], config.selection)  # (C,)
        count = min(config.tokens_per_step, len(candidates))
    chosen = candidates[rank_first(scores, count, descending=True)]
    log.commit(chosen, sample_top_p(logits[chosen - start], config.temperature, config.top_p, generator))


def decode_dlm_batch(dlm: DiffusionLM, ar, canvases: list[Canvas], config: DlmDecodeConfig,
                     generators: list[torch.Generator]) -> list[DecodeResult]:
    """Decode with the DLM alone: each step, one forward over the unfinished canvases, then each commits its K
    most certain masked positions (sampled with its own generator)."""
    if config.tokens_per_step < 1:
        raise CodilaError(f"tokens per step must be >= 1, got {config.tokens_per_step}")
    if not 0 <= config.threshold <= 1:
        raise CodilaError(f"the confidence threshold is a probability in [0, 1], got {config.threshold}")
    certainty(torch.zeros(2), config.selection)  # validates the name before any work
    if config.cache != "none":
        if config.semi_ar_block < 1:
            raise CodilaError("a DLM cache needs semi-autoregressive blocks: set --semi-ar-block")
        return [_decode_cached(dlm, canvas, config, generator) for canvas, generator in zip(canvases, generators)]
    logs = [CommitLog(canvas.copy(), dlm.special.eos_id) for canvas in canvases]
    batch = CanvasBatch([log.canvas for log in logs], dlm.special.pad_id)
    forwards = [0] * len(logs)
    started = time.perf_counter()
    while rows := batch.active():
        logits = batch.region_logits(dlm, rows)  # (A, R, V): the decoded regions only
        for index, row in enumerate(rows):
            _step(logs[row], logits[index, : logs[row].canvas.length], config, generators[row])
            forwards[row] += 1
    share = (time.perf_counter() - started) / len(logs)
    return [log.finish(forwards[row], 0, seconds=share) for row, log in enumerate(logs)]


def _decode_cached(dlm: DiffusionLM, canvas: Canvas, config: DlmDecodeConfig, generator: torch.Generator) -> DecodeResult:
    """Semi-AR decoding of one canvas with the approximate KV cache, refreshed when a new block starts."""
    log = CommitLog(canvas.copy(), dlm.special.eos_id)
    cache = DlmKvCache(dlm, config.cache)
    forwards_before, current = dlm.forwards, None
    while not log.done():
        first_masked = int(active_positions(log.canvas, config.semi_ar_block).min())
        start = canvas.start + (first_masked - canvas.start) // config.semi_ar_block * config.semi_ar_block
        end = min(start + config.semi_ar_block, canvas.end)
        if start != current:
            logits, current = cache.refresh(log.canvas.ids, start, end), start
        else:
            logits = cache.block_logits(log.canvas.ids, start, end)
        _step(log, logits, config, generator, start)
    return log.finish(dlm.forwards - forwards_before, 0)


def decode_dlm(dlm: DiffusionLM, ar, canvas: Canvas, config: DlmDecodeConfig, generator: torch.Generator) -> DecodeResult:
    """`decode_dlm_batch` for one canvas."""
    return decode_dlm_batch(dlm, ar, [canvas], config, [generator])[0]
