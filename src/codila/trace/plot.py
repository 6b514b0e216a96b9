"""A decode trace as a PNG (matplotlib): the commit grid, and per step the mean entropies of the candidates."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)
from matplotlib.colors import ListedColormap  # noqa: E402

from codila.trace.page import EARLIER, NOW  # noqa: E402


def _mean(values: list) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else math.nan


def trace_png(trace: dict, path: str | Path) -> None:
    start, end, commit = trace["start"], trace["end"], trace["commit_step"]
    steps = trace["steps"]
    grid = [
        [2 if commit[p] == entry["step"] else 1 if 0 <= commit[p] < entry["step"] else 0 for p in range(start, end)]
        for entry in steps
    ]  # (steps, positions): 0 masked, 1 committed before, 2 committed now
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(11, max(3.0, 0.22 * len(steps) + 1.5)), gridspec_kw={"width_ratios": [3, 1]}
    )
    left.imshow(grid, cmap=ListedColormap(["#ffffff", EARLIER, NOW]), vmin=0, vmax=2, aspect="auto", interpolation="nearest")
    left.set_xlabel("decoded position")
    left.set_ylabel("step")
    left.set_title(f"commits ({trace['decoder']}: {end - start} tokens in {len(steps)} steps)")
    numbers = list(range(len(steps)))
    right.plot([_mean([c["dlm_entropy"] for c in entry["candidates"]]) for entry in steps], numbers, "o-", label="DLM", ms=3)
    right.plot([_mean([c["ar_entropy"] for c in entry["candidates"]]) for entry in steps], numbers, "s-", label="AR", ms=3)
    right.invert_yaxis()
    right.set_xlabel("mean candidate entropy (nats)")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
