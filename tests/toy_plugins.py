"""A toy decoder and a toy task, each one definition + one registry line (what docs/extending.md shows).

Importing this module registers both; `test_extending.py` runs them through the contract tests and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from codila.decoding.forward import make_forward
from codila.decoding.options import check_config, option
from codila.decoding.registry import DecoderSpec, register
from codila.decoding.result import CommitLog
from codila.eval.tasks.base import Problem, Task, humaneval_style_program
from codila.eval.tasks.registry import register as register_task


@dataclass(frozen=True)
class LeftToRightConfig:
    leftmost: int = option(1, "left-to-right: positions committed per step, leftmost first, each its DLM argmax")

    def label(self, ar=None) -> str:
        return f"left-to-right {self.leftmost}"

    def columns(self) -> dict:
        return {"k": self.leftmost}

    @classmethod
    def examples(cls) -> list:
        return [cls(), cls(leftmost=3)]

    def __post_init__(self) -> None:
        check_config(self)


def decode_left_to_right(dlm, ar, canvases, config, generators):
    """Each step, one DLM forward over the unfinished canvases; each commits its `leftmost` first masked positions."""
    logs = [CommitLog(canvas.copy(), dlm.special.eos_id) for canvas in canvases]
    forward = make_forward(dlm, [log.canvas for log in logs], cache="none", semi_ar_block=0)
    steps = [0] * len(logs)
    while rows := [row for row, log in enumerate(logs) if not log.done()]:
        chosen = [logs[row].canvas.open_positions(0)[: config.leftmost] for row in rows]
        logits = forward(rows, [logs[row].canvas.window(0) for row in rows], chosen)
        for row, positions, row_logits in zip(rows, chosen, logits):
            logs[row].commit(positions, row_logits.argmax(-1))
            steps[row] += 1
    return [log.finish(steps[row], 0) for row, log in enumerate(logs)]


register(DecoderSpec("left-to-right", LeftToRightConfig, decode_left_to_right, False, "toy: leftmost masked positions first"))


def load_toy() -> list[Problem]:
    return [
        Problem(
            f"toy/{i}", f"def f{i}():\n    return ", "\n", f"{i}\n", "def check(f):\n    assert f() is None or True\n", f"f{i}"
        )
        for i in range(2)
    ]


register_task(Task("toy-task", False, load_toy, humaneval_style_program, ("\n",), "toy: any completion that runs passes"))
