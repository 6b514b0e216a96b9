"""Infill spans cut from real files at seeded positions: the context on both sides, the masked truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from transformers import PreTrainedTokenizerFast

from codila.data.corpus import SourceFile
from codila.errors import CodilaError


@dataclass(frozen=True)
class InfillSpan:
    file: str
    file_ids: tuple[int, ...]  # the whole file, tokenized
    start: int  # first masked token of the file
    length: int  # masked tokens
    context: int  # tokens of context kept on each side in the canvas

    @property
    def prefix_ids(self) -> list[int]:
        return list(self.file_ids[max(0, self.start - self.context) : self.start])

    @property
    def target_ids(self) -> list[int]:
        return list(self.file_ids[self.start : self.start + self.length])

    @property
    def suffix_ids(self) -> list[int]:
        end = self.start + self.length
        return list(self.file_ids[end : end + self.context])

    def file_with(self, infill_ids: list[int]) -> list[int]:
        """The whole file's tokens with the span replaced by `infill_ids`."""
        return list(self.file_ids[: self.start]) + list(infill_ids) + list(self.file_ids[self.start + self.length :])


def sample_spans(
    files: list[SourceFile],
    tokenizer: PreTrainedTokenizerFast,
    n: int,
    length: int,
    context: int,
    seed: int,
    max_per_file: int | None = None,
    accept: Callable[[InfillSpan], bool] | None = None,
) -> list[InfillSpan]:
    """`n` spans of `length` tokens with `context` tokens on each side: a file with probability proportional to
    its length, then a uniform start. At most `max_per_file` spans per file (None: no cap); spans `accept` turns
    down are drawn again (e.g. a target seen in training). Deterministic in `seed`."""
    encoded = [tuple(ids) for ids in tokenizer([f.text for f in files], add_special_tokens=False)["input_ids"]]
    usable = [(f, ids) for f, ids in zip(files, encoded) if len(ids) >= 2 * context + length]
    if not usable:
        raise CodilaError(f"no file is long enough for {length} masked tokens with {context} tokens of context on each side")
    generator = torch.Generator().manual_seed(seed)
    weights = torch.tensor([len(ids) for _, ids in usable], dtype=torch.float)
    spans, counts, draws = [], [0] * len(usable), 0
    while len(spans) < n:
        if not bool(weights.any()) or draws >= 100 * n:
            raise CodilaError(
                f"only {len(spans)} of {n} spans of {length} tokens fit these {len(usable)} usable files "
                f"(at most {max_per_file} per file): ask for fewer or give more files"
            )
        draws += 1
        index = int(torch.multinomial(weights, 1, generator=generator))
        file, ids = usable[index]
        start = context + int(torch.randint(len(ids) - 2 * context - length + 1, (1,), generator=generator))
        span = InfillSpan(file.relative_path, ids, start, length, context)
        if accept is not None and not accept(span):
            continue
        spans.append(span)
        counts[index] += 1
        if max_per_file is not None and counts[index] >= max_per_file:
            weights[index] = 0
    return spans
