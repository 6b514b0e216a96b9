"""Continuous batching: canvases join a running decoding at a step boundary and leave it when done.

A decoder loop whose canvases each have their own state and generator (and, on a CPU, their own DLM forward:
`codila.decoding.batch`) decodes a canvas the same whatever its batch mates are and whenever they come and go, so a
canvas may join between two steps and its result be handed back the step it is done, without changing any output.
The server's queue is a `Feed`; `decode(..., feed=...)` passes it to the decoders that can take one
(`DecoderSpec.joinable`), whose loops call `Joiner.boundary` before every step.
"""

from __future__ import annotations

from typing import Callable, Protocol

from codila.decoding.canvas import Canvas
from codila.errors import CodilaError
from codila.lazy import lazy_module

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


class Feed(Protocol):
    def joining(self) -> list[tuple[object, Canvas, int]]:
        """Canvases to add now, as (handle, canvas, seed); called at every step boundary (must not block)."""

    def finished(self, handle: object, outcome) -> None:
        """The DecodeResult of a canvas, as soon as it is done (or cancelled), or the CodilaError refusing it.
        The canvases given to `decode` have the handles 0, 1, ...; joined ones the handle they came with."""


class Joiner:
    """A decoding loop's bookkeeping with a feed: results handed back when done, new canvases added between steps."""

    def __init__(self, feed: Feed | None, count: int):
        self.feed, self.handles, self.delivered = feed, list(range(count)), set()

    def boundary(self, logs: list, add: Callable[[Canvas, torch.Generator], None], finish: Callable[[int], object]) -> None:
        """Before a step: hand back the canvases done since the last one, then add the feed's newcomers (`add` appends
        one canvas to every per-canvas list of the loop, or raises CodilaError having appended nothing)."""
        if self.feed is None:
            return
        self.deliver(logs, finish)
        for handle, canvas, seed in self.feed.joining():
            try:
                add(canvas, torch.Generator().manual_seed(seed))
            except CodilaError as error:
                self.feed.finished(handle, error)
                continue
            self.handles.append(handle)

    def deliver(self, logs: list, finish: Callable[[int], object]) -> None:
        """Hand back every canvas done and not handed back yet (the loop calls it once more when it ends)."""
        if self.feed is None:
            return
        for row, log in enumerate(logs):
            if row not in self.delivered and log.done():
                self.delivered.add(row)
                self.feed.finished(self.handles[row], finish(row))
