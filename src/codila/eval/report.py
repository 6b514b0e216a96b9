"""`codila report`: every evaluation under runs/ as one self-contained HTML page (tables, plots inlined)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from codila.eval.runner import PLOT_FILE, ROWS_FILE, RUN_FILE, read_rows
from codila.eval.table import columns_for

EXTRA_PLOTS = "*.png"  # other analyses (loss curves, copula check) put their plots and a notes.md in their run folder


def _table(rows: list[dict]) -> str:
    columns = columns_for(rows)
    head = "".join(f"<th>{html.escape(header)}</th>" for _, header, _ in columns)
    body = ""
    for row in rows:
        cells = ("-" if row.get(key) is None else fmt.format(row[key]).replace("%", "") for key, _, fmt in columns)
        body += "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def _section(folder: Path) -> str:
    parts = [f"<h2>{html.escape(folder.name)}</h2>"]
    if (folder / RUN_FILE).exists():
        settings = json.loads((folder / RUN_FILE).read_text())
        parts.append("<p class=meta>" + html.escape(", ".join(f"{k}={v}" for k, v in settings.items())) + "</p>")
    if (folder / "notes.md").exists():
        parts.append(f"<pre>{html.escape((folder / 'notes.md').read_text())}</pre>")
    rows = read_rows(folder / ROWS_FILE)
    if rows:
        parts.append(_table(rows))
    plots = sorted(folder.glob(EXTRA_PLOTS), key=lambda p: (p.name != PLOT_FILE, p.name))
    parts.extend(_image(plot) for plot in plots)
    return "\n".join(parts)


def render_report(runs: str | Path, out: str | Path, title: str = "codila report") -> int:
    """Write the page; returns how many run folders it holds (folders with rows, notes or plots)."""
    runs = Path(runs)
    folders = [f for f in sorted(runs.iterdir()) if f.is_dir() and any(f.glob(f"{ROWS_FILE}")) | any(f.glob("notes.md"))
               | any(f.glob(EXTRA_PLOTS))] if runs.is_dir() else []
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
             "img{max-width:100%}.meta{color:#555;font-size:12px}pre{background:#f6f6f6;padding:8px}")
    body = "\n".join(_section(folder) for folder in folders) or "<p>No results yet: run <code>codila eval</code> first.</p>"
    page = f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{style}</style></head>" \
           f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return len(folders)
