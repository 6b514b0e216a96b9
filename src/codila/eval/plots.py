"""Plots of evaluation rows (matplotlib, written as PNG files; no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats in both speed (x) and accuracy (y), by increasing speed."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front[::-1]


def pareto_plot(rows: list[dict], accuracy_key: str, path: str | Path, title: str) -> None:
    """Accuracy against tokens/s, one labelled point per setting, the Pareto front as a line."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    points = [(row["tokens_per_s"], row[accuracy_key]) for row in rows]
    for row, (x, y) in zip(rows, points):
        axes.scatter(x, y, color="tab:orange" if row["method"] == "codila" else "tab:blue", zorder=3)
        axes.annotate(row["label"], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    front = pareto_front(points)
    axes.plot([x for x, _ in front], [y for _, y in front], color="gray", linestyle="--", zorder=2, label="Pareto front")
    axes.set_xlabel("tokens per second (generated tokens, this machine)")
    axes.set_ylabel(accuracy_key.replace("_", " "))
    axes.set_title(title)
    axes.legend(loc="best", fontsize=7)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=130)
    plt.close(figure)
