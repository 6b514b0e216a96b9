"""Tasks score decoded text by running it; they know nothing of models. Adding a task = one file + one line in
`registry.py` (docs/extending.md).

Every registered task answers the questions `codila eval` asks (`eval/tasks/interface.py`). `Task` answers them by
executing programs; `code_infill.SpanTask` by scoring infilled spans of held-out code; `planning.PlanningTask` by
verifying planning answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from codila.eval.sandbox import SandboxLimits, with_tests
from codila.eval.task_run import run_task_setting
from codila.eval.tasks.interface import TaskDefaults
from codila.eval.tasks.problem import Problem, cut_at_stop

__all__ = ["Problem", "Task", "cut_at_stop", "humaneval_style_program"]  # Problem and cut_at_stop: the tasks import them here


@dataclass(frozen=True)
class Task(TaskDefaults):
    name: str
    infilling: bool
    load: Callable[[], list[Problem]]
    program: Callable[[Problem, str], str]  # (problem, generated text) -> the Python program to execute
    stop: tuple[str, ...] = ()  # completion is cut at the first of these (after the prompt)
    description: str = ""
    timeout_s: float = SandboxLimits.timeout_s  # wall clock per program in the sandbox

    def items(self, models, options) -> list[Problem]:
        """The problems `codila eval` decodes: the first `options.limit` (all by default)."""
        return self.load()[: options.limit]

    def decodes(self, items: list, options) -> int:
        return len(items) * options.samples

    def run(
        self,
        models,
        setting,
        items: list[Problem],
        options,
        advance: Callable[[], None],
        record: Callable[[dict], None] = lambda fields: None,
    ) -> dict:
        """One decoder setting's row on the problems: every answer executed (`codila.eval.task_run`); `record` gets each
        answer's record (codila.eval.records)."""
        limits = SandboxLimits(timeout_s=self.timeout_s, allow_network=options.allow_network)
        return run_task_setting(
            models,
            setting,
            self,
            items,
            options.plan,
            options.samples,
            options.seed,
            limits,
            advance=advance,
            batch_size=options.batch_size,
            record=record,
        )

    def plot(self, rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
        """The rows and the metrics (key -> axis title) of the accuracy-vs-speed plot."""
        from codila.eval.plots import accuracy_panels

        rows = [{**row, "syntax_valid": 1 - row["syntax_error_rate"]} for row in rows]
        return rows, accuracy_panels(rows)


def humaneval_style_program(problem: Problem, middle: str) -> str:
    """prefix + middle + suffix, then the tests and `check(entry_point)` (run outside the program's interpreter)."""
    return with_tests(f"{problem.prefix}{middle}{problem.suffix}\n", f"\n{problem.test}\n\ncheck({problem.entry_point})\n")
