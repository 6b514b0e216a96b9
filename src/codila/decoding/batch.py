"""CanvasBatch: several canvases decoded together, one DLM forward per step for each group of equal-length canvases.

Canvases are never padded: a group's rows have one length, so no attention mask and no shifted positions enter the
forward, and each canvas's logits are bit for bit those it gets alone, whatever else is in the batch (a padded row
differs from the unpadded one in the last bits, and a near-tie could then flip a choice). Batch invariance is thus
exact, not approximate; tests check it under sampling at 1, 8 and 32 canvases. Canvases of one length (the demo's
and the benchmark's spans) decode in one forward per step; a batch of n lengths takes n.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codila.decoding.canvas import Canvas
from codila.lazy import lazy_module

if TYPE_CHECKING:
    from codila.models.dlm import DiffusionLM

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


class CanvasBatch:
    def __init__(self, canvases: list[Canvas]):
        self.canvases = canvases

    def logits(self, dlm: DiffusionLM, rows: list[int], positions: list[torch.Tensor]) -> list[torch.Tensor]:
        """Logits (len(positions[i]), V) of canvas rows[i] at its `positions[i]` (1D): one forward per length group,
        only the positions some canvas of the group needs going through the output layer."""
        out: list[torch.Tensor] = [None] * len(rows)
        groups: dict[int, list[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault(len(self.canvases[row].ids), []).append(index)
        for members in groups.values():
            ids = torch.stack([self.canvases[rows[index]].ids for index in members])
            needed = torch.unique(torch.cat([positions[index] for index in members]))
            logits = dlm.logits(ids, needed)  # (G, len(needed), V)
            for row_logits, index in zip(logits, members):
                out[index] = row_logits[torch.searchsorted(needed, positions[index])]
        return out
