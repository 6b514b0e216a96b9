"""CanvasBatch: the DLM logits of several canvases decoded together, each bit for bit what it gets alone (on a CPU).

A BLAS may pick another kernel, and another summation order, for another number of rows: a forward over a group of
canvases can differ from each canvas's lone forward in the last bits (measured on the test DLM: 1 ulp between a
group of 2 and a lone canvas, and a token sampled at temperature 1 flipped). Near-ties then decide differently, so
batch invariance would be approximate. On a CPU every canvas therefore runs its own forward, with exactly the shapes
it has alone, and the invariance is exact by construction (tests check it under sampling at 1, 8 and 32 canvases);
it costs ~15 % of the DLM time at batch 8-32 on the shipped DLM (docs/design-choices.md, "Exact batching").
On an accelerator, where throughput comes from batching, canvases of one length share one forward (never padded:
no attention mask, no shifted positions) and outputs can differ from batch 1 at near-ties.
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
        """Logits (len(positions[i]), V) of canvas rows[i] at its `positions[i]` (1D); only the needed positions go
        through the output layer."""
        if dlm.device.type == "cpu":
            return [dlm.logits(self.canvases[row].ids[None], needed)[0] for row, needed in zip(rows, positions)]
        return self._grouped(dlm, rows, positions)

    def _grouped(self, dlm: DiffusionLM, rows: list[int], positions: list[torch.Tensor]) -> list[torch.Tensor]:
        """One forward per group of equal-length canvases."""
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
