"""How many tokens the DLM-alone decoder commits each step, and in which numerics it ranks them: codila's own (a fixed K
per step, scores in float32, EOS fills the rest of a completion) or the authors' samplers, written from their published
code (not copied):

- **dream** (Dream's `diffusion_generate`, `DreamGenerationMixin._sample`): N steps over the timesteps
  `linspace(1, eps, N + 1)` (float32); step i < N - 1 commits `int(masked * (1 - s / t))` of the `masked` positions still
  open (t, s = timesteps i, i + 1; float32 arithmetic, truncated), the last step all that remain. With N = L the counts
  are 0, 1, ..., 1, 2: not a fixed K.
- **llada** (LLaDA's `generate` / `get_num_transfer_tokens`): the region is cut into semi-autoregressive windows of
  `block_length` (the whole region when 0); N steps are split evenly over them (N must be a multiple of their number);
  each window's masked positions, counted when it starts, are split evenly over its steps, the remainder going one each
  to its first steps.
- **reference numerics** (`Numerics.reference`): the family's authors' score formulas and dtypes (Dream: the softmax,
  its max / top-2 margin / `sum p log(p + 1e-10)` in the model's dtype, the token its argmax; LLaDA: the token the
  argmax of the logits, its confidence from a float64 softmax), nothing banned, no EOS fill. See docs/design-choices.md.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from codila.errors import CodilaError
from codila.lazy import lazy_module

if TYPE_CHECKING:
    from codila.decoding.canvas import Canvas
    from codila.models.dlm import DiffusionLM

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it

SCHEDULES = ("auto", "dream", "llada")
SCORE_DTYPES = ("float32", "float64", "model")
DREAM_EPS = 1e-3  # Dream's generation_config default
DREAM_ENTROPY_EPSILON = 1e-10  # inside Dream's log(p + epsilon)

# (canvas, open positions of its window) -> how many of them to commit this step; one per canvas (it may keep state)
StepCount = Callable[["Canvas", "torch.Tensor"], int]


def family_schedule(family: str) -> str:
    """The schedule of a DLM family's authors: Dream's for Dream models, LLaDA's for LLaDA and codila's own."""
    return "dream" if family == "dream" else "llada"


def resolve_schedule(schedule: str, family: str) -> str:
    if schedule not in SCHEDULES:
        raise CodilaError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    return family_schedule(family) if schedule == "auto" else schedule


def dream_count(step: int, steps: int, masked: int, eps: float = DREAM_EPS) -> int:
    """Tokens Dream's sampler commits at `step` (0-based) of `steps` when `masked` positions are still masked."""
    if step >= steps - 1:
        return masked
    timesteps = torch.linspace(1, eps, steps + 1)  # float32, as Dream's
    t, s = timesteps[step], timesteps[step + 1]
    return int(torch.tensor(float(masked)) * (1 - s / t))


def llada_counts(masked: int, steps: int) -> list[int]:
    """LLaDA's get_num_transfer_tokens for one window: `masked` positions over `steps` steps, remainder first."""
    base, remainder = divmod(masked, steps)
    return [base + (1 if step < remainder else 0) for step in range(steps)]


class FixedCount:
    """codila's --k: K per step (fewer when fewer remain)."""

    def __init__(self, k: int):
        self.k = k

    def __call__(self, canvas: Canvas, positions: torch.Tensor) -> int:
        return min(self.k, len(positions))


class DreamCount:
    """Dream's schedule for one canvas (its own step counter; the count depends on what is still masked)."""

    def __init__(self, steps: int, eps: float):
        self.steps, self.eps, self.step = steps, eps, 0

    def __call__(self, canvas: Canvas, positions: torch.Tensor) -> int:
        count = dream_count(self.step, self.steps, len(positions), self.eps)
        self.step += 1
        return min(count, len(positions))


