"""What every decoder returns, and the bookkeeping of commits shared by all of them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from codila.decoding.canvas import Canvas
from codila.lazy import lazy_module

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


@dataclass
class DecodeResult:
    ids: torch.Tensor  # (L,) the final canvas
    start: int
    end: int
    dlm_forwards: int  # DLM forward passes over the canvas
    ar_steps: int  # AR forward calls (one call decodes one token for a whole batch of blocks)
    tokens_per_step: list[int]  # tokens committed at each step
    commit_step: torch.Tensor  # (L,) the step at which each position was committed; -1 for fixed positions
    seconds: float
    ar_seconds: float = 0.0  # of `seconds`, the time spent decoding blocks with the AR

    @property
    def generated(self) -> torch.Tensor:
        return self.ids[self.start : self.end]

    @property
    def steps(self) -> int:
        return len(self.tokens_per_step)

    @property
    def mean_tokens_per_step(self) -> float:
        return sum(self.tokens_per_step) / max(1, self.steps)


class StepObserver(Protocol):
    """An optional watcher of one canvas's decoding (a trace, a stream), set as `Canvas.observer`. Decoders call it only
    when it is set, so an unobserved decoding pays nothing. It must only read what it is given."""

    def considered(
        self,
        step: int,
        positions: torch.Tensor,
        marginals: torch.Tensor,
        ar_tokens: torch.Tensor | None,
        ar_entropies: torch.Tensor | None,
    ) -> None:
        """Before a commit: the candidate positions (C, B) (or (C,) for the DLM alone), the DLM's marginals there
        (..., V), and the local AR's tokens and entropies (C, B) when an AR decoded them (NaN entropies: not computed)."""

    def committed(self, step: int, positions: torch.Tensor, tokens: torch.Tensor) -> None:
        """After a commit: the positions (1D, EOS fill included) and the tokens now there."""


@dataclass
class CommitLog:
    """Commits tokens into a canvas and records when; `finish` turns it into a DecodeResult."""

    canvas: Canvas
    eos_id: int
    commit_step: torch.Tensor = field(init=False)
    tokens_per_step: list[int] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.commit_step = torch.full_like(self.canvas.ids, -1)
        self.observer = self.canvas.observer
        self.cancelled = False

    @property
    def step(self) -> int:
        return len(self.tokens_per_step)

    def commit(self, positions: torch.Tensor, tokens: torch.Tensor) -> None:
        """Commit `tokens` at still-masked `positions` (1D) as one step."""
        assert bool(self.canvas.masked()[positions].all()), "a decoder tried to overwrite a committed position"
        step = len(self.tokens_per_step)
        self.canvas.ids[positions] = tokens
        self.commit_step[positions] = step
        count = len(positions)
        if self.canvas.stop_at_eos and bool((tokens == self.eos_id).any()):
            first_eos = int(positions[tokens == self.eos_id].min())
            after = torch.nonzero(
                self.canvas.masked() & (torch.arange(len(self.canvas.ids), device=self.canvas.ids.device) > first_eos)
            ).flatten()
            self.canvas.ids[after] = self.eos_id
            self.commit_step[after] = step
            count += len(after)
            positions = torch.cat([positions, after])
        self.tokens_per_step.append(count)
        if self.observer is not None:
            self.observer.committed(step, positions, self.canvas.ids[positions])

    def done(self) -> bool:
        """Every position committed, or the canvas was cancelled (`Canvas.cancel`: its client left); decoders check this
        between steps, so a cancelled canvas decodes at most the step under way."""
        if self.canvas.cancel is not None and self.canvas.cancel.is_set():
            self.cancelled = True
            return True
        return not bool(self.canvas.masked().any())

    def finish(self, dlm_forwards: int, ar_steps: int, ar_seconds: float = 0.0, seconds: float | None = None) -> DecodeResult:
        """`seconds` defaults to the time since this log began; a batch passes each canvas its share of the batch's."""
        elapsed = time.perf_counter() - self.started if seconds is None else seconds
        return DecodeResult(
            self.canvas.ids.clone(),
            self.canvas.start,
            self.canvas.end,
            dlm_forwards,
            ar_steps,
            self.tokens_per_step,
            self.commit_step,
            elapsed,
            ar_seconds,
        )
