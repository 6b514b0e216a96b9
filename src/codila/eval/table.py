"""Render rows of metrics as a terminal table."""

from __future__ import annotations

from rich.table import Table

COLUMNS = (
    ("label", "setting", "{}"),
    ("tokens_per_step", "tokens/step", "{:.2f}"),
    ("dlm_forwards", "DLM fwd/span", "{:.1f}"),
    ("ar_steps", "AR steps/span", "{:.1f}"),
    ("syntax_valid", "syntax-valid %", "{:.1%}"),
    ("exact_match", "exact %", "{:.1%}"),
    ("token_accuracy", "token acc %", "{:.1%}"),
    ("tokens_per_s", "tokens/s", "{:.1f}"),
)


def rows_table(rows: list[dict], title: str = "") -> Table:
    table = Table(title=title)
    for _, header, _ in COLUMNS:
        table.add_column(header, justify="left" if header == "setting" else "right")
    for row in rows:
        table.add_row(*(fmt.format(row[key]).replace("%", "") for key, _, fmt in COLUMNS))
    return table


def rows_markdown(rows: list[dict]) -> str:
    """The same columns as a Markdown table (for the README and reports)."""
    lines = ["| " + " | ".join(header for _, header, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(fmt.format(row[key]).replace("%", "") for key, _, fmt in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
