"""`codila analyze copula|ar-loss` and `codila export`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from codila.assets import SHIPPED
from codila.cli.apps import analyze_app, app
from codila.cli.common import SEED_OPTION
from codila.errors import CodilaError
from codila.validate import check_options


@analyze_app.command("copula")
def analyze_copula(
    out: Path = typer.Option(Path("runs/copula"), help="Folder for copula.jsonl, notes.md and copula.png."),
    samples: int = typer.Option(1000, help="Decoded blocks per joint and decoder."),
    steps: int = typer.Option(1500, help="Training steps of the tiny DLM and of each AR."),
    harder: int = typer.Option(4, help="Joints in the shared-top-1 family."),
    seed: int = SEED_OPTION,
):
    """Train a tiny DLM + ARs on exactly known joints; TV distance of decoded blocks for DLM, top-1 and soft."""
    check_options(locals())
    from codila.analysis.copula import run_copula_check

    if (out / "dlm").exists():
        raise CodilaError(f"{out} already holds a copula check: choose another --out or remove it")
    run_copula_check(out, samples, steps, harder, seed)
    typer.echo((out / "notes.md").read_text())


@analyze_app.command("ar-loss")
def analyze_ar_loss(
    checkpoints: Optional[Path] = typer.Option(None, help="Checkpoints folder with the DLM and the ARs (default: shipped)."),
    ars: Optional[str] = typer.Option(None, help="Comma-separated AR names in that folder (default: every AR there)."),
    out: Path = typer.Option(Path("runs/ar-loss"), help="Folder for ar_loss.jsonl, notes.md and ar_loss.png."),
    batches: int = typer.Option(8, help="Validation batches of 16 windows."),
    files: Optional[Path] = typer.Option(None, help="Score on every .py file here instead of the validation split."),
    seed: int = SEED_OPTION,
):
    """Held-out AR loss against block size on 8-token masked segments, and the <think> frame ablation."""
    check_options(locals())
    from codila.analysis.ar_loss import run_ar_loss_analysis
    from codila.eval.settings import ModelSet

    models = ModelSet(checkpoints or SHIPPED)
    names = ars.split(",") if ars else models.ar_names()
    run_ar_loss_analysis(models.dlm, {name: models.ar(name) for name in names}, out, batches, files=files, seed=seed)
    typer.echo((out / "notes.md").read_text())


@app.command("export")
def export(
    source: Path = typer.Argument(..., help="A checkpoint directory (e.g. runs/dlm/checkpoint)."),
    destination: Path = typer.Argument(..., help="Where to write the copy (e.g. checkpoints/dlm)."),
    dtype: str = typer.Option("float16", help="Storage dtype of the weights: float16, bfloat16 or float32."),
    note: Optional[str] = typer.Option(None, help="A note for the manifest (choices made, where the run stands)."),
    force: bool = typer.Option(False, "--force", help="Replace DESTINATION when it already holds a codila checkpoint."),
):
    """Copy a checkpoint for shipping with smaller weights (loading always upcasts to float32)."""
    check_options(locals())
    from codila.models.io import export_checkpoint

    if dtype not in ("float16", "bfloat16", "float32"):
        raise CodilaError(f"unknown dtype {dtype!r}; choose float16, bfloat16 or float32")
    export_checkpoint(source, destination, dtype, note, replace=force)
    typer.echo(f"exported {source} -> {destination} ({dtype})")
