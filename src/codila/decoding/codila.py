"""CoDiLA decoding: the DLM drafts marginals for the whole canvas, the local AR decodes blocks of B.

Each step costs one DLM forward and B batched AR calls. Modes (static and dynamic: the paper, arXiv 2603.20216):
- static: the AR decodes the nearest `scope` masked blocks as one batch; one block is committed whole (B tokens
  per step), in any order: by default the one with the lowest mean AR entropy (the paper), or (`choice`) the
  one where the DLM is most confident (highest mean top-1 marginal).
- dynamic: commit the longest prefix of a candidate block whose mean AR entropy over its still-masked
  positions is <= tau; if no block offers two or more tokens, commit the DLM's single most confident token.
  Committed tokens of a partly decoded block are fed to the AR as hard embeddings and forced.
- verify: DLM confidence decoding of K tokens per step, where a position whose DLM top-1 disagrees with
  the AR's greedy token is penalised (the AR as a local judge; for planning tasks).
With `semi_ar_block` n > 0 the candidates come from the first unfinished window of n positions only (windows
left to right, any order inside one: LLaDA's semi-autoregressive order, `Canvas.window`); then Fast-dLLM's approximate
DLM KV cache (`cache`: prefix or dual, `codila.decoding.forward`) can serve every step of a window after its first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codila.decoding.canvas import Canvas
from codila.decoding.certainty import SELECTIONS, certainty
from codila.decoding.defaults import DEFAULT_SCOPE, DEFAULT_TAU, PAPER_SCOPE, PAPER_TEMPERATURE, PAPER_TOP_P
from codila.decoding.feed import Feed, Joiner
from codila.decoding.forward import CACHES, make_forward
from codila.decoding.options import CACHE_HELP, WINDOW_HELP, check_config, option, window_label
from codila.decoding.result import CommitLog, DecodeResult
from codila.errors import CodilaError
from codila.lazy import lazy_module
from codila.sampling import rank_first, sample_top_p

if TYPE_CHECKING:
    from codila.models.dlm import DiffusionLM
    from codila.models.local_ar import LocalAR

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it

MODES = ("static", "dynamic", "verify")
CHOICES = ("ar-entropy", "dlm-confidence", "learned", "learned-frontier")
LEARNED = ("learned", "learned-frontier")


@dataclass(frozen=True)
class CodilaDecodeConfig:
    """CoDiLA's options (each field's help is its CLI `--help`; the modes: the module docstring)."""

    # scope and tau: chosen on 200 validation-split spans of the shipped models, never on the test split
    # (scripts/select_on_validation.py; codila.decoding.defaults). Tau: the best syntax-valid % at >= 2 tokens/step
    # among 4, 4.5, 5, 5.5, 6 and 8 (the AR's block entropies lie mostly between 4 and 6 nats), and again among 3.5,
    # 4, 4.5, 5 and 5.5 with the stage-5 B=4 AR.
    mode: str = option("static", "static, dynamic or verify", choices=MODES)
    scope: int = option(
        DEFAULT_SCOPE,
        f"candidate blocks per step: the nearest still-masked ones (chosen on validation; the paper: {PAPER_SCOPE})",
    )
    tau: float = option(DEFAULT_TAU, "dynamic mode's entropy threshold (nats): larger = more tokens per step, less care")
    temperature: float = option(
        PAPER_TEMPERATURE, f"AR sampling temperature (the paper: {PAPER_TEMPERATURE}); also the DLM fallback token's"
    )
    top_p: float = option(PAPER_TOP_P, f"AR nucleus sampling mass (the paper: {PAPER_TOP_P})")
    tokens_per_step: int = option(1, "verify mode's K: positions committed per step", "--k", "--tokens-per-step")
    verify_penalty: float = option(1.0, "verify mode: certainty subtracted where the AR disagrees with the DLM")
    verify_selection: str = option(
        "confidence", "verify mode's certainty schedule: confidence, entropy or margin", choices=SELECTIONS
    )
    choice: str = option(
        "ar-entropy",
        "the block rule: ar-entropy (static: lowest mean AR entropy, the paper), dlm-confidence (static: highest mean "
        "DLM top-1 probability) or learned (the block scorer's predicted share of right tokens: static's block, "
        "dynamic's prefixes above --q, verify's certainty); learned-frontier: static learned among the blocks next to "
        "committed tokens only (no islands: one seam, like left to right)",
        choices=CHOICES,
    )
    scorer: str = option("", "--choice learned: the block scorer file (default: block-scorer.pt in the AR's directory)")
    q: float = option(0.5, "dynamic mode with --choice learned: commit the longest prefix whose predicted correctness > q")
    semi_ar_block: int = option(0, WINDOW_HELP)
    cache: str = option("none", CACHE_HELP, choices=CACHES)

    def label(self, ar) -> str:
        """ "CoDiLA B=4 static soft scope=10", plus tau (dynamic) or K (verify) and what differs from the defaults."""
        threshold = f" q={self.q}" if self.choice in LEARNED else f" tau={self.tau}"
        extra = threshold if self.mode == "dynamic" else f" K={self.tokens_per_step}" if self.mode == "verify" else ""
        if self.mode == "verify":
            extra += f" penalty={self.verify_penalty}"
            extra += f" {self.verify_selection}" if self.verify_selection != CodilaDecodeConfig.verify_selection else ""
        extra += f" scope={self.scope}"
        extra += f" {self.choice}" if self.choice != CodilaDecodeConfig.choice else ""
        return f"CoDiLA B={ar.block_size} {self.mode} {ar.conditioning}{extra}{window_label(self)}"

    def columns(self) -> dict:
        return {
            "k": self.tokens_per_step if self.mode == "verify" else None,
            "mode": self.mode,
            "scope": self.scope,
            "tau": self.tau if self.mode == "dynamic" else None,
        }

    @classmethod
    def examples(cls) -> list[CodilaDecodeConfig]:
        """Every mode, block rule, window and cache: the contract tests run each."""
        return [
            *(cls(mode=mode, tau=3.0, tokens_per_step=2, scope=10) for mode in MODES),
            cls(scope=1, temperature=1.0, top_p=0.9),
            cls(choice="dlm-confidence", scope=10),
            *(cls(mode=mode, choice="learned", q=0.2, tokens_per_step=2, scope=10) for mode in MODES),
            cls(choice="learned-frontier", scope=10),
            cls(semi_ar_block=8, cache="dual"),
            cls(mode="verify", tokens_per_step=3, verify_penalty=0.5, verify_selection="margin"),
            cls(mode="dynamic", tau=3.0, scope=2, semi_ar_block=4, cache="prefix", temperature=0.7),
        ]

    def __post_init__(self) -> None:
        check_config(self)  # numbers in range, names among their choices


def _check(dlm: DiffusionLM, ar: LocalAR | None, canvas: Canvas, config: CodilaDecodeConfig) -> None:
    if ar is None:
        raise CodilaError("CoDiLA needs a local AR checkpoint (--ar PATH)")
    if (dlm.special.mask_id, dlm.special.eos_id) != (ar.special.mask_id, ar.special.eos_id):
        raise CodilaError("the AR was not loaded for this DLM (their mask / EOS ids differ): load it with load_ar(path, dlm)")
    if config.semi_ar_block < 0 or config.semi_ar_block % ar.block_size:
        raise CodilaError(f"--semi-ar-block must be a multiple of the block size {ar.block_size}, got {config.semi_ar_block}")
    canvas.blocks(ar.block_size)  # raises when the region is not a multiple of B


# Each step, every unfinished canvas offers its candidate blocks (C, B) of positions with their DLM marginals
# (C, B, V); the AR decodes the blocks of all canvases as one batch, each canvas sampling with its own generator;
# then the mode's rule commits, per canvas, from the AR's tokens and entropies (C, B).


def _commit_static(log: CommitLog, marginals, blocks, tokens, entropies, config, generator, scores=None) -> None:
    if len(blocks) == 1:  # nothing to choose (its entropies were not computed)
        best = 0
    elif config.choice in LEARNED:  # the highest predicted share of right tokens
        predicted = scores.mean(1).double()
        if config.choice == "learned-frontier":  # only blocks touching committed tokens (the leftmost always does)
            masked = log.canvas.masked()
            last = len(masked) - 1
            left = (blocks[:, 0] > 0) & ~masked[(blocks[:, 0] - 1).clamp_min(0)]
            right = (blocks[:, -1] < last) & ~masked[(blocks[:, -1] + 1).clamp_max(last)]
            predicted = torch.where(left | right, predicted, float("-inf"))
        best = int(rank_first(predicted, 1, descending=True))
    elif config.choice == "dlm-confidence":
        best = int(rank_first(marginals.amax(-1).mean(1), 1, descending=True))
    else:
        best = int(rank_first(entropies.mean(1), 1, descending=False))
    log.commit(blocks[best], tokens[best])


def _commit_dynamic(log: CommitLog, marginals, blocks, tokens, entropies, config, generator, scores=None) -> None:
    free = log.canvas.ids[blocks] == log.canvas.mask_id  # (C, B)
    new_counts = free.cumsum(1)  # (C, B): masked positions in each prefix
    if config.choice in LEARNED:  # the prefix's mean predicted correctness over the positions it commits
        qualifies = ((scores * free).cumsum(1) / new_counts.clamp(min=1) > config.q) & free
    else:
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


def _commit_verify(log: CommitLog, marginals, blocks, tokens, entropies, config, generator, scores=None) -> None:
    free = log.canvas.ids[blocks] == log.canvas.mask_id
    dlm_tokens = marginals.argmax(-1)  # (C, B)
    # the AR's greedy tokens judge the DLM's: a disagreeing position loses `verify_penalty` of certainty
    # (in float64: a large penalty keeps the certainty order among the penalised positions); learned: the scorer's
    # probability that the AR's token is right is the certainty
    sure = scores if config.choice in LEARNED else certainty(marginals.log(), config.verify_selection)
    score = sure.double() - config.verify_penalty * (dlm_tokens != tokens)
    score = torch.where(free, score, float("-inf")).flatten()
    chosen = rank_first(score, min(config.tokens_per_step, int(free.sum())), descending=True)
    log.commit(blocks.flatten()[chosen], dlm_tokens.flatten()[chosen])


_COMMIT = {"static": _commit_static, "dynamic": _commit_dynamic, "verify": _commit_verify}


def _ar_commit(
    ar: LocalAR,
    logs: list[CommitLog],
    offers: list[tuple[torch.Tensor, torch.Tensor]],
    config: CodilaDecodeConfig,
    generators: list[torch.Generator],
) -> None:
    """The AR decodes the offered blocks (C_i, B) with their marginals (C_i, B, V) of every canvas as one batch
    (committed tokens forced, each canvas sampling with its own generator); then each canvas's mode rule commits."""
    ids = torch.cat([log.canvas.ids[open_blocks] for log, (open_blocks, _) in zip(logs, offers)])
    forced = torch.where(ids == logs[0].canvas.mask_id, -1, ids)  # committed tokens of partly decoded blocks
    sizes = [len(open_blocks) for open_blocks, _ in offers]
    sampling = (0.0, 1.0) if config.mode == "verify" else (config.temperature, config.top_p)  # verify: greedy judge
    # entropies choose among several blocks (static) or end a prefix (dynamic); one static candidate needs none
    with_entropy = (
        config.mode == "dynamic"
        or config.choice in LEARNED
        or (config.mode == "static" and config.choice == "ar-entropy" and max(sizes) > 1)
    )
    from codila.decoding.block_scorer import block_features, scorer_for  # its model class needs torch: load on use

    scorer = scorer_for(ar, config.scorer) if config.choice in LEARNED else None
    tokens, entropies = ar.decode(
        torch.cat([m for _, m in offers]), list(zip(generators, sizes)), *sampling, forced, with_entropy
    )
    for log, (open_blocks, block_marginals), block_tokens, block_entropies, generator in zip(
        logs, offers, tokens.split(sizes), entropies.split(sizes), generators
    ):
        if log.observer is not None:
            log.observer.considered(log.step, open_blocks, block_marginals, block_tokens, block_entropies)
        scores = None
        if scorer is not None and (config.mode != "static" or len(open_blocks) > 1):
            canvas = log.canvas
            features = block_features(
                canvas.ids, canvas.mask_id, canvas.start, canvas.end, open_blocks, block_marginals, block_tokens,
                block_entropies, config.scope,
            )  # fmt: skip
            scores = scorer.probabilities(features)  # (C, B): P(the AR's token is right)
        _COMMIT[config.mode](log, block_marginals, open_blocks, block_tokens, block_entropies, config, generator, scores)


