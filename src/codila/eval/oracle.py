"""Harness self-checks: the reference solutions must all pass, empty answers must all fail.

An empty answer is only a wrong answer where the reference holds code: random-span infilling has gaps whose
reference is blank (51 of 1640 are '' or whitespace), and there the empty answer *is* the reference up to
whitespace. `checked_problems` leaves those out of the empty check."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from typing import Callable

from codila.eval.sandbox import SandboxLimits, run_program
from codila.eval.tasks.base import Problem, Task

ORACLES: dict[str, Callable[[Problem], str]] = {
    "canonical": lambda problem: problem.reference,
    "empty": lambda problem: "",
}


@lru_cache(maxsize=1)
def insensitive_gaps() -> frozenset[str]:
    """Task ids of infilling gaps whose removal the original tests do not notice (the empty answer passes):
    a property of the data, listed in tasks/insensitive_gaps.txt from the full empty-oracle runs."""
    text = resources.files("codila.eval.tasks").joinpath("insensitive_gaps.txt").read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def checked_problems(oracle: str, problems: list[Problem]) -> list[Problem]:
    """The problems an oracle's expectation applies to: all of them, but blank-reference gaps for "empty"."""
    return [problem for problem in problems if oracle != "empty" or problem.reference.strip()]


def oracle_pass_rate(
    task: Task,
    oracle: str,
    problems: list[Problem],
    limits: SandboxLimits | None = None,
    workers: int = 1,
    advance: Callable[[], None] = lambda: None,
) -> tuple[float, list[str]]:
    """(fraction of `problems` whose oracle answer passes, the task ids that did not behave as expected).
    An empty answer that passes on a known insensitive gap (`insensitive_gaps`) is expected.

    Pass `checked_problems(oracle, problems)` to leave out the problems the oracle says nothing about.
    `workers` programs run at once (each in its own sandbox with its own uid); `advance` is called per program."""
    answer = ORACLES[oracle]
    limits = limits or SandboxLimits(timeout_s=task.timeout_s)

    def passes(problem: Problem) -> bool:
        ok = run_program(task.program(problem, answer(problem)), limits).passed
        advance()
        return ok

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(passes, problems))
    expected = [oracle == "canonical" or problem.task_id in insensitive_gaps() for problem in problems]
    surprising = [problem.task_id for problem, ok, hope in zip(problems, outcomes, expected) if ok != hope]
    return sum(outcomes) / len(problems), surprising
