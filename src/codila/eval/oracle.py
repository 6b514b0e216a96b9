"""Harness self-checks: the reference solutions must all pass, empty answers must all fail."""

from __future__ import annotations

from typing import Callable

from codila.eval.sandbox import SandboxLimits, run_program
from codila.eval.tasks.base import Problem, Task

ORACLES: dict[str, Callable[[Problem], str]] = {
    "canonical": lambda problem: problem.reference,
    "empty": lambda problem: "",
}


def oracle_pass_rate(task: Task, oracle: str, problems: list[Problem], limits: SandboxLimits = SandboxLimits()) -> tuple[float, list[str]]:
    """(fraction of `problems` whose oracle answer passes, the task ids that did not behave as expected)."""
    answer = ORACLES[oracle]
    passed, surprising = 0, []
    for problem in problems:
        ok = run_program(task.program(problem, answer(problem)), limits).passed
        passed += ok
        if ok != (oracle == "canonical"):
            surprising.append(problem.task_id)
    return passed / len(problems), surprising
