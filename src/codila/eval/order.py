"""The any-order analysis: does a decoder commit positions left to right, or in some other order?"""

from __future__ import annotations

import math

import torch
from scipy.stats import spearmanr

from codila.decoding.result import DecodeResult


def commit_order_correlation(result: DecodeResult) -> float | None:
    """Spearman correlation between the step at which each decoded position was committed and its position:
    1 = strictly left to right, 0 = no relation, < 0 = right to left. None when undefined (one step)."""
    steps = result.commit_step[result.start : result.end]
    if len(steps) < 2 or bool((steps == steps[0]).all()):
        return None
    rho = spearmanr(torch.arange(len(steps)).numpy(), steps.numpy()).statistic
    return None if math.isnan(rho) else float(rho)
