"""What every decoder returns, and the bookkeeping of commits shared by all of them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from codila.decoding.canvas import Canvas


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

    def commit(self, positions: torch.Tensor, tokens: torch.Tensor) -> None:
        """Commit `tokens` at still-masked `positions` (1D) as one step."""
        assert bool(self.canvas.masked()[positions].all()), "a decoder tried to overwrite a committed position"
        step = len(self.tokens_per_step)
        self.canvas.ids[positions] = tokens
        self.commit_step[positions] = step
        count = len(positions)
        if self.canvas.stop_at_eos and bool((tokens == self.eos_id).any()):
            first_eos = int(positions[tokens == self.eos_id].min())
            after = torch.nonzero(self.canvas.masked() & (torch.arange(len(self.canvas.ids), device=self.canvas.ids.device) > first_eos)).flatten()
            self.canvas.ids[after] = self.eos_id
            self.commit_step[after] = step
            count += len(after)
        self.tokens_per_step.append(count)

    def done(self) -> bool:
        return not bool(self.canvas.masked().any())

    def finish(self, dlm_forwards: int, ar_steps: int, ar_seconds: float = 0.0, seconds: float | None = None) -> DecodeResult:
        """`seconds` defaults to the time since this log began; a batch passes each canvas its share of the batch's."""
        elapsed = time.perf_counter() - self.started if seconds is None else seconds
        return DecodeResult(self.canvas.ids.clone(), self.canvas.start, self.canvas.end, dlm_forwards, ar_steps,
                            self.tokens_per_step, self.commit_step, elapsed, ar_seconds)
