"""Scores of infilled code spans and their aggregate row.

Per span: `syntax_valid_all` (the whole file with the infill parses), `empty_parses` (the file with the span left
out parses: a free pass any text that keeps the file valid gets), `edit_similarity` (normalised Levenshtein
similarity of the infill's text to the truth's, 0-1), `exact_match`, `token_accuracy` (position-wise).
The row's `syntax_valid` is the floor-free rate: over the spans whose empty infill does NOT parse only.
Standard errors (`*_se`) are clustered by file (codila.stats)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

from rapidfuzz.distance import Levenshtein
from transformers import PreTrainedTokenizerFast

from codila.data.spans import InfillSpan
from codila.data.syntax import parses
from codila.stats import clustered_mean_se

# the row's rate keys, each with a clustered standard error `<key>_se`; syntax_valid is over floor-free spans only
RATE_KEYS = ("syntax_valid", "syntax_valid_all", "edit_similarity", "exact_match", "token_accuracy")


@lru_cache(maxsize=4096)
def empty_infill_parses(span: InfillSpan, tokenizer: PreTrainedTokenizerFast) -> bool:
    """Whether the span's file with the span removed parses (the same for every decoder: computed once)."""
    return parses(tokenizer.decode(span.file_with([])))


def score_infill(span: InfillSpan, infill_ids: list[int], tokenizer: PreTrainedTokenizerFast) -> dict[str, float]:
    target = span.target_ids
    correct = sum(a == b for a, b in zip(infill_ids, target))
    return {
        "syntax_valid_all": float(parses(tokenizer.decode(span.file_with(infill_ids)))),
        "empty_parses": float(empty_infill_parses(span, tokenizer)),
        "edit_similarity": Levenshtein.normalized_similarity(tokenizer.decode(list(infill_ids)), tokenizer.decode(target)),
        "exact_match": float(list(infill_ids) == target),
        "token_accuracy": correct / len(target),
    }


def aggregate_scores(scores: list[dict[str, float]], files: list[str]) -> dict[str, float]:
    """The row of metrics of per-span `scores` (score_infill) cut from `files` (one per span): each rate of
    RATE_KEYS with `<key>_se` (None where undefined: no spans, or one file for an error), `n_floor_free` (spans whose
    empty infill does not parse) and `n`."""
    floor_free = [i for i, score in enumerate(scores) if not score["empty_parses"]]
    row: dict[str, float] = {}
    for key in RATE_KEYS:
        rows = floor_free if key == "syntax_valid" else range(len(scores))
        source = "syntax_valid_all" if key == "syntax_valid" else key
        mean, se = clustered_mean_se([scores[i][source] for i in rows], [files[i] for i in rows])
        row[key], row[f"{key}_se"] = (None if math.isnan(mean) else mean), (None if math.isnan(se) else se)  # JSON has no NaN
    return {**row, "n_floor_free": len(floor_free), "n": len(scores)}


def _newlines(span: InfillSpan, tokenizer: PreTrainedTokenizerFast) -> list[int]:
    return tokenizer("\n", add_special_tokens=False)["input_ids"] * span.length


# trivial infills every decoder's row is read beside: leave the span empty, or fill it with as many newlines
FLOORS: dict[str, Callable[[InfillSpan, PreTrainedTokenizerFast], list[int]]] = {
    "empty": lambda span, tokenizer: [],
    "newlines": _newlines,
}


def floor_rows(spans: list[InfillSpan], tokenizer: PreTrainedTokenizerFast) -> list[dict]:
    """One row per floor (method "empty" / "newlines") with the same metric keys as a decoder's row."""
    files = [span.file for span in spans]
    return [
        {
            "method": name,
            "label": f"floor: {name}",
            **aggregate_scores([score_infill(span, infill(span, tokenizer), tokenizer) for span in spans], files),
        }
        for name, infill in FLOORS.items()
    ]
