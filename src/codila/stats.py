"""Means with standard errors clustered by file: spans cut from one file are not independent samples."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Hashable, Sequence


def clustered_mean_se(values: Sequence[float], clusters: Sequence[Hashable]) -> tuple[float, float]:
    """(mean, standard error) of `values`, the error clustered by `clusters` (one label per value):
    se^2 = G / (G - 1) * sum_g (sum_{i in g} (y_i - mean))^2 / n^2 over the G clusters (the CR1 sandwich of a mean).
    NaN for an empty sample (mean and se) or a single cluster (se)."""
    if len(values) != len(clusters):
        raise ValueError(f"{len(values)} values but {len(clusters)} cluster labels")
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    residual_sums: dict[Hashable, float] = defaultdict(float)
    for value, cluster in zip(values, clusters):
        residual_sums[cluster] += value - mean
    groups = len(residual_sums)
    if groups < 2:
        return mean, math.nan
    variance = groups / (groups - 1) * sum(total * total for total in residual_sums.values()) / (n * n)
    return mean, math.sqrt(variance)
