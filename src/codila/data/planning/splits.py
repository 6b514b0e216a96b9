"""Seeded splits of a planning setting: test and validation are fixed lists, training an endless stream that never
yields a held-out prompt (nor, through `heldout_prompts`, one of the shipped evaluation files)."""

from __future__ import annotations

import random

import torch
from transformers import PreTrainedTokenizerFast

from codila.data.planning.base import Example, PlanningSpec, layout, make_examples
from codila.errors import CodilaError

TEST_SEED = 1000  # `codila eval` generates its test problems from this seed
VALIDATION_SEED = 2000  # penalties, thresholds and training curves are chosen on this one
TEST_SIZE = 1000
VALIDATION_SIZE = 500


SPLITS = ("test", "validation")


def split_examples(spec: PlanningSpec, split: str) -> list[Example]:
    """The seeded test split, or the validation split (disjoint from test by construction: its prompts are excluded)."""
    if split == "test":
        return make_examples(spec, TEST_SIZE, TEST_SEED)
    if split == "validation":
        return make_examples(spec, VALIDATION_SIZE, VALIDATION_SEED, {e.prompt for e in split_examples(spec, "test")})
    raise CodilaError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def heldout_prompts(spec: PlanningSpec, extra: set[str] = frozenset()) -> set[str]:
    """Prompts training must never see: the test and validation splits and `extra` (shipped evaluation files)."""
    return {e.prompt for split in SPLITS for e in split_examples(spec, split)} | set(extra)


class TrainingStream:
    """Fresh training examples (B, prompt_length + answer_length) every call: one seed per example drawn from the
    caller's generator, held-out prompts skipped. `skipped` counts them (the manifest records it)."""

    def __init__(self, spec: PlanningSpec, tokenizer: PreTrainedTokenizerFast, heldout: set[str]):
        self.spec, self.tokenizer, self.heldout = spec, tokenizer, heldout
        self.length = spec.prompt_length + spec.answer_length
        self.skipped = 0

    def examples(self, count: int, generator: torch.Generator) -> list[Example]:
        out = []
        while len(out) < count:
            example = self.spec.generate(random.Random(int(torch.randint(2**62, (1,), generator=generator))))
            if example.prompt in self.heldout:
                self.skipped += 1
                continue
            out.append(example)
        return out

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        return torch.stack([layout(self.spec, self.tokenizer, e) for e in self.examples(batch_size, generator)])


class FixedExamples:
    """A fixed list of examples sampled with replacement (the training loop's validation batches)."""

    def __init__(self, spec: PlanningSpec, tokenizer: PreTrainedTokenizerFast, examples: list[Example]):
        self.rows = torch.stack([layout(spec, tokenizer, e) for e in examples])
        self.length = self.rows.shape[1]

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        return self.rows[torch.randint(len(self.rows), (batch_size,), generator=generator)]
