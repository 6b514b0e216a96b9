"""The DLM forward of a decoding step, pluggable: plain (no cache), or Fast-dLLM's approximate KV cache (prefix, dual).

Every decoder's loop asks, each step, for the logits of the positions it needs in each unfinished canvas; how they are
computed is the forward's business. All three give the same numbers when the cache is refreshed every step.
- `PlainForward`: the active canvases' logits through `CanvasBatch` (each bit for bit what it gets alone).
- `CachedForward`: per canvas, a full forward when its semi-autoregressive window changes (keys/values kept), then
  forwards over the window's uncached positions only (Fast-dLLM, arXiv 2505.22618; `codila.models.dlm_cache`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from codila.decoding.batch import CanvasBatch
from codila.decoding.canvas import Canvas
from codila.errors import CodilaError
from codila.lazy import lazy_module

if TYPE_CHECKING:
    from codila.models.dlm import DiffusionLM

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it

CACHES = ("none", "prefix", "dual")


class DlmForward(Protocol):
    def __call__(self, rows: list[int], windows: list[tuple[int, int]], positions: list[torch.Tensor]) -> list[torch.Tensor]:
        """Logits (len(positions[i]), V) of canvas rows[i] at its `positions[i]` (1D, inside its window [start, end)).
        Counts one DLM forward per canvas."""


class PlainForward:
    """No cache: the active canvases' logits (`CanvasBatch`); only the positions a canvas needs go through the
    output layer."""

    def __init__(self, dlm: DiffusionLM, canvases: list[Canvas]):
        self.dlm, self.batch = dlm, CanvasBatch(canvases)

    def __call__(self, rows, windows, positions):
        return self.batch.logits(self.dlm, rows, positions)

    def add(self, canvas: Canvas) -> None:
        """A canvas joins (continuous batching): its row is the next one."""
        self.batch.canvases.append(canvas)


class CachedForward:
    """Fast-dLLM's approximate KV cache, one per canvas, refreshed when that canvas's window starts."""

    def __init__(self, dlm: DiffusionLM, canvases: list[Canvas], mode: str):
        from codila.models.dlm_cache import (
            DlmKvCache,  # transformers' cache classes: imported when a cache is used
        )

        self.canvases = canvases
        self.caches = [DlmKvCache(dlm, mode) for _ in canvases]
        self.window_starts: list[int | None] = [None] * len(canvases)
        self._mode, self._dlm = mode, dlm

    def add(self, canvas: Canvas) -> None:
        """A canvas joins (continuous batching), with a cache of its own."""
        from codila.models.dlm_cache import DlmKvCache

        self.canvases.append(canvas)
        self.caches.append(DlmKvCache(self._dlm, self._mode))
        self.window_starts.append(None)

    def __call__(self, rows, windows, positions):
        out = []
        for row, (start, end), needed in zip(rows, windows, positions):
            ids, cache = self.canvases[row].ids, self.caches[row]
            if start != self.window_starts[row]:
                logits, self.window_starts[row] = cache.refresh(ids, start, end), start
            else:
                logits = cache.block_logits(ids, start, end)
            out.append(logits[needed - start])
        return out


def make_forward(dlm: DiffusionLM, canvases: list[Canvas], cache: str, semi_ar_block: int) -> DlmForward:
    """The forward for a decoder's `cache` option: "none", "prefix" or "dual" (those need semi_ar_block > 0)."""
    if cache not in CACHES:
        raise CodilaError(f"unknown DLM cache {cache!r}; choose one of {', '.join(CACHES)}")
    if cache == "none":
        return PlainForward(dlm, canvases)
    if semi_ar_block < 1:
        raise CodilaError("a DLM cache needs semi-autoregressive windows: set --semi-ar-block")
    return CachedForward(dlm, canvases, cache)
