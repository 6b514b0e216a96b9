"""`codila eval`: one task, a list of decoder settings; each row is appended to `rows.jsonl` the moment it is done
(so `--resume` continues an interrupted run), every answer to `problems.jsonl` (`records.py`), then a Markdown
table and a Pareto plot are written beside them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.progress import Progress

from codila.data.heldout import evaluation_spans
from codila.errors import CodilaError
from codila.eval.infill_run import run_infill_setting
from codila.eval.metrics import floor_rows
from codila.eval.order_plot import decode_order_plot
from codila.eval.plots import accuracy_panels, pareto_plot
from codila.eval.records import PROBLEMS_FILE, keep_finished, recorder
from codila.eval.sandbox import SandboxLimits
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.table import rows_markdown
from codila.eval.task_run import CanvasPlan, run_task_setting
from codila.eval.tasks.registry import TASKS, get_task
from codila.models.io import SHIPPED
from codila.validate import check_options

CODE_INFILL = "code-infill"  # held-out real-code spans, scored like the demo (no execution)
ROWS_FILE, TABLE_FILE, PLOT_FILE, RUN_FILE = "rows.jsonl", "table.md", "pareto.png", "run.json"
ORDER_PLOT_FILE = "decode_order.png"


def task_names() -> list[str]:
    return [CODE_INFILL, *TASKS]


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


def _start(out: Path, run: dict, resume: bool) -> list[dict]:
    """The rows already done (resume) after checking the run is the same one; refuses to mix runs."""
    if (out / RUN_FILE).exists() and read_rows(out / ROWS_FILE):  # a run that finished no setting is started afresh
        if not resume:
            raise CodilaError(f"{out} already holds an evaluation: add --resume to continue it, or choose another --out")
        previous = json.loads((out / RUN_FILE).read_text())
        if previous != run:
            raise CodilaError(f"{out} holds a different evaluation ({previous}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n")
    return read_rows(out / ROWS_FILE)


def run_eval(
    task_name: str,
    settings: list[DecodeSetting],
    out: str | Path,
    options: EvalOptions = EvalOptions(),
    checkpoints: str | Path = SHIPPED,
    resume: bool = False,
    progress: bool = True,
    models: ModelSet | None = None,
) -> list[dict]:
    """Evaluate every setting on the task; returns all rows of the run (earlier ones too, when resuming). `models`: the
    DLM and ARs to use instead of the checkpoints folder's (real models: codila.models.loading)."""
    out = Path(out)
    if task_name != CODE_INFILL and get_task(task_name).verify is not None:  # planning: exact verification, its own models
        from codila.eval.planning_run import run_planning_eval

        return run_planning_eval(task_name, settings, out, options, checkpoints, resume, progress)
    models = models or ModelSet(checkpoints)
    run = {"task": task_name, "checkpoints": str(checkpoints), **asdict(options)}
    del run["allow_network"]
    rows = _start(out, run, resume)
    done = {row["label"] for row in rows}
    keep_finished(out / PROBLEMS_FILE, done)
    todo = [s for s in settings if s.label(models.for_setting(s)) not in done]
    if task_name == CODE_INFILL:
        context = (models.dlm.max_length - options.span_length) // 2
        items = evaluation_spans(models.dlm.tokenizer, options.limit or 200, options.span_length, context, options.files, None, options.seed)
        floors = [row for row in floor_rows(items, models.dlm.tokenizer) if row["label"] not in done]
        _append(out, rows, [{**row, "task": CODE_INFILL} for row in floors])
    else:
        task = get_task(task_name)
        items = task.load()[: options.limit]
    with Progress(disable=not progress, transient=True) as bar:
        tracker = bar.add_task(task_name, total=len(todo) * len(items) * (1 if task_name == CODE_INFILL else options.samples))
        for setting in todo:
            advance = lambda: bar.advance(tracker)
            with recorder(out / PROBLEMS_FILE, setting.label(models.for_setting(setting))) as record:
                if task_name == CODE_INFILL:
                    row = {**run_infill_setting(models, setting, items, options.seed, advance, options.batch_size, record),
                           "task": CODE_INFILL}
                else:
                    limits = SandboxLimits(timeout_s=task.timeout_s, allow_network=options.allow_network)
                    row = run_task_setting(models, setting, task, items, options.plan, options.samples, options.seed, limits,
                                           advance=advance, batch_size=options.batch_size, record=record)
            _append(out, rows, [row])
    write_summary(out, rows, task_name)
    return rows


def _append(out: Path, rows: list[dict], new: list[dict]) -> None:
    """Add finished rows to the run (rows.jsonl first: an interrupted run keeps them)."""
    with (out / ROWS_FILE).open("a") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in new)
    rows.extend(new)


def write_summary(out: Path, rows: list[dict], task_name: str) -> None:
    """table.md and pareto.png of a run's rows."""
    (out / TABLE_FILE).write_text(f"## {task_name}\n\n" + rows_markdown(rows))
    if task_name == CODE_INFILL:
        rows = [row for row in rows if row.get("tokens_per_s") is not None]  # the floors decode nothing
    elif rows and "accuracy" in rows[0]:
        pareto_plot(rows, {"accuracy": "exact accuracy (verified)"}, out / PLOT_FILE, f"{task_name}: accuracy vs speed")
        decode_order_plot(rows, out / ORDER_PLOT_FILE, f"{task_name}: decode order of one problem")
        return
    else:
        rows = [{**row, "syntax_valid": 1 - row["syntax_error_rate"]} for row in rows]
    pareto_plot(rows, accuracy_panels(rows), out / PLOT_FILE, f"{task_name}: accuracy vs speed")
