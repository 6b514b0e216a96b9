"""The full evaluation behind `codila report --sweep NAME`: every task with a stated per-task limit, each in its own
resumable run folder `runs/<sweep>-<task>/`, then the two analyses (`runs/ar-loss/`, `runs/copula/`) and a summary
(`runs/<sweep>-suite/notes.md`: limits, canvas lengths, wall time)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from codila.eval.runner import CODE_INFILL, EvalOptions, run_eval
from codila.eval.sweeps import get_sweep
from codila.eval.task_run import CanvasPlan

# problems per task: sized so that the paper sweep on the shipped models fits in 45 minutes on a 2-core CPU
# (measured: 36 minutes with both analyses on a slow one, README)
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
COPULA_STEPS = 1500  # training steps of the copula check's tiny DLM and ARs (as `codila analyze copula`)


def run_analyses(runs: str | Path, checkpoints: str | Path) -> list[Path]:
    """The AR-loss analysis on the checkpoints' ARs and the copula check, each unless its folder has results."""
    from codila.analysis.ar_loss import run_ar_loss_analysis
    from codila.analysis.copula import run_copula_check
    from codila.eval.settings import ModelSet

    ar_loss, copula = Path(runs) / "ar-loss", Path(runs) / "copula"
    if not (ar_loss / "notes.md").exists():
        models = ModelSet(checkpoints)
        run_ar_loss_analysis(models.dlm, {name: models.ar(name) for name in models.ar_names()}, ar_loss)
    if not (copula / "notes.md").exists():
        run_copula_check(copula, steps=COPULA_STEPS)
    return [ar_loss, copula]


def run_suite(
    sweep: str,
    runs: str | Path,
    checkpoints: str | Path,
    limit: int | None = None,
    progress: bool = True,
    batch_size: int = SUITE_BATCH_SIZE,
    plan: CanvasPlan = SUITE_PLAN,
    files: str | Path | None = None,
) -> list[Path]:
    """Run (or resume) the sweep on every task; returns the run folders. `files`: code-infill spans from this folder of
    .py files instead of the shipped held-out spans (a model with another tokenizer needs it)."""
    settings = get_sweep(sweep)
    started = time.monotonic()
    folders = []
    for task, default_limit in SUITE_LIMITS.items():
        folder = Path(runs) / f"{sweep}-{task}"
        options = EvalOptions(limit=limit or default_limit, plan=plan, batch_size=batch_size, files=str(files) if files else None)
        run_eval(task, settings, folder, options, checkpoints, resume=True, progress=progress)
        folders.append(folder)
    folders += run_analyses(runs, checkpoints)
    _write_summary(Path(runs) / f"{sweep}-suite", sweep, len(settings), limit, batch_size, plan, time.monotonic() - started)
    return folders


def _write_summary(
    folder: Path, sweep: str, n_settings: int, limit: int | None, batch_size: int, plan: CanvasPlan, seconds: float
) -> None:
    """What the suite ran and how long this invocation took (a resumed run counts only its own part)."""
    folder.mkdir(parents=True, exist_ok=True)
    limits = ", ".join(f"{task} {limit or default}" for task, default in SUITE_LIMITS.items())
    (folder / "notes.md").write_text(
        f"sweep {sweep}: {n_settings} decoder settings on every task, {batch_size} canvases decoded together\n"
        f"problems per task: {limits}\n"
        f"canvas: {asdict(plan)} (completion tokens; infilling: the reference middle's tokens rounded up to a multiple)\n"
        f"then the AR-loss analysis and the copula check ({COPULA_STEPS} training steps)\n"
        f"wall time of this invocation: {seconds / 60:.1f} min (a resumed invocation counts only what it ran)\n"
    )
