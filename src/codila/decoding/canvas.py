"""Canvas: the token sequence being decoded. Completion and infilling are the same thing: fill the masks.

A canvas is fixed tokens (the prompt, plus the suffix when infilling) around one region [start, end) of
mask tokens. Decoders commit region positions; a committed position never changes again.
"""

from __future__ import annotations

from dataclasses import dataclass

from codila.errors import CodilaError
from codila.lazy import lazy_module

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


@dataclass
class Canvas:
    ids: torch.Tensor  # (L,) long: fixed tokens and mask_id where still to decode
    start: int  # first position to decode
    end: int  # one past the last position to decode
    mask_id: int
    stop_at_eos: bool  # completion: positions after a committed EOS become EOS (infilling: False)
    observer: object | None = None  # optional StepObserver (codila.decoding.result): sees each step; None = no cost
    cancel: object | None = None  # optional flag with is_set() (a threading.Event): once set, the decoder drops the canvas

    @classmethod
    def completion(cls, prompt_ids: list[int], length: int, mask_id: int, max_length: int) -> "Canvas":
        if not prompt_ids:
            raise CodilaError("the prompt is empty: give at least one token of context")
        return cls._build(prompt_ids, length, [], mask_id, max_length, stop_at_eos=True)

    @classmethod
    def infill(cls, prefix_ids: list[int], length: int, suffix_ids: list[int], mask_id: int, max_length: int) -> "Canvas":
        if not prefix_ids and not suffix_ids:
            raise CodilaError("both prefix and suffix are empty: give some context to infill between")
        return cls._build(prefix_ids, length, suffix_ids, mask_id, max_length, stop_at_eos=False)

    @classmethod
    def _build(
        cls, before: list[int], length: int, after: list[int], mask_id: int, max_length: int, stop_at_eos: bool
    ) -> "Canvas":
        if length < 1:
            raise CodilaError(f"the number of tokens to decode must be >= 1, got {length}")
        total = len(before) + length + len(after)
        if total > max_length:
            raise CodilaError(
                f"canvas of {total} tokens ({len(before)} context + {length} to decode + {len(after)} suffix) exceeds the "
                f"model's {max_length}: shorten the context or decode fewer tokens"
            )
        if mask_id in before or mask_id in after:
            raise CodilaError("the context contains the mask token; remove it")
        ids = torch.tensor(before + [mask_id] * length + after, dtype=torch.long)
        return cls(ids, len(before), len(before) + length, mask_id, stop_at_eos)

    @property
    def length(self) -> int:
        return self.end - self.start

    def fixed(self) -> torch.Tensor:
        """(L,) bool: positions outside the decoded region."""
        positions = torch.arange(len(self.ids), device=self.ids.device)
        return (positions < self.start) | (positions >= self.end)

    def masked(self) -> torch.Tensor:
        """(L,) bool: positions still to decode."""
        return self.ids == self.mask_id

    def blocks(self, block_size: int) -> torch.Tensor:
        """(N, B) positions of the region's contiguous blocks, in order."""
        if self.length % block_size:
            raise CodilaError(f"the number of tokens to decode ({self.length}) is not a multiple of the block size {block_size}")
        return torch.arange(self.start, self.end, device=self.ids.device).view(-1, block_size)

    def window(self, semi_ar_block: int) -> tuple[int, int]:
        """The positions [start, end) that may be committed now: the whole region (`semi_ar_block` 0), or its first
        unfinished semi-autoregressive window of `semi_ar_block` positions (windows left to right, any order inside
        one: LLaDA's semi-autoregressive remasking, arXiv 2502.09992)."""
        if semi_ar_block <= 0:
            return self.start, self.end
        first_masked = int(torch.nonzero(self.masked()).min())
        start = self.start + (first_masked - self.start) // semi_ar_block * semi_ar_block
        return start, min(start + semi_ar_block, self.end)

    def open_positions(self, semi_ar_block: int) -> torch.Tensor:
        """(M,) the still-masked positions of the current window, in order."""
        start, end = self.window(semi_ar_block)
        return start + torch.nonzero(self.masked()[start:end]).flatten()

    def copy(self, device: torch.device | str | None = None) -> "Canvas":
        """A copy (on `device`, default: where this one is)."""
        return Canvas(
            self.ids.to(device or self.ids.device, copy=True),
            self.start,
            self.end,
            self.mask_id,
            self.stop_at_eos,
            self.observer,
            self.cancel,
        )
