"""The only list of task names: the CLI and the tests read it."""

from __future__ import annotations

from codila.errors import CodilaError
from codila.eval.tasks import countdown, graph, humaneval, humaneval_infilling, mbpp, sudoku
from codila.eval.tasks.base import Task

TASKS: dict[str, Task] = {task.name: task for task in (humaneval.TASK, mbpp.TASK, *humaneval_infilling.TASKS, graph.TASK, countdown.TASK, sudoku.TASK)}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise CodilaError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]
