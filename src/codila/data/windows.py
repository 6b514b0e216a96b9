"""Fixed-length token windows cut from tokenized files, padded with EOS past a file's end."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerFast

from codila.data.corpus import SourceFile
from codila.errors import CodilaError


class WindowSampler:
    """Samples windows of `length` tokens: a file with probability proportional to its length, a start
    uniform in [0, len - length // 2] (so some windows run past the end and learn EOS padding).

    `extra` files join the pool; with `extra_share` set, a window comes from them with that probability (else
    every file weighs its length)."""

    def __init__(
        self,
        files: list[SourceFile],
        tokenizer: PreTrainedTokenizerFast,
        length: int,
        eos_id: int,
        extra: list[SourceFile] = (),
        extra_share: float | None = None,
    ):
        if not files:
            raise CodilaError("no files to sample training windows from")
        if extra_share is not None and not (0 <= extra_share < 1 and extra):
            raise CodilaError(f"--extra-share is a probability in [0, 1) and needs --extra-packages, got {extra_share}")
        self.length = length
        self.eos_id = eos_id
        encoded = tokenizer([f.text for f in [*files, *extra]], add_special_tokens=False)["input_ids"]
        is_extra = torch.tensor([index >= len(files) for index, ids in enumerate(encoded) if ids])
        self.files = [torch.tensor(ids, dtype=torch.long) for ids in encoded if ids]
        self.weights = torch.tensor([len(ids) for ids in self.files], dtype=torch.float)
        self.n_tokens = int(self.weights.sum())
        if extra_share is not None:
            if not (bool(is_extra.any()) and bool((~is_extra).any())):
                raise CodilaError("--extra-share: both the corpus and the extra packages need non-empty files")
            total_extra, total_main = self.weights[is_extra].sum(), self.weights[~is_extra].sum()
            self.weights = self.weights * torch.where(is_extra, extra_share / total_extra, (1 - extra_share) / total_main)

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """(batch_size, length) token windows."""
        picks = torch.multinomial(self.weights, batch_size, replacement=True, generator=generator)
        out = torch.full((batch_size, self.length), self.eos_id, dtype=torch.long)
        for row, index in enumerate(picks.tolist()):
            tokens = self.files[index]
            last_start = max(0, len(tokens) - self.length // 2)
            start = int(torch.randint(last_start + 1, (1,), generator=generator))
            window = tokens[start : start + self.length]
            out[row, : len(window)] = window
        return out
