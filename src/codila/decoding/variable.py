"""DreamOn's variable-length infilling: the DLM decodes the span K tokens per step (most certain first), and
- the expand token committed at a masked position turns it into two masks (the span grows by one),
- EOS committed inside the span deletes that position (the span shrinks by one).
So the infill may end longer or shorter than the masks it started with. The span never grows past `max_span` tokens
(there the expand token is not offered). One canvas at a time: its length changes. Registered as `dlm-variable`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codila.decoding.canvas import Canvas
from codila.decoding.certainty import SELECTION_HELP, SELECTIONS, certainty
from codila.decoding.options import check_config, option
from codila.decoding.result import DecodeResult
from codila.errors import CodilaError
from codila.lazy import lazy_module
from codila.sampling import rank_first, sample_top_p

if TYPE_CHECKING:
    from codila.models.dlm import DiffusionLM

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


@dataclass(frozen=True)
class VariableInfillConfig:
    """DreamOn's options (each field's help is its CLI `--help`)."""

    tokens_per_step: int = option(1, "K: positions committed per DLM forward", "--k", "--tokens-per-step")
    selection: str = option("entropy", SELECTION_HELP, choices=SELECTIONS)
    temperature: float = option(0.0, "sampling temperature of the committed tokens (0 = the argmax)")
    top_p: float = option(1.0, "nucleus sampling mass")
    max_span: int = option(0, "dlm-variable: the most tokens the span may grow to (0 = 4 x its initial length)")

    def label(self, ar=None) -> str:
        span = f" max span {self.max_span}" if self.max_span else ""
        return f"DLM variable-length K={self.tokens_per_step}{span}"

    def columns(self) -> dict:
        return {"k": self.tokens_per_step}

    @classmethod
    def examples(cls) -> list[VariableInfillConfig]:
        return [cls(), cls(tokens_per_step=2, selection="confidence", temperature=1.0, max_span=40)]

    def __post_init__(self) -> None:
        check_config(self)


def decode_variable_batch(
    dlm: DiffusionLM, ar, canvases: list[Canvas], config: VariableInfillConfig, generators: list[torch.Generator]
) -> list[DecodeResult]:
    """Each canvas on its own (its length changes as it decodes), with its own generator."""
    return [
        decode_variable_infill(dlm, canvas, config, generator, config.max_span or 4 * canvas.length)
        for canvas, generator in zip(canvases, generators)
    ]


def decode_variable_infill(
    dlm: DiffusionLM, canvas: Canvas, config: VariableInfillConfig, generator: torch.Generator, max_span: int
) -> DecodeResult:
    if dlm.expand_id is None:
        raise CodilaError(
            "variable-length infilling needs a DLM with an expand token (a DreamOn model): choose another --decoder"
        )
    if max_span < canvas.length:
        raise CodilaError(f"--max-span ({max_span}) must be at least the initial length ({canvas.length})")
    started, forwards, tokens_per_step = time.perf_counter(), 0, []
    ids, start, end, mask = canvas.ids.to(dlm.device), canvas.start, canvas.end, canvas.mask_id
    committed = torch.full_like(ids, -1)
    may_expand = dlm.banned_ids[dlm.banned_ids != dlm.expand_id]
    while bool((ids[start:end] == mask).any()) and not (canvas.cancel is not None and canvas.cancel.is_set()):
        room = end - start < max_span and len(ids) < dlm.max_length
        positions = torch.arange(start, end, device=ids.device)
        logits = dlm.logits(ids[None], positions, banned=may_expand if room else None)[0]  # (span, V)
        forwards += 1
        candidates = torch.nonzero(ids[start:end] == mask).flatten()  # offsets in the span
        scores = certainty(logits[candidates], config.selection)
        chosen = candidates[rank_first(scores, min(config.tokens_per_step, len(candidates)), descending=True)]
        tokens = sample_top_p(logits[chosen], config.temperature, config.top_p, generator)
        count, step = 0, len(tokens_per_step)
        for offset, token in sorted(zip(chosen.tolist(), tokens.tolist()), reverse=True):  # right to left: offsets stay valid
            position = start + offset
            if token == dlm.expand_id:
                ids = torch.cat([ids[:position], ids.new_tensor([mask, mask]), ids[position + 1 :]])
                committed = torch.cat([committed[:position], committed.new_tensor([-1, -1]), committed[position + 1 :]])
                end += 1
            elif token == dlm.special.eos_id:
                ids = torch.cat([ids[:position], ids[position + 1 :]])
                committed = torch.cat([committed[:position], committed[position + 1 :]])
                end -= 1
            else:
                ids[position], committed[position] = token, step
                count += 1
        tokens_per_step.append(count)
    return DecodeResult(ids, start, end, forwards, 0, tokens_per_step, committed, time.perf_counter() - started)
