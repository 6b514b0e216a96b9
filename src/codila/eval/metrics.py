"""Scores of decoded code: syntax validity, exact match, token accuracy."""

from __future__ import annotations

import ast
import warnings

from transformers import PreTrainedTokenizerFast

from codila.data.spans import InfillSpan


def parses(code: str) -> bool:
    """True when `code` is syntactically valid Python (ast.parse succeeds)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are warnings, not errors
            ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def score_infill(span: InfillSpan, infill_ids: list[int], tokenizer: PreTrainedTokenizerFast) -> dict[str, float]:
    """syntax_valid: the whole file with the infill parses; exact_match; token_accuracy (position-wise)."""
    target = span.target_ids
    correct = sum(a == b for a, b in zip(infill_ids, target))
    return {
        "syntax_valid": float(parses(tokenizer.decode(span.file_with(infill_ids)))),
        "exact_match": float(list(infill_ids) == target),
        "token_accuracy": correct / len(target),
    }
