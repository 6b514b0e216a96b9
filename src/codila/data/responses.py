"""Prompt/response training examples (JSONL) for a local AR on a paper-scale DLM: only the response is ever masked.

Each line is {"prompt": str, "response": str} or {"messages": [{"role": ..., "content": ...}, ...]} whose last message
is the assistant's answer (the rest goes through the DLM tokenizer's chat template as the prompt). An example becomes
one window of `length` tokens: the prompt (its oldest tokens dropped so that it fits and ends on a block boundary), the
response, EOS, then EOS padding (the response region: an instruction-tuned DLM pads its answers with EOS)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from codila.errors import CodilaError


@dataclass
class ResponseBatch:
    tokens: torch.Tensor  # (N, L)
    region: torch.Tensor  # (N, L // B) bool: the response's blocks

    def rows(self, index) -> "ResponseBatch":
        return ResponseBatch(self.tokens[index], self.region[index])


def read_examples(path: str | Path) -> list[dict]:
    """The JSONL file's examples, each checked; a bad line is named with its number."""
    path = Path(path)
    if not path.is_file():
        raise CodilaError(f"{path}: no such file (--data takes a JSONL file of prompt/response or chat messages)")
    examples = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            example = json.loads(line)
        except json.JSONDecodeError as error:
            raise CodilaError(f"{path}:{number}: not JSON ({error.msg})") from None
        ok_pair = (
            isinstance(example, dict) and isinstance(example.get("prompt"), str) and isinstance(example.get("response"), str)
        )
        messages = example.get("messages") if isinstance(example, dict) else None
        ok_chat = (
            isinstance(messages, list) and len(messages) >= 2 and all(isinstance(m, dict) and "content" in m for m in messages)
        )
        if not (ok_pair or ok_chat):
            raise CodilaError(f'{path}:{number}: give "prompt" and "response" strings, or "messages" (two or more)')
        examples.append(example)
    if not examples:
        raise CodilaError(f"{path} holds no examples")
    return examples


def _texts(example: dict, tokenizer: PreTrainedTokenizerBase) -> tuple[str, str]:
    if "messages" not in example:
        return example["prompt"], example["response"]
    if not getattr(tokenizer, "chat_template", None):
        raise CodilaError("chat-message examples need the DLM tokenizer's chat template: give prompt/response pairs instead")
    *context, answer = example["messages"]
    return tokenizer.apply_chat_template(context, tokenize=False, add_generation_prompt=True), answer["content"]


class ResponseSampler:
    """Samples batches of encoded examples (uniformly, with replacement) as ResponseBatch windows."""

    def __init__(self, examples: list[dict], tokenizer: PreTrainedTokenizerBase, length: int, block_size: int, eos_id: int):
        if length % block_size or length < 2 * block_size:
            raise CodilaError(f"--window {length} must be a multiple of the block size {block_size} and hold two blocks")
        self.length, self.block_size = length, block_size
        rows, regions = [], []
        for example in examples:
            prompt, response = _texts(example, tokenizer)
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [eos_id]
            keep = min(len(prompt_ids), length - block_size)  # at least one response block
            keep -= keep % block_size
            prompt_ids = prompt_ids[len(prompt_ids) - keep :]
            ids = (prompt_ids + response_ids)[:length]
            rows.append(ids + [eos_id] * (length - len(ids)))
            regions.append(torch.arange(length // block_size) >= keep // block_size)
        self.tokens = torch.tensor(rows, dtype=torch.long)
        self.region = torch.stack(regions)

    def sample(self, batch_size: int, generator: torch.Generator) -> ResponseBatch:
        picks = torch.randint(len(self.tokens), (batch_size,), generator=generator)
        return ResponseBatch(self.tokens[picks], self.region[picks])
