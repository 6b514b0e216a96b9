"""`codila report`: summary, contents, HTML tables, standard errors, all-zero panels left out (no models needed)."""

import json
import re

import pytest

from codila.eval.plots import accuracy_panels, pareto_plot
from codila.eval.report import render_report
from codila.eval.uncertainty import standard_error


def _task_row(label: str, pass_at_1: float, syntax_error_rate: float, tokens_per_s: float, **extra) -> dict:
    return {
        "label": label,
        "method": "dlm",
        "mode": None,
        "conditioning": None,
        "task": "mbpp",
        "pass_at_1": pass_at_1,
        "syntax_error_rate": syntax_error_rate,
        "exact_match": None,
        "tokens_per_step": 1.0,
        "dlm_forwards": 16.0,
        "ar_steps": 0.0,
        "tokens_per_s": tokens_per_s,
        "order_spearman": None,
        "samples": 1,
        "n": 16,
        **extra,
    }


def _run(folder, rows, notes: str | None = None):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"task": rows[0]["task"], "limit": 16}))
    (folder / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    if notes is not None:
        (folder / "notes.md").write_text(notes)


def test_standard_errors_are_binomial_over_the_answers_unless_the_row_has_its_own():
    row = _task_row("a", 0.25, 0.5, 10.0)
    assert standard_error(row, "pass_at_1") == pytest.approx((0.25 * 0.75 / 16) ** 0.5)
    assert standard_error({**row, "samples": 4}, "pass_at_1") == pytest.approx((0.25 * 0.75 / 64) ** 0.5)
    assert standard_error({**row, "pass_at_1_se": 0.2}, "pass_at_1") == 0.2  # e.g. clustered over problems
    assert standard_error(row, "tokens_per_s") is None and standard_error(row, "exact_match") is None


def test_the_report_opens_with_a_summary_and_contents_and_renders_tables_as_html(tmp_path):
    runs = tmp_path / "runs"
    _run(runs / "mbpp-run", [_task_row("DLM K=1", 0.25, 0.5, 10.0), _task_row("DLM K=4", 0.0, 0.75, 40.0)])
    _run(
        runs / "zeros",
        [_task_row("DLM K=1", 0.0, 0.5, 10.0), _task_row("DLM K=2", 0.0, 0.25, 20.0)],
        notes="# Notes\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    )
    assert render_report(runs, tmp_path / "report.html") == 2
    page = (tmp_path / "report.html").read_text()
    assert page.index("<h2>Summary</h2>") < page.index("<h2>Contents</h2>") < page.index('<section><h2 id="mbpp-run">')
    assert '<a href="#mbpp-run">' in page and '<a href="#zeros">' in page
    summary = page[page.index("<h2>Summary</h2>") : page.index("<h2>Contents</h2>")]
    assert "DLM K=1: pass at 1 25.0 % ± 10.8" in summary and "DLM K=4: 40 tokens/s" in summary
    assert "DLM K=2: syntax valid 75.0 % ± 10.8" in summary  # pass@1 is 0 in every row of that run: not a ranking
    assert "<pre>" not in page and "<td>1</td><td>2</td>" in page.replace("\n", "")  # notes.md's table as HTML
    assert "25.0 <span class=se>± 10.8</span>" in page  # pass@1 and its binomial standard error, in %
    assert "Left out (zero in every row): pass_at_1" in page  # the zeros run's pass@1 panel is not drawn
    assert len(re.findall(r'<img alt="[^"]*accuracy vs speed"', page)) == 2


def test_all_zero_panels_are_left_out_and_nothing_is_drawn_without_one(tmp_path):
    zero = [_task_row("a", 0.0, 0.0, 1.0, syntax_valid=0.0), _task_row("b", 0.0, 0.0, 2.0, syntax_valid=0.0)]
    assert accuracy_panels(zero) == {}
    assert not pareto_plot(zero, accuracy_panels(zero), tmp_path / "p.png", "t") and not (tmp_path / "p.png").exists()
    some = [{**zero[0], "syntax_valid": 0.5}, zero[1]]
    assert accuracy_panels(some) == {"syntax_valid": "syntax-valid fraction"}
    assert pareto_plot(some, accuracy_panels(some), tmp_path / "p.png", "t") and (tmp_path / "p.png").stat().st_size > 0
