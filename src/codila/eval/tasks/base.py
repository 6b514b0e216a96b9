"""Tasks score decoded text by running it; they know nothing of models. Adding a task = one file + one line in
`registry.py` (docs/extending.md).

Every registered task answers the same four questions `codila eval` asks (`eval/runner.py`): which items to decode
(`items`), how many decodes they make (`decodes`), how one decoder setting does on them (`run`: one row of metrics),
and which of its metrics the accuracy-vs-speed plot shows (`plot`). `Task` answers them by executing programs;
`code_infill.SpanTask` by scoring infilled spans of held-out code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from codila.errors import CodilaError
from codila.eval.sandbox import SandboxLimits, with_tests


@dataclass(frozen=True)
class Problem:
    task_id: str
    prefix: str  # the prompt (completion) or the code before the gap (infilling)
    suffix: str  # the code after the gap; "" for completion
    reference: str  # a known-good completion or middle (the canonical solution)
    test: str  # test code appended to the program
    entry_point: str | None = None  # HumanEval-style: `check(entry_point)` is called after `test`


@dataclass(frozen=True)
class Task:
    name: str
    infilling: bool
    load: Callable[[], list[Problem]]
    program: Callable[[Problem, str], str]  # (problem, generated text) -> the Python program to execute
    stop: tuple[str, ...] = ()  # completion is cut at the first of these (after the prompt)
    description: str = ""
    timeout_s: float = SandboxLimits.timeout_s  # wall clock per program in the sandbox
    verify: Callable[[str, str], bool] | None = None  # planning tasks: (prompt, answer) -> exact check; nothing runs

    def items(self, models, options) -> list[Problem]:
        """The problems `codila eval` decodes: the first `options.limit` (all by default)."""
        return self.load()[: options.limit]

    def decodes(self, items: list, options) -> int:
        return len(items) * options.samples

    def floors(self, models, items: list) -> list[dict]:
        """Rows of the trivial answers that decode nothing (none here: pass@1's floor is 0 by the oracle check)."""
        return []

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
        from codila.eval.task_run import (
            run_task_setting,  # (task_run imports this module)
        )

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


def planning_task(name: str, description: str) -> Task:
    """A planning task (codila.data.planning): problems are generated for the setting the models were trained on
    (`load` gives the default setting's test split) and answers are verified, not executed."""
    from codila.data.planning.registry import DEFAULT_SETTING, get_setting
    from codila.data.planning.splits import split_examples

    spec = get_setting(DEFAULT_SETTING[name])

    def load() -> list[Problem]:
        return [Problem(f"{spec.name}/{i}", e.prompt, "", e.answer, "") for i, e in enumerate(split_examples(spec, "test"))]

    def program(problem: Problem, answer: str) -> str:
        raise CodilaError(f"{name} answers are verified exactly, not executed")

    return Task(name, False, load, program, (), description, verify=spec.verify)


def humaneval_style_program(problem: Problem, middle: str) -> str:
    """prefix + middle + suffix, then the tests and `check(entry_point)` (run outside the program's interpreter)."""
    return with_tests(f"{problem.prefix}{middle}{problem.suffix}\n", f"\n{problem.test}\n\ncheck({problem.entry_point})\n")


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """`text` up to the first stop sequence (the usual post-processing of code completions)."""
    cuts = [text.index(s) for s in stop if s in text]
    return text[: min(cuts)] if cuts else text
