"""`codila eval`: one task, a list of decoder settings; each row is appended to `rows.jsonl` the moment it is done
(so `--resume` continues an interrupted run), every answer to `problems.jsonl` (`records.py`), then a Markdown
table and a Pareto plot are written beside them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.progress import Progress

from codila.errors import CodilaError
from codila.eval.order_plot import decode_order_plot
from codila.eval.plots import pareto_plot
from codila.eval.records import PROBLEMS_FILE, keep_finished, recorder
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.table import rows_markdown
from codila.eval.task_run import CanvasPlan
from codila.eval.tasks.code_infill import TASK as CODE_INFILL_TASK
from codila.eval.tasks.registry import get_task
from codila.tokenizer import chat_text
from codila.validate import check_options

CODE_INFILL = CODE_INFILL_TASK.name
ROWS_FILE, TABLE_FILE, PLOT_FILE, RUN_FILE = "rows.jsonl", "table.md", "pareto.png", "run.json"
ORDER_PLOT_FILE = "decode_order.png"


@dataclass(frozen=True)
class EvalOptions:
    """limit: the first N problems (or N spans for code-infill; default 200 there, all problems elsewhere).
    samples: answers per problem (pass@1 is then the unbiased estimator). files: code-infill's source folder.
    batch_size: canvases decoded together (outputs do not depend on it). allow_network: run the generated programs
    even where the sandbox cannot cut them off the network (not part of the run's identity)."""

    limit: int | None = None
    samples: int = 1
    seed: int = 0
    plan: CanvasPlan = field(default_factory=CanvasPlan)
    span_length: int = 32
    files: str | None = None
    batch_size: int = 1
    allow_network: bool = False
    data: str | None = None  # planning tasks: a JSONL file of {"input", "output"} problems instead of the generated ones
    split: str = "test"  # planning tasks: the generated split (test, or validation to choose settings)

    def __post_init__(self) -> None:
        check_options(asdict(self))


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _check_resume(out: Path, run: dict, resume: bool) -> None:
    """Refuse to mix runs: a folder holding finished rows continues only with --resume, and only the same run."""
    if (out / RUN_FILE).exists() and read_rows(out / ROWS_FILE):  # a run that finished no setting is started afresh
        if not resume:
            raise CodilaError(f"{out} already holds an evaluation: add --resume to continue it, or choose another --out")
        previous = json.loads((out / RUN_FILE).read_text())
        if previous != run:
            raise CodilaError(f"{out} holds a different evaluation ({previous}); choose another --out")


def _start(out: Path, run: dict, resume: bool) -> list[dict]:
    """The rows already done (resume), after `_check_resume`; writes run.json."""
    _check_resume(out, run, resume)
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n")
    return read_rows(out / ROWS_FILE)


def run_eval(
    task_name: str,
    settings: list[DecodeSetting],
    out: str | Path,
    options: EvalOptions = EvalOptions(),
    checkpoints: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    models: ModelSet | None = None,
) -> list[dict]:
    """Evaluate every setting on the task; returns all rows of the run (earlier ones too, when resuming).
    `checkpoints`: the models' folder (default: the task's shipped one); `models`: the DLM and ARs to use instead of
    the folder's (real models: codila.models.loading)."""
    out = Path(out)
    task = get_task(task_name)  # unknown names fail before anything is written
    checkpoints = checkpoints if checkpoints is not None else task.default_checkpoints()
    identity = task.identity(checkpoints, options)
    _check_resume(out, identity, resume)
    models = models or task.models(checkpoints)
    if options.plan.chat:
        if task.infilling or task.kind != "code":
            raise CodilaError(f"--chat wraps the prompts of completion tasks (humaneval, mbpp), not {task.name}'s")
        chat_text(models.dlm.tokenizer, [{"role": "user", "content": "x"}])  # refuses a tokenizer without a template
    items = task.items(models, options)  # bad options and models fail here, before anything is written
    rows = _start(out, identity, resume)
    done = {row["label"] for row in rows}
    keep_finished(out / PROBLEMS_FILE, done)
    todo = [s for s in settings if s.label(models.for_setting(s)) not in done]
    _append(out, rows, [row for row in task.floors(models, items) if row["label"] not in done])
    with Progress(disable=not progress, transient=True) as bar:
        tracker = bar.add_task(task_name, total=len(todo) * task.decodes(items, options))
        for setting in todo:
            with recorder(out / PROBLEMS_FILE, setting.label(models.for_setting(setting))) as record:
                row = task.run(models, setting, items, options, lambda: bar.advance(tracker), record)
            _append(out, rows, [row])
    write_summary(out, rows, task)
    return rows


def _append(out: Path, rows: list[dict], new: list[dict]) -> None:
    """Add finished rows to the run (rows.jsonl first: an interrupted run keeps them)."""
    with (out / ROWS_FILE).open("a") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in new)
    rows.extend(new)


def write_summary(out: Path, rows: list[dict], task) -> None:
    """table.md and pareto.png of a run's rows (and the decode order of one problem, for tasks that draw it)."""
    (out / TABLE_FILE).write_text(f"## {task.name}\n\n" + rows_markdown(rows))
    plotted, metrics = task.plot(rows)
    pareto_plot(plotted, metrics, out / PLOT_FILE, f"{task.name}: accuracy vs speed")
    if task.order_plot:
        decode_order_plot(rows, out / ORDER_PLOT_FILE, f"{task.name}: decode order of one problem")
