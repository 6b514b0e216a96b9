"""Every answer of an evaluation, one JSON line each (`problems.jsonl` beside the aggregate `rows.jsonl`, as evalplus
and lm-eval keep per-sample results): what was generated, whether it passed, and why not."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

PROBLEMS_FILE = "problems.jsonl"

Record = Callable[[dict], None]  # called once per answer with its record


def error_line(output: str) -> str | None:
    """The last non-empty line of a program's output (the exception of a traceback), None when there is none."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else None


def keep_finished(path: Path, labels: set[str]) -> None:
    """Drop the records of settings not in `labels` (an interrupted run's partial setting, decoded again on resume)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["label"] in labels]
        path.write_text("".join(line + "\n" for line in lines))


@contextmanager
def recorder(path: Path, label: str) -> Iterator[Record]:
    """A `Record` that appends each answer's record (with the setting's label first) to `path`, flushed per line."""
    with path.open("a") as handle:

        def record(fields: dict) -> None:
            handle.write(json.dumps({"label": label, **fields}) + "\n")
            handle.flush()

        yield record


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
