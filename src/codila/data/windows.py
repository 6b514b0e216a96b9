"""Fixed-length token windows cut from tokenized files, padded with EOS past a file's end."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerFast

from codila.data.corpus import SourceFile
from codila.errors import CodilaError


class WindowSampler:
    """Samples windows of `length` tokens: a file with probability proportional to its length, a start
    uniform in [0, len - length // 2] (so some windows run past the end and learn EOS padding)."""

    def __init__(self, files: list[SourceFile], tokenizer: PreTrainedTokenizerFast, length: int, eos_id: int):
        if not files:
            raise CodilaError("no files to sample training windows from")
        self.length = length
        self.eos_id = eos_id
        encoded = tokenizer([f.text for f in files], add_special_tokens=False)["input_ids"]
        self.files = [torch.tensor(ids, dtype=torch.long) for ids in encoded if ids]
        self.weights = torch.tensor([len(ids) for ids in self.files], dtype=torch.float)
        self.n_tokens = int(self.weights.sum())

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
