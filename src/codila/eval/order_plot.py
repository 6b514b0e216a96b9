"""The decode-order picture: for one problem, which answer position each decoder committed at which step."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)

EOS_LABEL = "·"  # how an EOS pad cell is drawn


def decode_order_plot(rows: list[dict], path: str | Path, title: str) -> bool:
    """One strip per row with an `order_example` (tokens, steps): each answer cell shows its token, coloured by
    the step at which it was committed (0 = first; darker = later). Returns False when no row has one."""
    rows = [row for row in rows if row.get("order_example")]
    if not rows:
        return False
    width = len(rows[0]["order_example"]["tokens"])
    figure, axes = plt.subplots(figsize=(max(6.0, 0.42 * width + 3), 0.45 * len(rows) + 1.3))
    for index, row in enumerate(rows):
        example = row["order_example"]
        last = max(1, max(example["steps"]))
        for position, (token, step) in enumerate(zip(example["tokens"], example["steps"])):
            shade = plt.cm.viridis(1 - step / last)
            axes.add_patch(plt.Rectangle((position, index), 1, 1, color=shade))
            text = EOS_LABEL if token.startswith("<|") else token
            axes.text(
                position + 0.5,
                index + 0.5,
                f"{text}\n{step}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if step / last > 0.5 else "black",
            )
    axes.set_xlim(0, width)
    axes.set_ylim(len(rows), 0)
    axes.set_yticks([i + 0.5 for i in range(len(rows))], [row["label"] for row in rows], fontsize=7)
    axes.set_xlabel("answer position (cell: token and the step it was committed at; yellow = early, purple = late)")
    axes.set_title(f"{title}\nprompt: {rows[0]['order_example']['prompt']}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return True
