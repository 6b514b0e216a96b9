"""Render rows of metrics as a terminal table (compact: readable in a 100-column terminal) or Markdown; None shows as
"-". A header's "\n" breaks it in the terminal and is a space in Markdown."""

from __future__ import annotations

from rich import box
from rich.table import Table

Column = tuple[str, str, str]  # (row key, header, format)

DEMO_COLUMNS: tuple[Column, ...] = (
    ("label", "setting", "{}"),
    ("tokens_per_step", "tokens/\nstep", "{:.2f}"),
    ("dlm_forwards", "DLM fwd/\nspan", "{:.1f}"),
    ("ar_steps", "AR steps\n/span", "{:.1f}"),
    ("syntax_valid", "syntax-valid %\n(floor-free)", "{:.1%}"),
    ("syntax_valid_all", "syntax-valid %\n(all)", "{:.1%}"),
    ("edit_similarity", "edit\nsim %", "{:.1%}"),
    ("token_accuracy", "token\nacc %", "{:.1%}"),
    ("exact_match", "exact\n%", "{:.1%}"),
    ("tokens_per_s", "tokens/s", "{:.1f}"),
)
# The terminal's demo table: no DLM forwards (the span length over tokens/step), the standard error on the headline
# metric only (the Markdown table and the JSON rows keep them all)
DEMO_TERMINAL_COLUMNS: tuple[Column, ...] = (
    ("label", "setting", "{}"),
    ("tokens_per_step", "tokens/\nstep", "{:.2f}"),
    ("ar_steps", "AR steps\n/span", "{:.1f}"),
    ("syntax_valid", "syntax-\nvalid %\nfloor-\nfree", "{:.1%}"),
    ("syntax_valid_all", "syntax-\nvalid %\nall", "{:.1%}"),
    ("edit_similarity", "edit\nsim %", "{:.1%}"),
    ("token_accuracy", "token\nacc %", "{:.1%}"),
    ("exact_match", "exact\n%", "{:.1%}"),
    ("tokens_per_s", "tok/s", "{:.1f}"),
)
TERMINAL_SE = {"syntax_valid", "pass_at_1", "accuracy"}

TASK_COLUMNS: tuple[Column, ...] = (
    ("label", "setting", "{}"),
    ("pass_at_1", "pass@1 %", "{:.1%}"),
    ("syntax_error_rate", "syntax\nerr %", "{:.1%}"),
    ("exact_match", "exact %", "{:.1%}"),
    ("tokens_per_step", "tokens/\nstep", "{:.2f}"),
    ("dlm_forwards", "DLM fwd", "{:.1f}"),
    ("ar_steps", "AR steps", "{:.1f}"),
    ("tokens_per_s", "tokens/s", "{:.1f}"),
    ("order_spearman", "order rho", "{:.2f}"),
    ("truncated", "context\ncut", "{}"),  # problems whose prompt had to be cut to fit the model
    ("n", "n", "{}"),
)

PLANNING_COLUMNS: tuple[Column, ...] = (
    ("label", "setting", "{}"),
    ("accuracy", "accuracy %", "{:.1%}"),  # ± its standard error (accuracy_se)
    ("floor", "floor %", "{:.1%}"),
    ("tokens_per_step", "tokens/\nstep", "{:.2f}"),
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


def _cell(row: dict, key: str, fmt: str, with_se: bool = True) -> str:
    """The value, and "±se" when the row holds a standard error `<key>_se` for it (same format) and `with_se`."""
    if row.get(key) is None:
        return "-"
    se = row.get(f"{key}_se") if with_se else None
    return fmt.format(row[key]).replace("%", "") + ("" if se is None else "±" + fmt.format(se).replace("%", ""))


def _cells(row: dict, columns: tuple[Column, ...], se_keys: set[str] | None = None) -> list[str]:
    return [_cell(row, key, fmt, se_keys is None or key in se_keys) for key, _, fmt in columns]


def rows_table(rows: list[dict], title: str = "") -> Table:
    """The compact terminal table: headers on several lines, numbers never wrapped, the label wrapped at spaces."""
    columns = columns_for(rows)
    columns = DEMO_TERMINAL_COLUMNS if columns is DEMO_COLUMNS else columns
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for key, header, _ in columns:  # numbers never wrap; the setting's label wraps at spaces when space is short
        table.add_column(
            header,
            justify="left" if key == "label" else "right",
            no_wrap=key != "label",
            min_width=12 if key == "label" else None,
        )
    for row in rows:
        table.add_row(*_cells(row, columns, TERMINAL_SE))
    return table


def rows_markdown(rows: list[dict]) -> str:
    """The same columns as a Markdown table (for the README and reports)."""
    columns = columns_for(rows)
    lines = ["| " + " | ".join(header.replace("\n", " ") for _, header, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cells(row, columns)) + " |" for row in rows]
    return "\n".join(lines) + "\n"
