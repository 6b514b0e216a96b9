"""CanvasBatch: several canvases decoded together, one DLM forward per step for all of them.

Each canvas gets one row of `ids` (N, T). Rows are left-padded so that every decoded region starts at the same
column: one set of output rows (the region columns) then serves the whole batch, and row r of a canvas's region
is logits row r. Rows are right-padded to T. Padding is masked out of attention and position ids count real
tokens only, so a padded canvas sees exactly what it would see alone. Each canvas's `ids` becomes a view into
its row: decoders commit into their canvas and the batch sees it without a copy. Every tensor lives on `device` (the
DLM's): the canvases move there with it.
"""

from __future__ import annotations

import torch

from codila.decoding.canvas import Canvas
from codila.models.dlm import DiffusionLM


class CanvasBatch:
    def __init__(self, canvases: list[Canvas], pad_id: int, device: torch.device | str = "cpu"):
        self.canvases = canvases
        start = max(canvas.start for canvas in canvases)
        offsets = [start - canvas.start for canvas in canvases]
        width = max(offset + len(canvas.ids) for offset, canvas in zip(offsets, canvases))
        self.ids = torch.full((len(canvases), width), pad_id, dtype=torch.long, device=device)
        self.attention_mask = torch.zeros((len(canvases), width), dtype=torch.long, device=device)
        for row, (offset, canvas) in enumerate(zip(offsets, canvases)):
            self.ids[row, offset : offset + len(canvas.ids)] = canvas.ids
            self.attention_mask[row, offset : offset + len(canvas.ids)] = 1
            canvas.ids = self.ids[row, offset : offset + len(canvas.ids)]  # a view: commits land in the batch
        self.position_ids = (self.attention_mask.cumsum(1) - 1).clamp(min=0)
        self.region_columns = torch.arange(start, start + max(canvas.length for canvas in canvases), device=device)

    def active(self) -> list[int]:
        """Rows whose canvas still has masks."""
        return [row for row, canvas in enumerate(self.canvases) if bool(canvas.masked().any())]

    def region_logits(self, dlm: DiffusionLM, rows: list[int], offsets: torch.Tensor | None = None) -> torch.Tensor:
        """One DLM forward over `rows`: logits (len(rows), P, V) at region offsets `offsets` (1D, default all: row p
        is then a canvas's region position p, 0 = its first decoded token). Only those rows go through the output
        layer. Without padding the call is the plain unbatched one."""
        ids = self.ids[rows]
        mask = self.attention_mask[rows]
        columns = self.region_columns if offsets is None else self.region_columns[offsets]
        if bool(mask.all()):
            return dlm.logits(ids, columns)
        return dlm.logits(ids, columns, mask, self.position_ids[rows])
