"""CoDiLA decoding: the DLM drafts marginals for the whole canvas, the local AR decodes blocks of B.

Each step costs one DLM forward and B batched AR calls. Modes (method.md):
- static: the AR decodes the nearest `scope` masked blocks as one batch; one block is committed whole (B tokens
  per step), in any order: by default the one with the lowest mean AR entropy (the paper), or (`choice`) the
  one where the DLM is most confident (highest mean top-1 marginal).
- dynamic: commit the longest prefix of a candidate block whose mean AR entropy over its still-masked
  positions is <= tau; if no block offers two or more tokens, commit the DLM's single most confident token.
  Committed tokens of a partly decoded block are fed to the AR as hard embeddings and forced.
- verify: DLM confidence decoding of K tokens per step, where a position whose DLM top-1 disagrees with
  the AR's greedy token is penalised (the AR as a local judge; for planning tasks).
With `semi_ar_block` n > 0 the candidates come from the first unfinished window of n positions only (windows
left to right, any order inside one: LLaDA's semi-autoregressive order); then Fast-dLLM's approximate DLM KV
cache (`cache`: prefix or dual, codila.models.dlm_cache) can serve every step of a window after its first.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from codila.decoding.batch import CanvasBatch
from codila.decoding.canvas import Canvas
from codila.decoding.dlm import certainty
from codila.decoding.result import CommitLog, DecodeResult
from codila.decoding.sampling import rank_first, sample_top_p
from codila.errors import CodilaError
from codila.validate import check_options
from codila.models.dlm import DiffusionLM
from codila.models.dlm_cache import CACHE_MODES, DlmKvCache
from codila.models.local_ar import LocalAR

MODES = ("static", "dynamic", "verify")
CHOICES = ("ar-entropy", "dlm-confidence")


@dataclass
class CodilaDecodeConfig:
    """mode: static, dynamic or verify (see the module docstring).
    scope: how many of the nearest still-masked blocks are candidates each step (paper: 10).
    tau: dynamic mode's entropy threshold (nats); larger = more tokens per step, less care.
    temperature, top_p: AR sampling (paper: 0.1 and 0.8); also used for the DLM fallback token.
    tokens_per_step, verify_penalty: verify mode's K and the certainty subtracted on disagreement.
    verify_selection: verify mode's certainty schedule (codila.decoding.dlm.certainty): confidence, entropy or margin.
    choice: static mode's block rule, ar-entropy (lowest mean AR entropy, the paper) or dlm-confidence.
    semi_ar_block: 0 = candidates anywhere in the region; n > 0 (a multiple of B) = from the first unfinished
        window of n positions only. cache: "none", "prefix" or "dual" (needs semi_ar_block; canvases with a
        cache decode one at a time)."""

    mode: str = "static"
    scope: int = 10
    tau: float = 0.5
    temperature: float = 0.1
    top_p: float = 0.8
    tokens_per_step: int = 1
    verify_penalty: float = 1.0
    verify_selection: str = "confidence"
    choice: str = "ar-entropy"
    semi_ar_block: int = 0
    cache: str = "none"

    def __post_init__(self) -> None:
        check_options(asdict(self))  # finite, in range (codila.validate)


def _check(dlm: DiffusionLM, ar: LocalAR | None, canvas: Canvas, config: CodilaDecodeConfig) -> None:
    if ar is None:
        raise CodilaError("CoDiLA needs a local AR checkpoint (--ar PATH)")
    if config.mode not in MODES:
        raise CodilaError(f"unknown CoDiLA mode {config.mode!r}; choose one of {', '.join(MODES)}")
    if config.choice not in CHOICES:
        raise CodilaError(f"unknown block choice {config.choice!r}; choose one of {', '.join(CHOICES)}")
    if config.scope < 1 or config.tokens_per_step < 1:
        raise CodilaError("scope and tokens per step must be >= 1")
    if (dlm.special.mask_id, dlm.special.eos_id) != (ar.special.mask_id, ar.special.eos_id):
        raise CodilaError("the AR was not loaded for this DLM (their mask / EOS ids differ): load it with load_ar(path, dlm)")
    if config.cache not in CACHE_MODES:
        raise CodilaError(f"unknown DLM cache {config.cache!r}; choose one of {', '.join(CACHE_MODES)}")
    if config.cache != "none" and config.semi_ar_block < 1:
        raise CodilaError("a DLM cache needs semi-autoregressive windows: set --semi-ar-block")
    if config.semi_ar_block < 0 or config.semi_ar_block % ar.block_size:
        raise CodilaError(f"--semi-ar-block must be a multiple of the block size {ar.block_size}, got {config.semi_ar_block}")
    canvas.blocks(ar.block_size)  # raises when the region is not a multiple of B


# Each step, every unfinished canvas offers its candidate blocks (C, B) of positions with their DLM marginals
# (C, B, V); the AR decodes the blocks of all canvases as one batch, each canvas sampling with its own generator;
# then the mode's rule commits, per canvas, from the AR's tokens and entropies (C, B).


def _commit_static(log: CommitLog, marginals, blocks, tokens, entropies, config, generator) -> None:
    if len(blocks) == 1:  # nothing to choose (its entropies were not computed)
        best = 0
    elif config.choice == "dlm-confidence":
        best = int(rank_first(marginals.amax(-1).mean(1), 1, descending=True))
    else:
        best = int(rank_first(entropies.mean(1), 1, descending=False))
    log.commit(blocks[best], tokens[best])


def _commit_dynamic(log: CommitLog, marginals, blocks, tokens, entropies, config, generator) -> None:
    free = log.canvas.ids[blocks] == log.canvas.mask_id  # (C, B)
    new_counts = free.cumsum(1)  # (C, B): masked positions in each prefix
    prefix_entropy = (entropies * free).cumsum(1) / new_counts.clamp(min=1)
    qualifies = (prefix_entropy <= config.tau) & free  # a prefix ends on a position it commits
    gain = torch.where(qualifies, new_counts, 0)  # (C, B)
    best_per_block, end_per_block = gain.max(1)
    best = int(best_per_block.argmax())
    if int(best_per_block[best]) >= 2:
        take = free[best] & (torch.arange(blocks.shape[1], device=blocks.device) <= end_per_block[best])
        log.commit(blocks[best][take], tokens[best][take])
        return
    free_marginals = marginals[free]  # (F, V): DLM fallback, its most confident masked position in scope
    best = rank_first(free_marginals.amax(-1), 1, descending=True)[0]
    token = sample_top_p(free_marginals[best].log(), config.temperature, config.top_p, generator)
    log.commit(blocks[free][best][None], token[None])


def _commit_verify(log: CommitLog, marginals, blocks, tokens, entropies, config, generator) -> None:
    free = log.canvas.ids[blocks] == log.canvas.mask_id
    dlm_tokens = marginals.argmax(-1)  # (C, B)
    # the AR's greedy tokens judge the DLM's: a disagreeing position loses `verify_penalty` of certainty
    # (in float64: a large penalty keeps the certainty order among the penalised positions)
    score = certainty(marginals.log(), config.verify_selection).double() - config.verify_penalty * (dlm_tokens != tokens)
    score = torch.where(free, score, float("-inf")).flatten()
    chosen = rank_first(score, min(config.tokens_per_step, int(free.sum())), descending=True)
    log.commit(blocks.flatten()[chosen], dlm_tokens.flatten()[chosen])


_COMMIT = {"static": _commit_static, "dynamic": _commit_dynamic, "verify": _commit_verify}


def _window(canvas: Canvas, open_blocks: torch.Tensor, semi_ar_block: int) -> tuple[int, int]:
    """The positions [start, end) candidates may come from: the region, or its first unfinished semi-AR window."""
    if semi_ar_block <= 0:
        return canvas.start, canvas.end
    start = canvas.start + (int(open_blocks[0, 0]) - canvas.start) // semi_ar_block * semi_ar_block
    return start, min(start + semi_ar_block, canvas.end)


def _candidates(log: CommitLog, blocks: torch.Tensor, config: CodilaDecodeConfig) -> tuple[torch.Tensor, int, int]:
    """The nearest `scope` unfinished blocks (C, B) of the canvas's current window, and that window."""
    open_blocks = blocks[log.canvas.masked()[blocks].any(1)]
    start, end = _window(log.canvas, open_blocks, config.semi_ar_block)
    return open_blocks[open_blocks[:, 0] < end][: config.scope], start, end