class LladaCount:
    """LLaDA's schedule for one canvas: a window's counts are fixed when the window starts."""

    def __init__(self, steps_per_window: int, window: int):
        self.steps_per_window, self.window = steps_per_window, window
        self.window_start: int | None = None
        self.counts: list[int] = []
        self.step = 0

    def __call__(self, canvas: Canvas, positions: torch.Tensor) -> int:
        start = canvas.window(self.window)[0]
        if start != self.window_start:
            self.window_start, self.step = start, 0
            self.counts = llada_counts(len(positions), self.steps_per_window)
        count = self.counts[self.step] if self.step < len(self.counts) else len(positions)  # past its steps: the rest
        self.step += 1
        return min(count, len(positions))


def step_counts(
    canvases: list[Canvas], family: str, *, k: int, steps: int | None, schedule: str, eps: float, semi_ar_block: int
) -> list[StepCount]:
    """One StepCount per canvas: K per step without `steps`, else the resolved schedule over `steps` DLM forwards."""
    if steps is None:
        if k < 1:
            raise CodilaError(f"tokens per step must be >= 1, got {k}")
        return [FixedCount(k) for _ in canvases]
    if steps < 1:
        raise CodilaError(f"--steps must be >= 1, got {steps}")
    name = resolve_schedule(schedule, family)
    if name == "dream":
        if semi_ar_block:
            raise CodilaError("--schedule dream has no semi-autoregressive windows: drop --semi-ar-block or use --schedule llada")
        if not 0 < eps < 1:
            raise CodilaError(f"--eps (Dream's final timestep) must be in (0, 1), got {eps}")
        return [DreamCount(steps, eps) for _ in canvases]
    out = []
    for canvas in canvases:
        window = semi_ar_block or canvas.length
        if canvas.length % window:
            raise CodilaError(
                f"--schedule llada needs the length ({canvas.length}) to be a multiple of --semi-ar-block ({window}), as LLaDA's generate"
            )
        windows = canvas.length // window
        if steps % windows:
            raise CodilaError(
                f"--schedule llada splits --steps over the {windows} windows of {window}: --steps {steps} is not a multiple of {windows}"
            )
        out.append(LladaCount(steps // windows, semi_ar_block))
    return out


@dataclass(frozen=True)
class Numerics:
    """How candidates are scored and committed. `score_dtype`: float32, float64 or the model's dtype. `eos_fill`: a
    committed EOS fills the rest of a completion at once. `reference`: "" (codila's formulas) or the family whose
    authors' formulas are used ("dream", "llada"; their dtypes then replace `score_dtype`); nothing banned then."""

    score_dtype: str = "float32"
    eos_fill: bool = True
    reference: str = ""

    def dtype(self, dlm: DiffusionLM) -> torch.dtype:
        if self.reference:
            return torch.float64 if self.reference == "llada" else dlm.model.dtype
        if self.score_dtype not in SCORE_DTYPES:
            raise CodilaError(f"unknown score dtype {self.score_dtype!r}; choose one of {', '.join(SCORE_DTYPES)}")
        return {"float32": torch.float32, "float64": torch.float64}.get(self.score_dtype) or dlm.model.dtype

    def scores(
        self,
        logits: torch.Tensor,
        selection: str,
        dtype: torch.dtype,
        temperature: float = 0.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(M, V) float32 logits (exact upcasts of the model's) -> (scores (M,), higher first; the tokens (M,) of every
        candidate, or None: the committed ones are then drawn by `sample_top_p`). Reference numerics draw every
        candidate's token first, as the authors do (at temperature > 0 their confidence is the drawn token's)."""
        from codila.decoding.certainty import certainty
        from codila.sampling import sample_top_p

        if self.reference == "dream":
            return dream_scores(logits.to(dtype), selection, temperature, top_p, generator)
        if self.reference == "llada" and selection == "confidence":
            tokens = logits.argmax(-1) if temperature <= 0 else sample_top_p(logits, temperature, 1.0, generator)
            return torch.softmax(logits.to(torch.float64), -1).gather(-1, tokens[:, None])[:, 0], tokens
        return certainty(logits.to(dtype), selection), None

    def rank(self, scores: torch.Tensor, count: int, positions: torch.Tensor, length: int) -> torch.Tensor:
        """Indices into `scores` of the `count` to commit. codila: best first, exact ties to the nearest position
        (`rank_first`). Reference: torch.topk over the whole canvas with -inf off the candidates, as the authors rank
        (ties then fall where topk puts them)."""
        from codila.sampling import rank_first

        if not self.reference:
            return rank_first(scores, count, descending=True)
        full = torch.full((length,), float("-inf"), dtype=scores.dtype, device=scores.device)
        full[positions] = scores
        chosen = (full[None].topk(count).indices[0] if self.reference == "dream" else full.topk(count).indices).sort().values
        return torch.searchsorted(positions, chosen)


def dream_scores(
    logits: torch.Tensor, selection: str, temperature: float = 0.0, top_p: float = 1.0, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dream's sample_tokens in the dtype of `logits`: the logits divided by the temperature and cut to the top-p
    nucleus (as its top_p_logits: the sorted cumulative softmax above top_p removed, the first token always kept), then
    maskgit_plus (the token's probability), topk_margin (top-1 minus top-2) or entropy (sum p log(p + 1e-10)) of
    those probabilities; the token is their argmax at temperature 0, else drawn from them."""
    from codila.sampling import sample_top_p

    if temperature > 0:
        logits = logits / temperature
        if top_p < 1:
            ordered, order = torch.sort(logits, descending=True)
            cut = torch.cumsum(torch.softmax(ordered, dim=-1), dim=-1) > top_p
            cut[..., 1:] = cut[..., :-1].clone()
            cut[..., 0] = False
            logits = logits.masked_fill(torch.zeros_like(cut).scatter(-1, order, cut), torch.finfo(logits.dtype).min)
    probs = torch.softmax(logits, dim=-1)
    confidence, tokens = probs.max(dim=-1)
    if temperature > 0:
        tokens = sample_top_p(probs.float().log(), 1.0, 1.0, generator)
        confidence = probs.gather(-1, tokens[:, None])[:, 0]
    if selection == "margin":
        top2 = probs.topk(2, dim=-1).values
        confidence = top2[:, 0] - top2[:, 1]
    elif selection == "entropy":
        confidence = (probs * torch.log(probs + DREAM_ENTROPY_EPSILON)).sum(-1)
    elif selection != "confidence":
        raise CodilaError(f"unknown selection {selection!r}")
    return confidence, tokens


def numerics_for(dlm: DiffusionLM, score_dtype: str, eos_fill: bool, reference: bool) -> Numerics:
    """The decoder's options -> Numerics (`reference`: the DLM family's authors' sampler)."""
    if reference:
        return Numerics(score_dtype, eos_fill=False, reference="dream" if dlm.family == "dream" else "llada")
    if score_dtype not in SCORE_DTYPES:
        raise CodilaError(f"unknown score dtype {score_dtype!r}; choose one of {', '.join(SCORE_DTYPES)}")
    return Numerics(score_dtype, eos_fill)


@contextmanager
def banning(dlm: DiffusionLM, numerics: Numerics):
    """The authors ban no token: under reference numerics the DLM's banned ids are lifted for the decode (the mask token is
    still never committed: `unmasked_tokens`)."""
    if not numerics.reference:
        yield
        return
    saved = dlm.banned_ids
    dlm.banned_ids = saved[:0]
    try:
        yield
    finally:
        dlm.banned_ids = saved


def unmasked_tokens(logits: torch.Tensor, tokens: torch.Tensor, mask_id: int) -> torch.Tensor:
    """`tokens`, except where one is the mask token (an unbanned reference decode): the best other token there."""
    hit = tokens == mask_id
    if bool(hit.any()):
        fallback = logits[hit].clone()
        fallback[:, mask_id] = float("-inf")
        tokens = tokens.clone()
        tokens[hit] = fallback.argmax(-1)
    return tokens
