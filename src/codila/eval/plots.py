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


FAMILIES = (  # (legend label, colour, marker, predicate on a row): the first that matches draws the point
    ("DLM", "tab:blue", "o", lambda row: row["method"] == "dlm"),
    ("CoDiLA static soft", "tab:orange", "s", lambda row: row["mode"] == "static" and row["conditioning"] == "soft"),
    ("CoDiLA static top-k", "tab:green", "^", lambda row: row["mode"] == "static"),
    ("CoDiLA dynamic", "tab:red", "D", lambda row: row["mode"] == "dynamic"),
    ("other", "tab:gray", "x", lambda row: True),
)


def pareto_plot(rows: list[dict], accuracies: dict[str, str], path: str | Path, title: str) -> None:
    """One panel per accuracy column ({row key: axis label}) against tokens/s: a point per setting, marked by
    family, the Pareto front as a line with its settings labelled (the others would overlap)."""
    figure, panels = plt.subplots(1, len(accuracies), figsize=(6.5 * len(accuracies), 4.5), squeeze=False)
    for axes, (key, name) in zip(panels[0], accuracies.items()):
        points = [(row["tokens_per_s"], row[key]) for row in rows]
        families = [next(family for family in FAMILIES if family[3](row)) for row in rows]
        for family in FAMILIES:
            members = [point for point, of in zip(points, families) if of is family]
            if members:
                axes.scatter(*zip(*members), color=family[1], marker=family[2], zorder=3, label=family[0])
        front = pareto_front(points)
        axes.plot([x for x, _ in front], [y for _, y in front], color="gray", linestyle="--", zorder=2, label="Pareto front")
        for row, point in zip(rows, points):
            if point in front:
                axes.annotate(row["label"], point, fontsize=6, xytext=(3, 3), textcoords="offset points")
        axes.set_xlabel("tokens per second (generated tokens, this machine)")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=130)
    plt.close(figure)
