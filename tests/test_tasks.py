"""Harness self-checks on a sample of every task: reference solutions pass, empty answers fail."""

import pytest

from codila.errors import CodilaError
from codila.eval.oracle import oracle_pass_rate
from codila.eval.tasks.base import cut_at_stop
from codila.eval.tasks.registry import TASKS, get_task

SIZES = {"humaneval": 164, "mbpp": 427, "humaneval-infilling-single-line": 1033,
         "humaneval-infilling-multi-line": 5815, "humaneval-infilling-random-span": 1640}
# gaps whose removal the original tests do not notice (found by the full `empty` oracle run; see README)
EMPTY_PASSES = {"MultiLineInfilling/HumanEval/81/L6_L7"}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_oracles_on_a_sample(name):
    task = get_task(name)
    problems = task.load()
    assert len(problems) == SIZES[name] and len({p.task_id for p in problems}) == len(problems)
    sample = problems[:: len(problems) // 12][:12]
    assert oracle_pass_rate(task, "canonical", sample) == (1.0, [])
    ran = []
    _, unexpected = oracle_pass_rate(task, "empty", sample, workers=3, advance=lambda: ran.append(1))  # concurrent sandboxes
    assert len(ran) == len(sample)
    assert set(unexpected) <= EMPTY_PASSES


def test_unknown_task_and_missing_data(monkeypatch, tmp_path):
    with pytest.raises(CodilaError, match="unknown task"):
        get_task("gsm8k")
    monkeypatch.setenv("CODILA_DATA", str(tmp_path))
    with pytest.raises(CodilaError, match="is missing"):
        get_task("mbpp").load()


def test_completions_are_cut_at_stop_sequences():
    assert cut_at_stop("    return x\n\ndef other():\n", ("\ndef ",)) == "    return x\n"
    assert cut_at_stop("    return x\n", ("\ndef ",)) == "    return x\n"
