"""Harness self-checks on a sample of every task: reference solutions pass, empty answers fail."""

import pytest

from codila.errors import CodilaError
from codila.eval.oracle import checked_problems, insensitive_gaps, oracle_pass_rate
from codila.eval.tasks.base import cut_at_stop
from codila.eval.tasks.registry import get_task

SIZES = {
    "humaneval": 164,
    "mbpp": 427,
    "humaneval-infilling-single-line": 1033,
    "humaneval-infilling-multi-line": 5815,
    "humaneval-infilling-random-span": 1640,
}


@pytest.mark.parametrize("name", sorted(SIZES))  # the tasks scored by executing programs (planning tasks: test_planning_*)
def test_oracles_on_a_sample(name):
    task = get_task(name)
    problems = task.load()
    assert len(problems) == SIZES[name] and len({p.task_id for p in problems}) == len(problems)
    sample = problems[:: len(problems) // 12][:12]
    assert oracle_pass_rate(task, "canonical", sample) == (1.0, [])
    ran = []
    non_blank = checked_problems("empty", sample)
    _, unexpected = oracle_pass_rate(task, "empty", non_blank, workers=3, advance=lambda: ran.append(1))  # concurrent sandboxes
    assert len(ran) == len(non_blank)
    assert unexpected == []  # known insensitive gaps (insensitive_gaps.txt) are expected to pass empty


def test_known_insensitive_gaps_pass_empty_and_other_gaps_do_not():
    task = get_task("humaneval-infilling-multi-line")
    by_id = {problem.task_id: problem for problem in task.load()}
    known = by_id["MultiLineInfilling/HumanEval/66/L0_L0"]  # `if s == "": return 0` before `return sum(...)`
    other = by_id["MultiLineInfilling/HumanEval/66/L1_L1"]
    assert known.task_id in insensitive_gaps() and other.task_id not in insensitive_gaps()
    assert oracle_pass_rate(task, "empty", [known, other]) == (0.5, [])
    assert len(insensitive_gaps()) == 86


def test_the_empty_oracle_leaves_out_blank_references():
    problems = get_task("humaneval-infilling-random-span").load()
    checked = {problem.task_id for problem in checked_problems("empty", problems)}
    blank = {problem.task_id for problem in problems if not problem.reference.strip()}
    assert len(blank) == 51 and "RandomSpanInfilling/HumanEval/7/10" in blank and not checked & blank
    assert len(checked) == len(problems) - len(blank) and len(checked_problems("canonical", problems)) == len(problems)


def test_unknown_task_and_missing_data(monkeypatch, tmp_path):
    with pytest.raises(CodilaError, match="unknown task"):
        get_task("gsm8k")
    monkeypatch.setattr("codila.assets.DATA", tmp_path)  # an installation that lost its data files
    with pytest.raises(CodilaError, match="is missing"):
        get_task("mbpp").load()


def test_completions_are_cut_at_stop_sequences():
    assert cut_at_stop("    return x\n\ndef other():\n", ("\ndef ",)) == "    return x\n"
    assert cut_at_stop("    return x\n", ("\ndef ",)) == "    return x\n"


@pytest.mark.parametrize(
    "reply,code",
    [
        ("Here:\n```python\ndef f():\n    return 1\n```\nDone.", "\ndef f():\n    return 1\n"),
        ("```\n    return x\n```", "\n    return x\n"),
        ("```python\ndef g(): pass", "\ndef g(): pass"),  # cut before its closing fence
        ("    return 2\n", "\n    return 2\n"),  # no fence: the reply is the code
        ("```", "\n"),
    ],
)
def test_a_chat_reply_s_code_is_its_first_fenced_block(reply, code):
    from codila.eval.tasks.problem import extract_code

    assert extract_code(reply) == code


@pytest.mark.parametrize("name", ["humaneval", "mbpp"])
def test_a_chat_reply_holding_the_whole_reference_function_passes_and_an_empty_one_fails(name):
    """With --chat the answer is a whole function (or its body) after the prompt: the task's program still runs it."""
    from codila.eval.sandbox import run_program
    from codila.eval.tasks.problem import extract_code

    task = get_task(name)
    for problem in task.load()[:3]:
        whole = problem.reference if name == "mbpp" else problem.prefix + problem.reference
        assert run_program(task.program(problem, extract_code(f"Sure.\n```python\n{whole}```\n"))).passed, problem.task_id
        body = extract_code(f"```python\n{problem.reference}```")
        assert name == "mbpp" or run_program(task.program(problem, body)).passed, problem.task_id
        assert not run_program(task.program(problem, extract_code("```python\npass\n```"))).passed, problem.task_id
