"""What every planning task shares: examples as (prompt, answer) text, a character-level tokenizer, and the fixed
canvas layout [PAD]* + prompt + answer + [EOS]* of a task setting (prompt never masked, answer of fixed length).

A task setting (`PlanningSpec`) knows how to generate one seeded example, how to verify an answer exactly, and the
lengths of its layout. Prompts are left-padded with the padding token to `prompt_length`, answers right-padded with
EOS to `answer_length` (a multiple of 8, so every block size 1, 2, 4, 8 divides it): the canvas of a problem is then
prompt + [MASK] * answer_length, the same for every decoder.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from codila.errors import CodilaError
from codila.tokenizer import END_THINK_TOKEN, EOS_TOKEN, MASK_TOKEN, PAD_TOKEN, SPECIAL_TOKENS, THINK_TOKEN, SpecialIds

ALPHABET = "0123456789+-*/=,|:>;."  # every character a planning prompt or answer may hold
ANSWER_MULTIPLE = 8

# how a setting's text becomes tokens: "chars" one token per character of ALPHABET; "nodes" additionally one token
# per two-digit node label 00..99 (a graph lookup then matches one token, as in Bachmann & Nagarajan and MGDM)
NODE_LABELS = [f"{label:02d}" for label in range(100)]
TOKENIZATIONS = {"chars": (".", []), "nodes": (r"\d\d|.", NODE_LABELS)}  # name -> (split regex, extra vocabulary)


@dataclass(frozen=True)
class Example:
    prompt: str
    answer: str


@dataclass(frozen=True)
class PlanningSpec:
    """One task setting. generate(rng) -> Example; verify(prompt, answer) -> bool (exact check of any answer, not
    only the generated one); prompt_length / answer_length: the longest prompt / answer the setting produces."""

    name: str
    task: str  # graph, countdown or sudoku: the `codila eval` task that scores it
    generate: Callable[[random.Random], Example]
    verify: Callable[[str, str], bool]
    prompt_length: int
    answer_length: int
    description: str = ""
    settings: dict = field(default_factory=dict)
    floor: float = 0.0  # the accuracy of a trivial strategy (path-star: follow a random arm), reported beside every rate
    tokenization: str = "chars"  # TOKENIZATIONS: prompt_length and answer_length count these tokens

    def __post_init__(self) -> None:
        if self.tokenization not in TOKENIZATIONS:
            raise CodilaError(
                f"{self.name}: unknown tokenization {self.tokenization!r}; choose one of {', '.join(TOKENIZATIONS)}"
            )
        if self.answer_length % ANSWER_MULTIPLE:
            raise CodilaError(f"{self.name}: answer length {self.answer_length} is not a multiple of {ANSWER_MULTIPLE}")


def round_up(length: int, multiple: int = ANSWER_MULTIPLE) -> int:
    return -(-length // multiple) * multiple


def planning_tokenizer(tokenization: str = "chars") -> PreTrainedTokenizerFast:
    """One token per character of ALPHABET (and, `tokenization="nodes"`, per two-digit node label), plus the
    project's special tokens (found by name, never by id). The tokenizer is saved with every checkpoint."""
    if tokenization not in TOKENIZATIONS:
        raise CodilaError(f"unknown planning tokenization {tokenization!r}; choose one of {', '.join(TOKENIZATIONS)}")
    pattern, extra = TOKENIZATIONS[tokenization]
    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *ALPHABET, *extra])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=PAD_TOKEN))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        mask_token=MASK_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[THINK_TOKEN, END_THINK_TOKEN],
    )


def encode_text(tokenizer: PreTrainedTokenizerFast, text: str) -> list[int]:
    if any(ch not in ALPHABET for ch in text):
        raise CodilaError(f"planning text {text!r} holds characters outside {ALPHABET!r}")
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def prompt_ids(spec: PlanningSpec, tokenizer: PreTrainedTokenizerFast, prompt: str) -> list[int]:
    """The prompt left-padded to the setting's prompt length."""
    ids = encode_text(tokenizer, prompt)
    if len(ids) > spec.prompt_length:
        raise CodilaError(f"{spec.name}: prompt {prompt!r} is longer than the setting's {spec.prompt_length} tokens")
    return [SpecialIds.from_tokenizer(tokenizer).pad_id] * (spec.prompt_length - len(ids)) + ids


def answer_ids(spec: PlanningSpec, tokenizer: PreTrainedTokenizerFast, answer: str) -> list[int]:
    """The answer right-padded with EOS to the setting's answer length."""
    ids = encode_text(tokenizer, answer)
    if len(ids) > spec.answer_length:
        raise CodilaError(f"{spec.name}: answer {answer!r} is longer than the setting's {spec.answer_length} tokens")
    return ids + [SpecialIds.from_tokenizer(tokenizer).eos_id] * (spec.answer_length - len(ids))


def decode_answer(tokenizer: PreTrainedTokenizerFast, ids: list[int]) -> str:
    """Decoded answer ids -> text, cut at the first EOS (special tokens dropped)."""
    eos = SpecialIds.from_tokenizer(tokenizer).eos_id
    ids = ids[: ids.index(eos)] if eos in ids else ids
    return tokenizer.decode(ids, skip_special_tokens=True)


def example_seed(split_seed: int, index: int) -> int:
    """The seed of example `index` of a split: a split is an infinite seeded stream of examples."""
    return (split_seed * 1_000_003 + index) % (2**63)


def make_examples(spec: PlanningSpec, count: int, split_seed: int, exclude: set[str] = frozenset()) -> list[Example]:
    """`count` examples of a seeded split, with distinct prompts none of which is in `exclude`."""
    examples, seen, index = [], set(exclude), 0
    while len(examples) < count:
        example = spec.generate(random.Random(example_seed(split_seed, index)))
        index += 1
        if example.prompt not in seen:
            seen.add(example.prompt)
            examples.append(example)
        if index > 50 * count + 1000:
            raise CodilaError(f"{spec.name}: could not draw {count} distinct problems from split seed {split_seed}")
    return examples


def layout(spec: PlanningSpec, tokenizer: PreTrainedTokenizerFast, example: Example) -> torch.Tensor:
    """(prompt_length + answer_length,) ids of one example."""
    return torch.tensor(prompt_ids(spec, tokenizer, example.prompt) + answer_ids(spec, tokenizer, example.answer))


def read_jsonl(path: str | Path) -> list[Example]:
    """Examples of a JSONL file of {"input": prompt, "output": answer} rows (the cd3/cd4 format; every task uses it)."""
    path = Path(path)
    if not path.is_file():
        raise CodilaError(f"{path}: no such file")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
                rows.append(Example(str(row["input"]), str(row["output"])))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise CodilaError(f'{path}:{number}: expected a JSON object with "input" and "output"') from None
    return rows


def write_jsonl(path: str | Path, examples: list[Example]) -> None:
    Path(path).write_text("".join(json.dumps({"input": e.prompt, "output": e.answer}) + "\n" for e in examples))