def _ar_commit(ar: LocalAR, logs: list[CommitLog], offers: list[tuple[torch.Tensor, torch.Tensor]], config: CodilaDecodeConfig,
               generators: list[torch.Generator]) -> None:
    """The AR decodes the offered blocks (C_i, B) with their marginals (C_i, B, V) of every canvas as one batch
    (committed tokens forced, each canvas sampling with its own generator); then each canvas's mode rule commits."""
    ids = torch.cat([log.canvas.ids[open_blocks] for log, (open_blocks, _) in zip(logs, offers)])
    forced = torch.where(ids == logs[0].canvas.mask_id, -1, ids)  # committed tokens of partly decoded blocks
    sizes = [len(open_blocks) for open_blocks, _ in offers]
    sampling = (0.0, 1.0) if config.mode == "verify" else (config.temperature, config.top_p)  # verify: greedy judge
    # entropies choose among several blocks (static) or end a prefix (dynamic); one static candidate needs none
    with_entropy = config.mode == "dynamic" or (config.mode == "static" and config.choice == "ar-entropy" and max(sizes) > 1)
    tokens, entropies = ar.decode(torch.cat([m for _, m in offers]), list(zip(generators, sizes)), *sampling, forced, with_entropy)
    for log, (open_blocks, block_marginals), block_tokens, block_entropies, generator in zip(
        logs, offers, tokens.split(sizes), entropies.split(sizes), generators
    ):
        if log.observer is not None:
            log.observer.considered(log.step, open_blocks, block_marginals, block_tokens, block_entropies)
        _COMMIT[config.mode](log, block_marginals, open_blocks, block_tokens, block_entropies, config, generator)


