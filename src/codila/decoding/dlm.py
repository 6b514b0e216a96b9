"""The DLM-only baseline: each step, commit the K masked positions where the DLM is most certain (LLaDA's low-confidence
remasking, arXiv 2502.09992; the paper's baseline ranks by entropy)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from codila.decoding.canvas import Canvas
from codila.decoding.certainty import SELECTION_HELP, SELECTIONS, certainty
from codila.decoding.feed import Feed, Joiner
from codila.decoding.forward import CACHES, make_forward
from codila.decoding.options import CACHE_HELP, WINDOW_HELP, check_config, option, window_label
from codila.decoding.result import CommitLog, DecodeResult
from codila.decoding.schedules import (
    DREAM_EPS,
    SCHEDULES,
    SCORE_DTYPES,
    Numerics,
    StepCount,
    banning,
    numerics_for,
    step_counts,
    unmasked_tokens,
)
from codila.lazy import lazy_module
from codila.sampling import sample_top_p

if TYPE_CHECKING:
    from codila.models.dlm import DiffusionLM

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


@dataclass(frozen=True)
class DlmDecodeConfig:
    """The DLM-only baseline's options (each field's help is its CLI `--help`)."""

    tokens_per_step: int = option(1, "K: positions committed per DLM forward", "--k", "--tokens-per-step")
    selection: str = option("entropy", SELECTION_HELP, choices=SELECTIONS)
    temperature: float = option(0.0, "sampling temperature of the committed tokens (0 = the argmax)")
    top_p: float = option(1.0, "nucleus sampling mass")
    semi_ar_block: int = option(0, WINDOW_HELP)
    cache: str = option("none", CACHE_HELP, choices=CACHES)
    steps: int | None = option(
        None,
        "N: decode in N DLM forwards, the tokens per step from --schedule (replaces --k; unset: --k tokens every step)",
    )
    schedule: str = option(
        "auto",
        "with --steps: dream (Dream's diffusion_generate: int(masked x (1 - s/t)) over timesteps linspace(1, eps, N+1)), "
        "llada (LLaDA's generate: N split over the --semi-ar-block windows, each window's masks evenly over its steps, "
        "the remainder to the first) or auto (the DLM family's authors': dream for Dream models, llada otherwise)",
        choices=SCHEDULES,
    )
    eps: float = option(DREAM_EPS, "--schedule dream's final timestep (Dream's default)")
    score_dtype: str = option(
        "float32",
        "dtype of the selection scores: float32, float64 or model (the DLM's dtype, as Dream's sampler)",
        choices=SCORE_DTYPES,
    )
    eos_fill: bool = option(
        True,
        "a committed EOS turns every masked position after it into EOS at once (off: keep decoding there, as the authors)",
        "--eos-fill/--no-eos-fill",
    )
    reference: bool = option(
        False,
        "the DLM family's authors' sampler exactly: their score formulas and dtypes (Dream: the model's dtype; LLaDA: "
        "float64 confidence), no EOS fill, no banned tokens (overrides --score-dtype and --eos-fill)",
    )

    def label(self, ar=None) -> str:
        """ "DLM K=1" (or "DLM steps=N <schedule>"), plus what differs from the paper's baseline: selection, numerics,
        semi-AR windows, cache."""
        label = f"DLM K={self.tokens_per_step}" if self.steps is None else f"DLM steps={self.steps} {self.schedule}"
        if self.selection != DlmDecodeConfig.selection:
            label += f" {self.selection}"
        if self.temperature > 0:
            label += f" T={self.temperature} top-p={self.top_p}"
        if self.reference:
            label += " reference"
        elif (self.score_dtype, self.eos_fill) != ("float32", True):
            label += f" scores {self.score_dtype}" + ("" if self.eos_fill else " no EOS fill")
        return label + window_label(self)

    def columns(self) -> dict:
        """The row columns this setting fills (tables and JSON)."""
        return {"k": self.tokens_per_step if self.steps is None else None}

    @classmethod
    def examples(cls) -> list[DlmDecodeConfig]:
        """Settings that exercise every branch: the contract tests run each."""
        return [
            cls(),
            cls(tokens_per_step=3, selection="confidence", temperature=1.0, top_p=0.9),
            cls(tokens_per_step=2, selection="margin", semi_ar_block=4),
            cls(tokens_per_step=2, semi_ar_block=8, cache="prefix"),
            cls(semi_ar_block=4, cache="dual", temperature=0.7),
            cls(steps=3, schedule="dream", selection="margin", score_dtype="model", eos_fill=False),
            cls(steps=6, schedule="llada", selection="confidence", semi_ar_block=8, temperature=1.0),
            cls(steps=5, reference=True),
        ]

    def __post_init__(self) -> None:
        check_config(self)  # numbers in range, names among their choices


def decode_most_certain(
    dlm: DiffusionLM,
    canvases: list[Canvas],
    generators: list[torch.Generator],
    *,
    selection: str,
    count: Callable[[torch.Tensor], int] | None,
    temperature: float,
    top_p: float,
    semi_ar_block: int,
    cache: str,
    counts: list[StepCount] | None = None,
    numerics: Numerics | None = None,
    feed: Feed | None = None,
    count_for: Callable[[Canvas], StepCount] | None = None,
) -> list[DecodeResult]:
    """The DLM decoding loop shared by the confidence-ranked decoders; every canvas decodes with its own generator.

    dlm: the masked diffusion LM. canvases: what to fill (not modified). generators: one per canvas.
    selection: how a masked position's certainty is scored (`certainty`). count: given the candidates' scores (M,),
        how many of the most certain to commit this step (>= 1).
    temperature, top_p: how each committed position's token is drawn from its marginal (0: the argmax).
    semi_ar_block: 0, or the length of the left-to-right windows candidates come from (`Canvas.window`).
    cache: the DLM forward (`codila.decoding.forward`): "none", "prefix" or "dual".
    counts: one StepCount per canvas (`codila.decoding.schedules`), replacing `count`. numerics: score dtype, EOS fill
        and the authors' formulas (default: codila's, float32 scores with EOS fill).
    feed: canvases joining while it runs (`codila.decoding.feed`), with `count_for` making a joiner's StepCount.
    Each step: one DLM forward over the unfinished canvases, then each commits its `count` most certain candidates.
    """
    certainty(torch.zeros(2), selection)  # validates the name before any work
    numerics = numerics or Numerics()
    score_dtype = numerics.dtype(dlm)
    logs = [CommitLog(canvas.copy(dlm.device), dlm.special.eos_id) for canvas in canvases]
    for log in logs:
        log.canvas.stop_at_eos = log.canvas.stop_at_eos and numerics.eos_fill
    forward = make_forward(dlm, [log.canvas for log in logs], cache, semi_ar_block)
    forwards = [0] * len(logs)
    generators, counts, joiner = list(generators), None if counts is None else list(counts), Joiner(feed, len(logs))

    def add(canvas: Canvas, generator: torch.Generator) -> None:
        count_of = None if counts is None else count_for(canvas)  # may refuse the canvas: before anything is added
        log = CommitLog(canvas.copy(dlm.device), dlm.special.eos_id)
        log.canvas.stop_at_eos = log.canvas.stop_at_eos and numerics.eos_fill
        logs.append(log)
        forward.add(log.canvas)
        forwards.append(0)
        generators.append(generator)
        if counts is not None:
            counts.append(count_of)

    finish = lambda row: logs[row].finish(forwards[row], 0)
    started = time.perf_counter()
    with banning(dlm, numerics):
        while True:
            joiner.boundary(logs, add, finish)  # with a feed: hand back the finished canvases, take the newcomers
            if not (rows := [row for row, log in enumerate(logs) if not log.done()]):
                break
            candidates = [logs[row].canvas.open_positions(semi_ar_block) for row in rows]  # (M_i,) masked, in the window
            logits = forward(rows, [logs[row].canvas.window(semi_ar_block) for row in rows], candidates)  # (M_i, V) each
            for row, positions, row_logits in zip(rows, candidates, logits):
                scores, drawn = numerics.scores(row_logits, selection, score_dtype, temperature, top_p, generators[row])
                if logs[row].observer is not None:
                    logs[row].observer.considered(logs[row].step, positions, torch.softmax(row_logits, dim=-1), None, None)
                number = counts[row](logs[row].canvas, positions) if counts is not None else count(scores)
                chosen = numerics.rank(scores, number, positions, len(logs[row].canvas.ids))
                if drawn is not None:
                    tokens = drawn[chosen]
                else:
                    tokens = sample_top_p(row_logits[chosen], temperature, top_p, generators[row])
                if numerics.reference:
                    tokens = unmasked_tokens(row_logits[chosen], tokens, dlm.mask_id)
                logs[row].commit(positions[chosen], tokens)
                forwards[row] += 1
    joiner.deliver(logs, finish)
    share = (time.perf_counter() - started) / len(logs)
    return [log.finish(forwards[row], 0, seconds=share) for row, log in enumerate(logs)]


def decode_dlm_batch(
    dlm: DiffusionLM,
    ar,
    canvases: list[Canvas],
    config: DlmDecodeConfig,
    generators: list[torch.Generator],
    feed: Feed | None = None,
) -> list[DecodeResult]:
    """Decode with the DLM alone: K most certain masked positions per step, or --steps N with an authors' schedule
    (`codila.decoding.schedules`; `decode_most_certain`)."""
    counts_of = lambda some: step_counts(
        some,
        dlm.family,
        k=config.tokens_per_step,
        steps=config.steps,
        schedule=config.schedule,
        eps=config.eps,
        semi_ar_block=config.semi_ar_block,
    )
    counts = counts_of(canvases)
    return decode_most_certain(
        dlm,
        canvases,
        generators,
        selection=config.selection,
        count=None,
        temperature=config.temperature,
        top_p=config.top_p,
        semi_ar_block=config.semi_ar_block,
        cache=config.cache,
        counts=counts,
        numerics=numerics_for(dlm, config.score_dtype, config.eos_fill, config.reference),
        feed=feed,
        count_for=lambda canvas: counts_of([canvas])[0],
    )
