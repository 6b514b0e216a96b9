"""Streaming: text sent in order as a decoding commits it, by server-sent events.

A diffusion decoder commits blocks in any order; `TextStream` (a StepObserver) sends a committed token only once every
position before it is committed too, so the client reads the text left to right and never sees it change.
Stop sequences (OpenAI's `stop`) cut the text before their first occurrence; text that may be the start of one is held
back until the next token decides, and once one appears the canvas is cancelled (nothing after it can change the answer).
"""

from __future__ import annotations

import json
from typing import Callable

import torch

REPLACEMENT = "\ufffd"  # a byte-level token may end inside a character: such text waits for its next token


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """`text` before the first occurrence of any stop sequence, and whether one occurred."""
    found = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    return (text[: min(found)], True) if found else (text, False)


def undecided(text: str, stops: list[str]) -> int:
    """How many trailing characters of `text` may still begin a stop sequence (held back while streaming)."""
    return max((k for stop in stops for k in range(1, len(stop)) if text.endswith(stop[:k])), default=0)


def answer_tokens(region: list[int], eos_id: int, stop_at_eos: bool, max_tokens: int) -> tuple[list[int], bool]:
    """The tokens of a decoded region the client gets: up to the first EOS when completing, at most `max_tokens`;
    and whether an EOS ended them."""
    if stop_at_eos and eos_id in region[:max_tokens]:
        return region[: region.index(eos_id)], True
    return region[:max_tokens], False


class TextStream:
    """Calls `send(text)` with each new piece of in-order text of one canvas's decoded region."""

    def __init__(
        self,
        start: int,
        end: int,
        eos_id: int,
        stop_at_eos: bool,
        max_tokens: int,
        decode: Callable[[list[int]], str],
        send: Callable[[str], None],
        stops: list[str] | None = None,
        on_stop: Callable[[], None] | None = None,
    ):
        self.start, self.end, self.eos_id, self.stop_at_eos, self.max_tokens = start, end, eos_id, stop_at_eos, max_tokens
        self.decode, self.send = decode, send
        self.stops, self.on_stop, self.stopped = stops or [], on_stop, False  # stopped: a stop sequence appeared
        self.steps = 0  # steps seen (committed calls)
        self.committed_tokens: dict[int, int] = {}
        self.final: list[int] = []  # the in-order prefix of the region, every token committed
        self.sent = ""

    def considered(self, step, positions, marginals, ar_tokens, ar_entropies) -> None:
        pass

    def committed(self, step: int, positions: torch.Tensor, tokens: torch.Tensor) -> None:
        self.steps += 1
        if self.stopped:
            return
        self.committed_tokens.update(zip(positions.tolist(), tokens.tolist()))
        grown = False
        while (position := self.start + len(self.final)) < self.end and position in self.committed_tokens:
            self.final.append(self.committed_tokens[position])
            grown = True
        if grown:
            tokens_now, _ = answer_tokens(self.final, self.eos_id, self.stop_at_eos, self.max_tokens)
            text, self.stopped = cut_at_stop(self.decode(tokens_now), self.stops)
            if self.stopped:
                self.flush(text)
                if self.on_stop is not None:
                    self.on_stop()
            else:
                self.flush(text[: len(text) - undecided(text, self.stops)], hold_partial=True)

    def flush(self, text: str, hold_partial: bool = False) -> None:
        """Send what `text` adds to what was sent (a trailing partial character waits unless this is the end)."""
        if hold_partial and text.endswith(REPLACEMENT):
            return
        if text.startswith(self.sent) and len(text) > len(self.sent):
            self.send(text[len(self.sent) :])
            self.sent = text


class Observers:
    """Several StepObservers on one canvas (a stream and a trace)."""

    def __init__(self, *observers):
        self.observers = [observer for observer in observers if observer is not None]

    def considered(self, *args) -> None:
        for observer in self.observers:
            observer.considered(*args)

    def committed(self, *args) -> None:
        for observer in self.observers:
            observer.committed(*args)

    def single(self):
        """None, the one observer, or this tee."""
        return None if not self.observers else self.observers[0] if len(self.observers) == 1 else self


def event(data: dict | str) -> str:
    """One server-sent event."""
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


DONE = event("[DONE]")
