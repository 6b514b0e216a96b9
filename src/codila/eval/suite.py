"""The full evaluation behind `codila report --sweep NAME`: every task with a stated per-task limit, each in its own
resumable run folder `runs/<sweep>-<task>/`."""

from __future__ import annotations

from pathlib import Path

from codila.eval.runner import CODE_INFILL, EvalOptions, run_eval
from codila.eval.sweeps import get_sweep
from codila.eval.task_run import CanvasPlan

# problems per task: sized so that the paper sweep on the shipped models fits in 45 minutes on a 2-core CPU
SUITE_LIMITS = {
    CODE_INFILL: 60,
    "humaneval": 20,
    "mbpp": 20,
    "humaneval-infilling-single-line": 20,
    "humaneval-infilling-multi-line": 20,
    "humaneval-infilling-random-span": 20,
}
SUITE_PLAN = CanvasPlan(completion_length=64, infill_multiple=8)
SUITE_BATCH_SIZE = 8  # canvases decoded together: outputs do not depend on it, throughput does


def run_suite(sweep: str, runs: str | Path, checkpoints: str | Path, limit: int | None = None, progress: bool = True,
              batch_size: int = SUITE_BATCH_SIZE) -> list[Path]:
    """Run (or resume) the sweep on every task; returns the run folders."""
    settings = get_sweep(sweep)
    folders = []
    for task, default_limit in SUITE_LIMITS.items():
        folder = Path(runs) / f"{sweep}-{task}"
        options = EvalOptions(limit=limit or default_limit, plan=SUITE_PLAN, batch_size=batch_size)
        run_eval(task, settings, folder, options, checkpoints, resume=True, progress=progress)
        folders.append(folder)
    return folders
