"""`codila report`: every evaluation under runs/ as one self-contained HTML page a researcher reads top down: a
summary (each run's best and fastest setting), contents, then per run its settings, notes (Markdown rendered),
the table of rows with standard errors, and the accuracy-vs-speed plot (redrawn from the rows; all-zero panels left
out) and any other plots of the folder."""

from __future__ import annotations

import base64
import html
import io
import json
import platform
import re
from datetime import datetime, timezone
from pathlib import Path

from markdown_it import MarkdownIt

from codila.eval.plots import accuracy_panels, pareto_plot
from codila.eval.runner import PLOT_FILE, ROWS_FILE, RUN_FILE, read_rows
from codila.eval.table import columns_for
from codila.eval.uncertainty import standard_error
from codila.models.swap import write_atomically

EXTRA_PLOTS = "*.png"  # other analyses (loss curves, copula check) put their plots and a notes.md in their run folder
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;font-size:13px;margin:0.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    ".meta{color:#555;font-size:12px}.se{color:#777;font-size:11px}section{margin-top:2.5em}"
    "code{background:#f4f4f4;padding:0 3px}table.summary td,table.summary th{text-align:left}"
)


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _rate(row: dict, key: str) -> str:
    """A cell: the value in the column's format; for a rate, its standard error beside it (both in %)."""
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, float) and key in (
        "pass_at_1",
        "syntax_valid",
        "syntax_error_rate",
        "exact_match",
        "token_accuracy",
        "ar_time_share",
    ):
        error = standard_error(row, key)
        cell = f"{100 * value:.1f}"
        return cell + (f" <span class=se>± {100 * error:.1f}</span>" if error is not None else "")
    return None  # not a rate: the column's own format


def _table(rows: list[dict]) -> str:
    columns = columns_for(rows)
    head = "".join(f"<th>{html.escape(header)}</th>" for _, header, _ in columns)
    body = ""
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            cell = _rate(row, key)
            cells.append(cell if cell is not None else html.escape(fmt.format(row[key])))
        body += "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>\n"
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"


def _png(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _accuracy_rows(rows: list[dict]) -> list[dict]:
    """Task rows carry a syntax-error rate; plots and the summary use its complement, syntax_valid."""
    return [
        {**row, "syntax_valid": 1 - row["syntax_error_rate"]} if row.get("syntax_error_rate") is not None else row for row in rows
    ]


def _plot(rows: list[dict], title: str) -> str:
    """The accuracy-vs-speed plot redrawn from the rows ("" when no accuracy is above zero anywhere)."""
    rows = [row for row in _accuracy_rows(rows) if row.get("tokens_per_s") is not None]
    buffer = io.BytesIO()
    panels = accuracy_panels(rows)
    if not pareto_plot(rows, panels, buffer, title):
        return "<p class=meta>No accuracy above zero in any row: no plot.</p>"
    skipped = [
        key
        for key in ("pass_at_1", "syntax_valid", "exact_match")
        if key not in panels and any(row.get(key) is not None for row in rows)
    ]
    note = f"<p class=meta>Left out (zero in every row): {', '.join(skipped)}.</p>" if skipped else ""
    return _png(buffer.getvalue(), title) + note


def _summary_line(name: str, rows: list[dict]) -> str:
    """One row of the summary table: the run, its task, settings, answers, its most accurate and its fastest setting."""
    rows = _accuracy_rows(rows)
    keys = [key for key in ("pass_at_1", "syntax_valid", "speedup") if any(row.get(key) for row in rows)]  # not all zero
    anchor = f'<a href="#{html.escape(name)}">{html.escape(name)}</a>'
    task = html.escape(str(rows[0].get("task", "bench" if "speedup" in rows[0] else "-")))
    best = fastest = "-"
    if keys:
        key = keys[0]
        top = max((row for row in rows if row.get(key) is not None), key=lambda row: row[key])
        error = standard_error(top, key)
        value = (
            f"{top[key]:.2f}x"
            if key == "speedup"
            else f"{100 * top[key]:.1f} %" + (f" ± {100 * error:.1f}" if error is not None else "")
        )
        best = f"{html.escape(top['label'])}: {key.replace('_', ' ')} {value}"
    timed = [row for row in rows if row.get("tokens_per_s") is not None]
    if timed:
        quick = max(timed, key=lambda row: row["tokens_per_s"])
        fastest = f"{html.escape(quick['label'])}: {quick['tokens_per_s']:.0f} tokens/s"
    count = max(int(row.get("n") or 0) for row in rows)
    return f"<tr><td>{anchor}</td><td>{task}</td><td>{len(rows)}</td><td>{count}</td><td>{best}</td><td>{fastest}</td></tr>"


def _section(folder: Path) -> str:
    parts = [f'<section><h2 id="{html.escape(folder.name)}">{html.escape(folder.name)}</h2>']
    if (folder / RUN_FILE).exists():
        settings = json.loads((folder / RUN_FILE).read_text())
        parts.append("<p class=meta>" + html.escape(", ".join(f"{k}={v}" for k, v in settings.items())) + "</p>")
    if (folder / "notes.md").exists():  # its headings two levels down: under the run's own
        notes = _markdown().render((folder / "notes.md").read_text())
        parts.append(re.sub(r"<(/?)h([1-4])>", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}>", notes))
    rows = read_rows(folder / ROWS_FILE)
    if rows:
        parts.append(
            _table(rows) + "<p class=meta>Rates in %, ± one standard error (binomial over the answers, or the "
            "row's own where it has one).</p>"
        )
        parts.append(_plot(rows, f"{folder.name}: accuracy vs speed"))
    plots = sorted(p for p in folder.glob(EXTRA_PLOTS) if not (rows and p.name == PLOT_FILE))  # pareto.png: redrawn above
    parts.extend(_png(plot.read_bytes(), plot.name) for plot in plots)
    return "\n".join(parts) + "</section>"


def render_report(runs: str | Path, out: str | Path, title: str = "codila report") -> int:
    """Write the page; returns how many run folders it holds (folders with rows, notes or plots)."""
    runs = Path(runs)
    folders = (
        [
            f
            for f in sorted(runs.iterdir())
            if f.is_dir() and (any(f.glob(ROWS_FILE)) or any(f.glob("notes.md")) or any(f.glob(EXTRA_PLOTS)))
        ]
        if runs.is_dir()
        else []
    )
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class=meta>{len(folders)} runs from {html.escape(str(runs))}, rendered {when} on {html.escape(platform.node())}. "
        "Speeds (tokens/s) are of the machine and moment each run decoded on.</p>",
    ]
    if folders:
        summaries = [_summary_line(f.name, rows) for f in folders if (rows := read_rows(f / ROWS_FILE))]
        if summaries:
            head.append(
                "<h2>Summary</h2><table class=summary><thead><tr><th>run</th><th>task</th><th>settings</th><th>problems</th>"
                "<th>most accurate</th><th>fastest</th></tr></thead><tbody>" + "".join(summaries) + "</tbody></table>"
            )
        head.append(
            "<h2>Contents</h2><ol>"
            + "".join(f'<li><a href="#{html.escape(f.name)}">{html.escape(f.name)}</a></li>' for f in folders)
            + "</ol>"
        )
    body = "\n".join(_section(folder) for folder in folders) or "<p>No results yet: run <code>codila eval</code> first.</p>"
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(head)}\n{body}\n</body></html>\n"
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out, lambda temporary: temporary.write_text(page))
    return len(folders)
