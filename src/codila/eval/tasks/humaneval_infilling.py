"""HumanEval-Infilling (shipped in codila/assets/data/humaneval-infilling): fill the gap between prefix and suffix; the tests of
the original HumanEval problem decide. Three splits: single-line, multi-line and random-span."""

from __future__ import annotations

import gzip
import json

from codila.assets import data_file
from codila.eval.tasks.base import Problem, Task, humaneval_style_program

SPLITS = {"single-line": "SingleLineInfilling", "multi-line": "MultiLineInfilling", "random-span": "RandomSpanInfilling"}


def _loader(split: str):
    def load() -> list[Problem]:
        with gzip.open(data_file("humaneval-infilling", f"HumanEval-{SPLITS[split]}.jsonl.gz"), "rt") as handle:
            rows = [json.loads(line) for line in handle]
        return [
            Problem(r["task_id"], r["prompt"], r["suffix"], r["canonical_solution"], r["test"], r["entry_point"]) for r in rows
        ]

    return load


TASKS = [
    Task(
        f"humaneval-infilling-{split}",
        True,
        _loader(split),
        humaneval_style_program,
        (),
        f"HumanEval-Infilling, {split} split, pass@1 by execution",
    )
    for split in SPLITS
]
