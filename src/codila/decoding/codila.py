"""CoDiLA decoding: the DLM drafts marginals for the whole canvas, the local AR decodes blocks of B.

Each step costs one DLM forward and B batched AR calls. Modes (method.md):
- static: the AR decodes the nearest `scope` masked blocks as one batch; the block with the lowest mean
  AR entropy is committed whole (B tokens per step), in any order.
- dynamic: commit the longest prefix of a candidate block whose mean AR entropy over its still-masked
  positions is <= tau; if no block offers two or more tokens, commit the DLM's single most confident token.
  Committed tokens of a partly decoded block are fed to the AR as hard embeddings and forced.
- verify: DLM confidence decoding of K tokens per step, where a position whose DLM top-1 disagrees with
  the AR's greedy token is penalised (the AR as a local judge; for planning tasks).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from codila.decoding.canvas import Canvas
from codila.decoding.result import CommitLog, DecodeResult
from codila.decoding.sampling import sample_top_p
from codila.errors import CodilaError
from codila.models.dlm import DiffusionLM
from codila.models.local_ar import LocalAR

MODES = ("static", "dynamic", "verify")


@dataclass
class CodilaDecodeConfig:
    """mode: static, dynamic or verify (see the module docstring).
    scope: how many of the nearest still-masked blocks are candidates each step (paper: 10).
    tau: dynamic mode's entropy threshold (nats); larger = more tokens per step, less care.
    temperature, top_p: AR sampling (paper: 0.1 and 0.8); also used for the DLM fallback token.
    tokens_per_step, verify_penalty: verify mode's K and the confidence subtracted on disagreement."""

    mode: str = "static"
    scope: int = 10
    tau: float = 0.5
    temperature: float = 0.1
    top_p: float = 0.8
    tokens_per_step: int = 1
    verify_penalty: float = 1.0


def _check(dlm: DiffusionLM, ar: LocalAR | None, canvas: Canvas, config: CodilaDecodeConfig) -> None:
    if ar is None:
        raise CodilaError("CoDiLA needs a local AR checkpoint (--ar PATH)")
    if config.mode not in MODES:
        raise CodilaError(f"unknown CoDiLA mode {config.mode!r}; choose one of {', '.join(MODES)}")
    if config.scope < 1 or config.tokens_per_step < 1:
        raise CodilaError("scope and tokens per step must be >= 1")
    if dlm.special != ar.special:
        raise CodilaError("the DLM and the AR use different tokenizers: CoDiLA needs one shared vocabulary")
    canvas.blocks(ar.block_size)  # raises when the region is not a multiple of B


# Each step gets the DLM marginals (C, B, V) of the candidate blocks (C, B) of positions.


def _static_step(log: CommitLog, marginals, blocks, ar, config, generator) -> None:
    tokens, entropies = ar.decode(marginals, generator, config.temperature, config.top_p)  # (C, B)
    best = int(entropies.mean(1).argmin())
    log.commit(blocks[best], tokens[best])


def _dynamic_step(log: CommitLog, marginals, blocks, ar, config, generator) -> None:
    ids = log.canvas.ids
    free = ids[blocks] == log.canvas.mask_id  # (C, B)
    forced = torch.where(free, -1, ids[blocks])
    tokens, entropies = ar.decode(marginals, generator, config.temperature, config.top_p, forced)
    new_counts = free.cumsum(1)  # (C, B): masked positions in each prefix
    prefix_entropy = (entropies * free).cumsum(1) / new_counts.clamp(min=1)
    qualifies = (prefix_entropy <= config.tau) & free  # a prefix ends on a position it commits
    gain = torch.where(qualifies, new_counts, 0)  # (C, B)
    best_per_block, end_per_block = gain.max(1)
    best = int(best_per_block.argmax())
    if int(best_per_block[best]) >= 2:
        take = free[best] & (torch.arange(ar.block_size) <= end_per_block[best])
        log.commit(blocks[best][take], tokens[best][take])
        return
    free_marginals = marginals[free]  # (F, V): DLM fallback, its most confident masked position in scope
    best = free_marginals.max(-1).values.argmax()
    token = sample_top_p(free_marginals[best].log(), config.temperature, config.top_p, generator)
    log.commit(blocks[free][best][None], token[None])


def _verify_step(log: CommitLog, marginals, blocks, ar, config, generator) -> None:
    ids = log.canvas.ids
    free = ids[blocks] == log.canvas.mask_id
    forced = torch.where(free, -1, ids[blocks])
    ar_tokens, _ = ar.decode(marginals, generator, 0.0, 1.0, forced)  # greedy judge
    confidence, dlm_tokens = marginals.max(-1)  # (C, B)
    score = confidence - config.verify_penalty * (dlm_tokens != ar_tokens)
    score = torch.where(free, score, float("-inf")).flatten()
    chosen = score.topk(min(config.tokens_per_step, int(free.sum()))).indices
    log.commit(blocks.flatten()[chosen], dlm_tokens.flatten()[chosen])


_STEPS = {"static": _static_step, "dynamic": _dynamic_step, "verify": _verify_step}


def decode_codila(dlm: DiffusionLM, ar: LocalAR, canvas: Canvas, config: CodilaDecodeConfig, generator: torch.Generator) -> DecodeResult:
    """Decode `canvas` with CoDiLA; blocks of the AR's block size, any order within the scope."""
    _check(dlm, ar, canvas, config)
    dlm_before, ar_before, ar_seconds_before = dlm.forwards, ar.forwards, ar.seconds
    log = CommitLog(canvas.copy(), dlm.special.eos_id)
    blocks = log.canvas.blocks(ar.block_size)  # (N, B)
    region = blocks.flatten()
    step = _STEPS[config.mode]
    with torch.no_grad():
        while not log.done():
            marginals = dlm.marginals(log.canvas.ids[None], region)[0]  # (R, V)
            open_blocks = blocks[log.canvas.masked()[blocks].any(1)][: config.scope]  # (C, B), nearest first
            step(log, marginals[open_blocks - canvas.start], open_blocks, ar, config, generator)  # (C, B, V)
    return log.finish(dlm.forwards - dlm_before, ar.forwards - ar_before, ar.seconds - ar_seconds_before)
