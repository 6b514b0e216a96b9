"""Plots of evaluation rows (matplotlib, written as PNG; no display needed): accuracy against speed, one panel per
accuracy measure, every point numbered and named in a key, binomial (or the rows' own) standard errors as bars."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)

from codila.eval.uncertainty import standard_error  # noqa: E402


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats in both speed (x) and accuracy (y), by increasing speed."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front[::-1]


FAMILIES = (  # (legend label, colour, marker, predicate on a row): the first that matches draws the point
    ("DLM", "tab:blue", "o", lambda row: row.get("method") == "dlm"),
    ("CoDiLA static soft", "tab:orange", "s", lambda row: row.get("mode") == "static" and row.get("conditioning") == "soft"),
    ("CoDiLA static top-k", "tab:green", "^", lambda row: row.get("mode") == "static"),
    ("CoDiLA dynamic", "tab:red", "D", lambda row: row.get("mode") == "dynamic"),
    ("other", "tab:gray", "x", lambda row: True),
)


def accuracy_panels(rows: list[dict]) -> dict[str, str]:
    """{row key: axis label} of the accuracy measures the rows hold, those that are zero in every row left out
    (a panel of zeros says nothing)."""
    candidates = {"pass_at_1": "pass@1", "syntax_valid": "syntax-valid fraction", "exact_match": "exact match"}
    return {
        key: name
        for key, name in candidates.items()
        if any(row.get(key) is not None for row in rows) and any(row.get(key) for row in rows)
    }


def pareto_plot(rows: list[dict], accuracies: dict[str, str], path: str | Path | io.BytesIO, title: str) -> bool:
    """One panel per accuracy column ({row key: axis label}) against tokens/s: a point per setting, marked by
    family, numbered (the key beside the panels names each number), with its standard error as a bar; the Pareto
    front as a dashed line. Returns False (and writes nothing) when there is no panel to draw."""
    if not accuracies or not rows:
        return False
    width_ratios = [1.0] * len(accuracies) + [0.75]
    figure, panels = plt.subplots(
        1,
        len(accuracies) + 1,
        figsize=(5.2 * len(accuracies) + 3.6, 4.6),
        squeeze=False,
        gridspec_kw={"width_ratios": width_ratios},
    )
    families = [next(family for family in FAMILIES if family[3](row)) for row in rows]
    for axes, (key, name) in zip(panels[0], accuracies.items()):
        shown = [(number, row) for number, row in enumerate(rows, 1) if row.get(key) is not None]
        for family in FAMILIES:
            members = [(number, row) for number, row in shown if families[number - 1] is family]
            if members:
                errors = [standard_error(row, key) or 0.0 for _, row in members]
                axes.errorbar(
                    [row["tokens_per_s"] for _, row in members],
                    [row[key] for _, row in members],
                    yerr=errors,
                    fmt=family[2],
                    color=family[1],
                    ecolor=family[1],
                    elinewidth=1,
                    capsize=2,
                    zorder=3,
                    label=family[0],
                )
        front = pareto_front([(row["tokens_per_s"], row[key]) for _, row in shown])
        axes.plot([x for x, _ in front], [y for _, y in front], color="gray", linestyle="--", zorder=2, label="Pareto front")
        for number, row in shown:
            axes.annotate(str(number), (row["tokens_per_s"], row[key]), fontsize=8, xytext=(4, 3), textcoords="offset points")
        axes.set_xlabel("tokens per second (this machine)")
        axes.set_ylabel(name + " (bars: one standard error)")
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize=7)
    key_axes = panels[0][-1]
    key_axes.axis("off")
    lines = [f"{number:>2}  {row['label']}" for number, row in enumerate(rows, 1)]
    key_axes.text(
        0.0,
        1.0,
        "\n".join(lines),
        va="top",
        ha="left",
        family="monospace",
        fontsize=max(5.0, min(8.0, 300 / max(len(lines), 1))),
        transform=key_axes.transAxes,
    )
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=130, format="png")
    plt.close(figure)
    return True
