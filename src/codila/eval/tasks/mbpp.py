"""Sanitized MBPP (427 problems, shipped in codila/assets/data/mbpp): write a function from a description and one example test.

Prompt, as common MBPP harnesses build it for code models: the description and the first test in a docstring,
then the model writes the function. All tests (with their imports) run against the generated code.
"""

from __future__ import annotations

import json

from codila.assets import data_file
from codila.eval.sandbox import with_tests
from codila.eval.tasks.base import Problem, Task

STOP = ("\nif __name__", "\nprint(", "\nassert ", '\n"""')


def _prompt(description: str, first_test: str) -> str:
    return f'"""\n{description}\n{first_test}\n"""\n'


def load() -> list[Problem]:
    rows = json.loads(data_file("mbpp", "sanitized-mbpp.json").read_text())
    return [
        Problem(
            f"mbpp/{r['task_id']}",
            _prompt(r["prompt"], r["test_list"][0]),
            "",
            r["code"],
            "\n".join(r["test_imports"] + r["test_list"]),
        )
        for r in rows
    ]


def program(problem: Problem, completion: str) -> str:
    imports = "\n".join(line for line in problem.test.splitlines() if line.startswith(("import ", "from ")))
    return with_tests(f"{imports}\n{completion}\n", f"{problem.test}\n")


# mbpp/123's reference runs 6 s alone on this 2-core CPU and over 10 s beside another program
TASK = Task("mbpp", False, load, program, STOP, "sanitized MBPP completion, pass@1 by execution", timeout_s=20.0)
