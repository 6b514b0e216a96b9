"""`codila ...`: thin subcommands. Parse options, make one library call, print the result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from codila.errors import CodilaError
from codila.train.loop import TrainConfig

app = typer.Typer(no_args_is_help=True, add_completion=False, help="CoDiLA: coherent parallel decoding for diffusion LMs.")
train_app = typer.Typer(no_args_is_help=True, help="Train the DLM or a local AR.")
app.add_typer(train_app, name="train")


def _train_config(steps: int, batch_size: int, lr: float, seed: int, save_every: float, eval_every: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, save_every_seconds=save_every, eval_every=eval_every)


@train_app.command("dlm")
def train_dlm_command(
    out: Path = typer.Option(..., help="Run directory: state.pt (resume), log.jsonl, checkpoint/ (the model)."),
    steps: int = typer.Option(3000, help="Optimizer steps (the cosine schedule spans them)."),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3),
    window: int = typer.Option(128, help="Training window (tokens); also the DLM's maximum canvas length."),
    preset: str = typer.Option("dlm-small", help="Model size: see codila.models.presets."),
    vocab_size: int = typer.Option(4096, help="BPE vocabulary size (when --tokenizer is not given)."),
    tokenizer: Optional[Path] = typer.Option(None, help="Reuse the tokenizer in this directory."),
    files: Optional[Path] = typer.Option(None, help="Train on this directory of .py files instead of the stdlib."),
    seed: int = typer.Option(0),
    save_every: float = typer.Option(300.0, help="Seconds between checkpoints."),
    eval_every: int = typer.Option(100),
    resume: bool = typer.Option(False, help="Continue the run in --out."),
):
    """Train a masked diffusion LM on code windows."""
    from codila.train.dlm import train_dlm

    summary = train_dlm(out, _train_config(steps, batch_size, lr, seed, save_every, eval_every), preset, window,
                        vocab_size, tokenizer, files, resume)
    typer.echo(f"trained DLM: {summary['steps']} steps, validation loss {summary['final_validation_loss']}, checkpoint in {out / 'checkpoint'}")


def main() -> None:
    try:
        app()
    except CodilaError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)
