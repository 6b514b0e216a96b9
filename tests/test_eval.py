"""`codila eval`: tasks end to end on tiny models, sweeps, resumable runs, the any-order analysis."""

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codila.decoding.canvas import Canvas
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.registry import decode, get_decoder
from codila.errors import CodilaError
from codila.eval.order import commit_order_correlation
from codila.eval.plots import pareto_front
from codila.eval.records import PROBLEMS_FILE, read_records
from codila.eval.runner import CODE_INFILL, EvalOptions, read_rows, run_eval
from codila.eval.settings import ModelSet
from codila.eval.sweeps import get_sweep, quick_sweep
from codila.eval.task_run import CanvasPlan, fit_context, problem_canvas
from codila.eval.tasks.registry import get_task

TASK_ROW_KEYS = {
    "method",
    "k",
    "block_size",
    "mode",
    "conditioning",
    "tau",
    "tokens_per_step",
    "dlm_forwards",
    "ar_steps",
    "tokens_per_s",
    "n",
    "task",
    "pass_at_1",
    "syntax_error_rate",
    "exact_match",
    "order_spearman",
}


@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 50))
def test_fit_context_keeps_the_tokens_nearest_the_gap(n_before, n_after, budget):
    before, after = list(range(n_before)), list(range(100, 100 + n_after))
    kept_before, kept_after = fit_context(before, after, budget)
    assert len(kept_before) + len(kept_after) == min(budget, n_before + n_after)
    assert kept_before == before[n_before - len(kept_before) :] and kept_after == after[: len(kept_after)]
    assert len(kept_after) >= min(n_after, budget // 2)  # the suffix gets at least half when it needs it


def test_infilling_canvases_have_an_oracle_length_every_block_size_divides(dlm):
    task = get_task("humaneval-infilling-single-line")
    for problem in task.load()[:20]:
        canvas, _ = problem_canvas(problem, task, dlm, CanvasPlan(infill_multiple=8))
        reference = len(dlm.tokenizer(problem.reference, add_special_tokens=False)["input_ids"])
        assert canvas.length % 8 == 0 and reference <= canvas.length < reference + 8
        assert len(canvas.ids) <= dlm.max_length and not canvas.stop_at_eos


def test_left_to_right_decoding_has_order_correlation_one(dlm):
    ids = dlm.tokenizer("def f(x):\n    return", add_special_tokens=False)["input_ids"]
    canvas = Canvas.completion(ids, 8, dlm.mask_id, dlm.max_length)
    result = decode(get_decoder("dlm"), dlm, None, [canvas], DlmDecodeConfig(semi_ar_block=1), 0)[0]
    assert commit_order_correlation(result) == pytest.approx(1.0)
    one_step = decode(get_decoder("dlm"), dlm, None, [canvas], DlmDecodeConfig(tokens_per_step=8), 0)[0]
    assert commit_order_correlation(one_step) is None


def test_pareto_front():
    assert pareto_front([(1, 0.9), (2, 0.5), (3, 0.6), (4, 0.1), (2.5, 0.4)]) == [(1, 0.9), (3, 0.6), (4, 0.1)]


def test_humaneval_end_to_end_with_resume(tiny_checkpoints, tmp_path):
    out = tmp_path / "run"
    options = EvalOptions(limit=2, plan=CanvasPlan(completion_length=16))
    rows = run_eval("humaneval", quick_sweep(), out, options, tiny_checkpoints, progress=False)
    assert [row["label"] for row in rows] == [
        "DLM K=1",
        "DLM K=4",
        "CoDiLA B=4 static soft scope=10",
        "CoDiLA B=4 dynamic soft tau=5.0 scope=10",
    ]
    for row in rows:
        assert TASK_ROW_KEYS <= set(row) and row["n"] == 2 and row["task"] == "humaneval"
        assert 0 <= row["pass_at_1"] <= 1 and 0 <= row["syntax_error_rate"] <= 1 and row["exact_match"] is None
    by_label = {row["label"]: row for row in rows}
    assert by_label["DLM K=1"]["dlm_forwards"] <= 16 and by_label["CoDiLA B=4 static soft scope=10"]["dlm_forwards"] <= 4
    assert (out / "pareto.png").stat().st_size > 0 and "| DLM K=4 |" in (out / "table.md").read_text()
    records = read_records(out / PROBLEMS_FILE)  # every answer: 4 settings x 2 problems
    assert [(r["label"], r["task_id"]) for r in records] == [
        (row["label"], task_id) for row in rows for task_id in ("HumanEval/0", "HumanEval/1")
    ]
    for row in rows:  # the records are the answers the row aggregates
        answers = [r for r in records if r["label"] == row["label"]]
        assert sum(r["status"] == "passed" for r in answers) / 2 == row["pass_at_1"]
        assert sum(not r["syntax_valid"] for r in answers) / 2 == row["syntax_error_rate"]
    for record in records:
        assert isinstance(record["completion"], str) and (record["error"] is None) == (record["status"] == "passed")
    with pytest.raises(CodilaError, match="--resume"):
        run_eval("humaneval", quick_sweep(), out, options, tiny_checkpoints, progress=False)
    with pytest.raises(CodilaError, match="different evaluation"):
        run_eval("humaneval", quick_sweep(), out, EvalOptions(limit=3), tiny_checkpoints, resume=True, progress=False)
    lines = (out / "rows.jsonl").read_text().splitlines()
    (out / "rows.jsonl").write_text("\n".join(lines[:2]) + "\n")  # as if interrupted after two settings
    resumed = run_eval("humaneval", quick_sweep(), out, options, tiny_checkpoints, resume=True, progress=False)
    untimed = lambda table: [{k: v for k, v in row.items() if k not in ("tokens_per_s", "ar_time_share")} for row in table]
    assert untimed(resumed) == untimed(rows) and len(read_rows(out / "rows.jsonl")) == 4
    assert read_records(out / PROBLEMS_FILE) == records  # the interrupted settings' answers once each, decoded alike


@pytest.mark.parametrize("task", ["mbpp", "humaneval-infilling-multi-line"])
def test_executable_tasks_run_end_to_end(tiny_checkpoints, tmp_path, task):
    options = EvalOptions(limit=2, samples=2, plan=CanvasPlan(completion_length=16))
    rows = run_eval(task, get_sweep("quick")[2:3], tmp_path / "run", options, tiny_checkpoints, progress=False)
    assert rows[0]["samples"] == 2 and rows[0]["n"] == 2 and 0 <= rows[0]["pass_at_1"] <= 1
    assert (rows[0]["exact_match"] is None) == (task == "mbpp")
    batched = run_eval(
        task, get_sweep("quick")[2:3], tmp_path / "batched", replace(options, batch_size=3), tiny_checkpoints, progress=False
    )
    untimed = lambda row: {k: v for k, v in row.items() if k not in ("tokens_per_s", "ar_time_share")}
    assert untimed(batched[0]) == untimed(rows[0])


def test_a_completion_length_that_leaves_no_context_is_refused(tiny_checkpoints, tmp_path):
    options = EvalOptions(limit=1, plan=CanvasPlan(completion_length=64))  # the tiny DLM's whole canvas
    with pytest.raises(CodilaError, match="no room for context"):
        run_eval("mbpp", get_sweep("quick")[:1], tmp_path / "run", options, tiny_checkpoints, progress=False)


def test_paper_sweep_on_code_infill(tiny_checkpoints, corpus_dir, tmp_path):
    settings = get_sweep("paper")
    models = ModelSet(tiny_checkpoints)
    labels = [setting.label(models.for_setting(setting)) for setting in settings]
    assert len(set(labels)) == len(labels) == 20  # the paper's 19 and scope 1
    rows = run_eval(
        CODE_INFILL,
        settings,
        tmp_path / "run",
        EvalOptions(limit=1, span_length=16, files=str(corpus_dir)),
        tiny_checkpoints,
        progress=False,
    )
    assert [row["label"] for row in rows] == ["floor: empty", "floor: newlines", *labels]
    assert [row["method"] for row in rows[:2]] == ["empty", "newlines"]
    by_label = {row["label"]: row for row in rows}
    assert (
        by_label["CoDiLA B=2 static top1 scope=10"]["ar"] == "ar-b2"
        and by_label["CoDiLA B=4 static top1 scope=10"]["ar"] == "ar-b4-top1"
    )
    assert json.loads((tmp_path / "run" / "run.json").read_text())["task"] == CODE_INFILL
    records = read_records(tmp_path / "run" / PROBLEMS_FILE)
    assert [r["label"] for r in records] == labels and {r["span"] for r in records} == {0}
    assert all(r["exact_match"] == by_label[r["label"]]["exact_match"] and r["reference"] for r in records)


def test_the_suite_runs_every_task_then_the_analyses_and_states_what_it_ran(tiny_checkpoints, corpus_dir, tmp_path):
    from codila.eval.suite import SUITE_LIMITS, run_suite

    (tmp_path / "copula").mkdir()
    (tmp_path / "copula" / "notes.md").write_text("done before\n")  # an analysis with results is not run again
    folders = run_suite(
        "quick",
        tmp_path,
        tiny_checkpoints,
        limit=1,
        progress=False,
        batch_size=2,
        plan=CanvasPlan(completion_length=16, infill_multiple=8),
        files=corpus_dir,
    )  # the tiny DLM's canvas holds 64 tokens
    for task in SUITE_LIMITS:
        rows = [row for row in read_rows(tmp_path / f"quick-{task}" / "rows.jsonl") if row.get("tokens_per_s") is not None]
        assert [row["n"] for row in rows] == [1] * len(quick_sweep())  # the decoders' rows (code-infill's floors decode nothing)
    assert (tmp_path / "ar-loss" / "notes.md").exists() and (tmp_path / "copula" / "notes.md").read_text() == "done before\n"
    summary = (tmp_path / "quick-suite" / "notes.md").read_text()
    assert "4 decoder settings" in summary and "humaneval 1" in summary and "wall time" in summary
    assert len(folders) == len(SUITE_LIMITS) + 2


def test_eval_chat_wraps_prompts_with_the_template_and_records_it(chat_dlm_dir, tiny_checkpoints, tmp_path):
    import json

    from test_cli import codila

    args = ["eval", "humaneval", "--chat", "--limit", 2, "--decoder", "dlm", "--k", 8, "--completion-length", 16]
    out = codila(*args, "--dlm", chat_dlm_dir, "--checkpoints", tiny_checkpoints, "--out", tmp_path / "run")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "run" / "run.json").read_text())["plan"]["chat"] is True
    answers = [json.loads(line) for line in (tmp_path / "run" / "problems.jsonl").read_text().splitlines()]
    assert len(answers) == 2 and all(answer["completion"].startswith("\n") for answer in answers)  # extract_code's
    refused = codila(*args, "--dlm", tiny_checkpoints / "dlm", "--checkpoints", tiny_checkpoints, "--out", tmp_path / "r2")
    assert refused.returncode == 2 and "no chat template" in refused.stderr and not (tmp_path / "r2" / "rows.jsonl").exists()


