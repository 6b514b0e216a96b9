"""Bar and line plots of the analyses (matplotlib, PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)


def grouped_bars(series: dict[str, list[float]], groups: list[str], ylabel: str, title: str, path: str | Path) -> None:
    """One group of bars per entry of `groups`, one bar per series."""
    figure, axes = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(series)
    for index, (name, values) in enumerate(series.items()):
        axes.bar([g + index * width for g in range(len(groups))], values, width, label=name)
    axes.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups, fontsize=8)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=130)
    plt.close(figure)
