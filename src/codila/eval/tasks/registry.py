"""The only list of task names: the CLI, `codila eval`, the suite and the tests read it.

Adding a task = one file (its loader and program, see `base.py`) + one `register` line here (docs/extending.md)."""

from __future__ import annotations

from codila.errors import CodilaError
from codila.eval.tasks import code_infill, countdown, graph, humaneval, humaneval_infilling, mbpp, sudoku

TASKS: dict = {}


def register(task) -> None:
    """Add a task (a `Task`, or any object with name, description, items, decodes, run and plot)."""
    if task.name in TASKS:
        raise CodilaError(f"task {task.name!r} is already registered")
    TASKS[task.name] = task


for _task in (code_infill.TASK, humaneval.TASK, mbpp.TASK, *humaneval_infilling.TASKS, graph.TASK, countdown.TASK, sudoku.TASK):
    register(_task)


def get_task(name: str):
    if name not in TASKS:
        raise CodilaError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]
