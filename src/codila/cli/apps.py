"""The typer applications of `codila` and its groups (train, analyze), with the version option."""

from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(add_completion=False, help="CoDiLA: coherent parallel decoding for diffusion LMs.")
train_app = typer.Typer(help="Train the DLM or a local AR.")
app.add_typer(train_app, name="train")
analyze_app = typer.Typer(help="The paper's analyses on small, exactly controlled problems.")
app.add_typer(analyze_app, name="analyze")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"codila {version('codila')}")
        except PackageNotFoundError:
            typer.echo("codila (not installed: running from a source tree)")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print codila's version and exit."),
    threads: Optional[int] = typer.Option(
        None,
        "--threads",
        help="CPU threads torch may use (default: torch's own, one per core). On a busy or shared machine --threads 1 "
        "can be several times faster (docs/cli.md).",
    ),
) -> None:
    if threads is not None:
        from codila.validate import check_option

        check_option("threads", threads)
        import torch

        torch.set_num_threads(threads)
    _help_without_command(ctx)


@train_app.callback(invoke_without_command=True)
@analyze_app.callback(invoke_without_command=True)
def _help_without_command(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
