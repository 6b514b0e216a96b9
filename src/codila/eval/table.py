"""Render rows of metrics as a terminal table or Markdown; None shows as "-"."""

from __future__ import annotations

from rich.table import Table

Column = tuple[str, str, str]  # (row key, header, format)

DEMO_COLUMNS: tuple[Column, ...] = (
    ("label", "setting", "{}"),
    ("tokens_per_step", "tokens/step", "{:.2f}"),
    ("dlm_forwards", "DLM fwd/span", "{:.1f}"),
    ("ar_steps", "AR steps/span", "{:.1f}"),
    ("syntax_valid", "syntax-valid % (floor-free)", "{:.1%}"),
    ("syntax_valid_all", "syntax-valid % (all)", "{:.1%}"),
    ("edit_similarity", "edit sim %", "{:.1%}"),
    ("token_accuracy", "token acc %", "{:.1%}"),
    ("exact_match", "exact %", "{:.1%}"),
    ("tokens_per_s", "tokens/s", "{:.1f}"),
)

TASK_COLUMNS: tuple[Column, ...] = (
    ("label", "setting", "{}"),
    ("pass_at_1", "pass@1 %", "{:.1%}"),
    ("syntax_error_rate", "syntax err %", "{:.1%}"),
    ("exact_match", "exact %", "{:.1%}"),
    ("tokens_per_step", "tokens/step", "{:.2f}"),
    ("dlm_forwards", "DLM fwd", "{:.1f}"),
    ("ar_steps", "AR steps", "{:.1f}"),
    ("tokens_per_s", "tokens/s", "{:.1f}"),
    ("order_spearman", "order rho", "{:.2f}"),
)

PLANNING_COLUMNS: tuple[Column, ...] = (
    ("label", "setting", "{}"),
    ("accuracy", "accuracy %", "{:.1%}"),
    ("accuracy_se", "SE %", "{:.1%}"),
    ("floor", "floor %", "{:.1%}"),
    ("tokens_per_step", "tokens/step", "{:.2f}"),
    ("dlm_forwards", "DLM fwd", "{:.1f}"),
    ("ar_steps", "AR steps", "{:.1f}"),
    ("tokens_per_s", "tokens/s", "{:.1f}"),
    ("order_spearman", "order rho", "{:.2f}"),
    ("n", "n", "{}"),
)

BENCH_COLUMNS: tuple[Column, ...] = (
    ("label", "setting", "{}"),
    ("batch_size", "batch", "{}"),
    ("tokens_per_s", "tokens/s", "{:.1f}"),
    ("speedup", "x DLM K=1", "{:.2f}"),
    ("syntax_valid", "syntax-valid %", "{:.1%}"),
    ("tokens_per_step", "tokens/step", "{:.2f}"),
    ("dlm_forwards_per_token", "DLM fwd/token", "{:.3f}"),
    ("ar_time_share", "AR time %", "{:.1%}"),
    ("peak_mem_mb", "peak MB", "{:.0f}"),
)


def columns_for(rows: list[dict]) -> tuple[Column, ...]:
    """Benchmark rows (with speedup), task rows (with pass_at_1) or demo-style infilling rows."""
    if rows and "speedup" in rows[0]:
        return BENCH_COLUMNS
    if rows and "accuracy" in rows[0]:
        return PLANNING_COLUMNS
    return TASK_COLUMNS if rows and "pass_at_1" in rows[0] else DEMO_COLUMNS


def _cell(row: dict, key: str, fmt: str) -> str:
    """The value, and "± se" when the row holds a standard error `<key>_se` for it (same format)."""
    if row.get(key) is None:
        return "-"
    se = row.get(f"{key}_se")
    return fmt.format(row[key]).replace("%", "") + ("" if se is None else " ± " + fmt.format(se).replace("%", ""))


def _cells(row: dict, columns: tuple[Column, ...]) -> list[str]:
    return [_cell(row, key, fmt) for key, _, fmt in columns]


def rows_table(rows: list[dict], title: str = "") -> Table:
    columns = columns_for(rows)
    table = Table(title=title)
    for _, header, _ in columns:
        table.add_column(header, justify="left" if header == "setting" else "right")
    for row in rows:
        table.add_row(*_cells(row, columns))
    return table


def rows_markdown(rows: list[dict]) -> str:
    """The same columns as a Markdown table (for the README and reports)."""
    columns = columns_for(rows)
    lines = ["| " + " | ".join(header for _, header, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cells(row, columns)) + " |" for row in rows]
    return "\n".join(lines) + "\n"
