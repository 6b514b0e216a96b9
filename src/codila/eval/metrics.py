"""Scores of decoded code: syntax validity, exact match, token accuracy."""

from __future__ import annotations

from transformers import PreTrainedTokenizerFast

from codila.data.spans import InfillSpan
from codila.data.syntax import parses


def score_infill(span: InfillSpan, infill_ids: list[int], tokenizer: PreTrainedTokenizerFast) -> dict[str, float]:
    """syntax_valid: the whole file with the infill parses; exact_match; token_accuracy (position-wise)."""
    target = span.target_ids
    correct = sum(a == b for a, b in zip(infill_ids, target))
    return {
        "syntax_valid": float(parses(tokenizer.decode(span.file_with(infill_ids)))),
        "exact_match": float(list(infill_ids) == target),
        "token_accuracy": correct / len(target),
    }