def _offered_blocks(canvas: Canvas, blocks: torch.Tensor, window: tuple[int, int], scope: int) -> torch.Tensor:
    """The nearest `scope` unfinished blocks (C, B) of the canvas's current window."""
    open_blocks = blocks[canvas.masked()[blocks].any(1)]
    return open_blocks[open_blocks[:, 0] < window[1]][:scope]


def decode_codila_batch(
    dlm: DiffusionLM,
    ar: LocalAR,
    canvases: list[Canvas],
    config: CodilaDecodeConfig,
    generators: list[torch.Generator],
    feed: Feed | None = None,
) -> list[DecodeResult]:
    """Decode canvases with CoDiLA (arXiv 2603.20216), every canvas sampling with its own generator.

    dlm: the masked diffusion LM that drafts marginals. ar: the local AR (its block size B). canvases: what to fill
    (not modified). config: the mode and its options (`CodilaDecodeConfig`).
    Each step: one DLM forward over the unfinished canvases gives the marginals of each one's offered blocks (the
    nearest `scope` unfinished blocks of its window); the AR decodes the offered blocks of all canvases as one batch
    (B calls); then each canvas's mode rule commits from the AR's tokens and entropies.
    feed: canvases joining while it runs (`codila.decoding.feed`; each is handed back when done).
    """
    for canvas in canvases:
        _check(dlm, ar, canvas, config)
    logs = [CommitLog(canvas.copy(dlm.device), dlm.special.eos_id) for canvas in canvases]
    forward = make_forward(dlm, [log.canvas for log in logs], config.cache, config.semi_ar_block)
    blocks = [log.canvas.blocks(ar.block_size) for log in logs]  # (N_i, B) positions of each canvas
    forwards, ar_calls = [0] * len(logs), [0] * len(logs)
    generators, ar_seconds, joiner = list(generators), [0.0] * len(logs), Joiner(feed, len(logs))

    def add(canvas: Canvas, generator: torch.Generator) -> None:
        _check(dlm, ar, canvas, config)  # may refuse the canvas: before anything is added
        logs.append(CommitLog(canvas.copy(dlm.device), dlm.special.eos_id))
        forward.add(logs[-1].canvas)
        blocks.append(logs[-1].canvas.blocks(ar.block_size))
        for per_canvas in (forwards, ar_calls, ar_seconds):
            per_canvas.append(0)
        generators.append(generator)

    finish = lambda row: logs[row].finish(forwards[row], ar_calls[row], ar_seconds[row])
    started, ar_started = time.perf_counter(), ar.seconds
    with torch.no_grad():
        while True:
            joiner.boundary(logs, add, finish)  # with a feed: hand back the finished canvases, take the newcomers
            if not (rows := [row for row, log in enumerate(logs) if not log.done()]):
                break
            windows = [logs[row].canvas.window(config.semi_ar_block) for row in rows]
            offered = [_offered_blocks(logs[row].canvas, blocks[row], window, config.scope) for row, window in zip(rows, windows)]
            logits = forward(rows, windows, [o.flatten() for o in offered])
            marginals = [torch.softmax(lg, dim=-1).view(*o.shape, -1) for lg, o in zip(logits, offered)]  # (C_i, B, V)
            ar_before, ar_seconds_before = ar.forwards, ar.seconds
            _ar_commit(ar, [logs[row] for row in rows], list(zip(offered, marginals)), config, [generators[row] for row in rows])
            for row in rows:
                forwards[row] += 1
                ar_calls[row] += ar.forwards - ar_before  # the AR counts its calls; one call serves every canvas's blocks
                ar_seconds[row] += (ar.seconds - ar_seconds_before) / len(rows)
    joiner.deliver(logs, finish)
    n = len(logs)
    share, ar_share = (time.perf_counter() - started) / n, (ar.seconds - ar_started) / n
    return [log.finish(forwards[row], ar_calls[row], ar_share, share) for row, log in enumerate(logs)]