def decode_codila_batch(dlm: DiffusionLM, ar: LocalAR, canvases: list[Canvas], config: CodilaDecodeConfig,
                        generators: list[torch.Generator]) -> list[DecodeResult]:
    """Decode canvases with CoDiLA (one DLM forward and B batched AR calls per step for all unfinished
    canvases); blocks of the AR's block size, any order within the scope (and the semi-AR window)."""
    for canvas in canvases:
        _check(dlm, ar, canvas, config)
    if config.cache != "none":
        return [_decode_cached(dlm, ar, canvas, config, generator) for canvas, generator in zip(canvases, generators)]
    logs = [CommitLog(canvas.copy(), dlm.special.eos_id) for canvas in canvases]
    batch = CanvasBatch([log.canvas for log in logs], dlm.special.pad_id, dlm.device)
    blocks = [log.canvas.blocks(ar.block_size) for log in logs]  # (N_i, B) positions of each canvas
    forwards = [0] * len(logs)
    started, ar_started = time.perf_counter(), ar.seconds
    with torch.no_grad():
        while rows := batch.active():
            candidates = [_candidates(logs[row], blocks[row], config)[0] - logs[row].canvas.start for row in rows]
            offsets = torch.unique(torch.cat([c.flatten() for c in candidates]))  # region offsets any canvas needs
            marginals = torch.softmax(batch.region_logits(dlm, rows, offsets), dim=-1)  # (A, len(offsets), V)
            columns = torch.searchsorted(offsets, torch.cat(candidates)).split([len(c) for c in candidates])
            offers = [(c + logs[row].canvas.start, marginals[index][block_columns])  # blocks (C, B), marginals (C, B, V)
                      for index, (row, c, block_columns) in enumerate(zip(rows, candidates, columns))]
            _ar_commit(ar, [logs[row] for row in rows], offers, config, [generators[row] for row in rows])
            for row in rows:
                forwards[row] += 1
    n = len(logs)
    share, ar_share = (time.perf_counter() - started) / n, (ar.seconds - ar_started) / n
    return [log.finish(forwards[row], forwards[row] * ar.block_size, ar_share, share) for row, log in enumerate(logs)]


def _decode_cached(dlm: DiffusionLM, ar: LocalAR, canvas: Canvas, config: CodilaDecodeConfig, generator: torch.Generator) -> DecodeResult:
    """CoDiLA over semi-AR windows with the approximate DLM KV cache, refreshed when a new window starts."""
    log = CommitLog(canvas.copy(dlm.device), dlm.special.eos_id)
    blocks = log.canvas.blocks(ar.block_size)
    cache = DlmKvCache(dlm, config.cache)
    forwards_before, ar_before, current, steps = dlm.forwards, ar.seconds, None, 0
    with torch.no_grad():
        while not log.done():
            open_blocks, start, end = _candidates(log, blocks, config)
            if start != current:
                logits, current = cache.refresh(log.canvas.ids, start, end), start
            else:
                logits = cache.block_logits(log.canvas.ids, start, end)
            _ar_commit(ar, [log], [(open_blocks, torch.softmax(logits, dim=-1)[open_blocks - start])], config, [generator])
            steps += 1
    return log.finish(dlm.forwards - forwards_before, steps * ar.block_size, ar.seconds - ar_before)


def decode_codila(dlm: DiffusionLM, ar: LocalAR, canvas: Canvas, config: CodilaDecodeConfig, generator: torch.Generator) -> DecodeResult:
    """`decode_codila_batch` for one canvas."""
    return decode_codila_batch(dlm, ar, [canvas], config, [generator])[0]
