"""Standard errors of the rates in evaluation rows: the row's own (`<key>_se`, e.g. clustered over problems) where it
has one, else the binomial one over its answers."""

from __future__ import annotations

import math

RATES = ("pass_at_1", "syntax_valid", "syntax_error_rate", "exact_match")  # fractions of answers (binomial)


def answers(row: dict) -> int:
    """How many answers a row's rates are fractions of: problems (or spans) times samples per problem."""
    return int(row.get("n") or 0) * int(row.get("samples") or 1)


def standard_error(row: dict, key: str) -> float | None:
    """`row[key + "_se"]` when the row carries it; the binomial sqrt(p (1 - p) / answers) for a rate in RATES; else
    None (no error bar: tokens/s, token accuracy)."""
    if row.get(f"{key}_se") is not None:
        return float(row[f"{key}_se"])
    value, count = row.get(key), answers(row)
    if key not in RATES or value is None or count < 1:
        return None
    return math.sqrt(value * (1 - value) / count)
