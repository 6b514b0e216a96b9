"""DecodeTrace: one decoding recorded step by step (a StepObserver), as plain JSON-able data.

Per step: the candidate positions the decoder looked at, the DLM's top guesses and entropy there, the local AR's
token and entropy where an AR decoded them, and what was committed. Only candidate rows are recorded (C x B of them),
so a trace costs little; an unobserved decoding pays nothing (see codila.decoding.result.StepObserver).
"""

from __future__ import annotations

import math

import torch

TOP_GUESSES = 3  # DLM guesses kept per candidate position


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the distributions (..., V); zero-probability tokens count zero."""
    return -(probs * probs.clamp_min(1e-30).log()).sum(-1)


class TraceRecorder:
    """Records the steps of one canvas's decoding. Set it as `Canvas.observer`; read `steps` afterwards."""

    def __init__(self, top: int = TOP_GUESSES):
        self.top = top
        self.steps: list[dict] = []
        self._pending: list[dict] = []

    def considered(
        self,
        step: int,
        positions: torch.Tensor,
        marginals: torch.Tensor,
        ar_tokens: torch.Tensor | None,
        ar_entropies: torch.Tensor | None,
    ) -> None:
        flat_positions = positions.reshape(-1)
        probs = marginals.reshape(len(flat_positions), -1)  # (C*B, V)
        values, tokens = probs.topk(self.top, dim=-1)
        entropies = _entropy(probs)
        ar = ar_tokens.reshape(-1).tolist() if ar_tokens is not None else [None] * len(flat_positions)
        ar_h = ar_entropies.reshape(-1).tolist() if ar_entropies is not None else [None] * len(flat_positions)
        self._pending = [
            {
                "position": int(p),
                "dlm_top": [[int(t), round(float(v), 4)] for t, v in zip(tok_row, val_row)],
                "dlm_entropy": round(float(h), 4),
                "ar_token": a,
                "ar_entropy": None if e is None or math.isnan(e) else round(float(e), 4),
            }
            for p, tok_row, val_row, h, a, e in zip(
                flat_positions.tolist(), tokens.tolist(), values.tolist(), entropies.tolist(), ar, ar_h
            )
        ]

    def committed(self, step: int, positions: torch.Tensor, tokens: torch.Tensor) -> None:
        self.steps.append(
            {
                "step": step,
                "committed": [[int(p), int(t)] for p, t in zip(positions.tolist(), tokens.tolist())],
                "candidates": self._pending,
            }
        )
        self._pending = []


def trace_document(recorder: TraceRecorder, result, tokenizer, decoder: str, settings: dict) -> dict:
    """The trace as one JSON-able dict: the final canvas (token ids and their text), the region, every step, and the
    decoder's name and settings. `result` is the DecodeResult of the traced decoding."""
    ids = result.ids.tolist()
    vocabulary: dict[int, str] = {}
    for step in recorder.steps:
        for candidate in step["candidates"]:
            for token in [t for t, _ in candidate["dlm_top"]] + (
                [candidate["ar_token"]] if candidate["ar_token"] is not None else []
            ):
                vocabulary.setdefault(token, tokenizer.decode([token]))
    return {
        "decoder": decoder,
        "settings": settings,
        "ids": ids,
        "pieces": [tokenizer.decode([token]) for token in ids],
        "start": result.start,
        "end": result.end,
        "commit_step": result.commit_step.tolist(),
        "dlm_forwards": result.dlm_forwards,
        "ar_steps": result.ar_steps,
        "tokens_per_step": result.tokens_per_step,
        "steps": recorder.steps,
        "vocabulary": {str(k): v for k, v in vocabulary.items()},
    }