def test_reproduce_paper_runs_every_row_beside_the_paper_s_numbers(chat_dlm_dir, tiny_checkpoints, tmp_path):
    import json

    from codila.eval.reproduce import paper_rows
    from test_cli import codila

    out = codila(
        "reproduce", "paper", "--dlm", chat_dlm_dir, "--ar-dir", tiny_checkpoints, "--infill-dlm", tiny_checkpoints / "dlm",
        "--limit", 2, "--completion-length", 16, "--out", tmp_path / "paper", timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in (tmp_path / "paper" / "paper.jsonl").read_text().splitlines()]
    assert len(results) == len(paper_rows()) == 23
    assert {r["section"] for r in results} == {"Table 1", "syntax errors", "scope ablation", "infilling"}
    table1 = [r for r in results if r["section"] == "Table 1"]
    assert {r["task"] for r in table1} == {"humaneval", "mbpp"} and all(r["ours"]["n"] == 2 for r in results)
    b4 = next(r for r in table1 if r["task"] == "humaneval" and r["label"] == "CoDiLA B=4 static soft scope=10")
    assert b4["paper"] == {"pass_at_1": 0.518, "tokens_per_s": 33, "syntax_error_rate": 0.13}
    assert b4["ours"]["tokens_per_step"] == 4.0 and "--scope 10" in b4["command"] and "--chat" in b4["command"]
    alone = next(r for r in table1 if r["label"].startswith("DLM steps=16 auto"))  # the authors' sampler, L/K steps
    assert "--decoder dlm --temperature 0.1 --top-p 0.95 --steps 16 --reference" in alone["command"]
    assert alone["ours"]["tokens_per_step"] == 1.0
    assert any(r["label"].startswith("DLM steps=2 auto") for r in results if r["section"] == "syntax errors")  # K=8
    infill = [r for r in results if r["section"] == "infilling"]
    assert all(r["task"] == "humaneval-infilling-single-line" and "--chat" not in r["command"] for r in infill)
    page = (tmp_path / "paper" / "paper.md").read_text()
    assert "| Table 1 | humaneval | CoDiLA B=4 static soft scope=10 | 51.8 |" in page and "codila eval humaneval" in page
    assert json.loads((tmp_path / "paper" / "humaneval" / "run.json").read_text())["plan"]["chat"] is True
