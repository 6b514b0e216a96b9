"""`codila ...`: thin subcommands. Parse options, make one library call, print the result.

One module per group of commands; importing them registers the commands on `codila.cli.apps.app` in the order
`--help` lists them. Nothing here imports torch: `codila --help` answers at once."""

from __future__ import annotations

import importlib
import os
import sys

import typer
from typer.exceptions import TyperException

from codila.cli.apps import app
from codila.errors import CodilaError

__all__ = ["app", "main"]

COMMAND_MODULES = ("decode", "evaluate", "analyze", "serve", "train")  # importing one registers its commands, in this order
for _module in COMMAND_MODULES:
    importlib.import_module(f"codila.cli.{_module}")


def main() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bars (read when transformers loads)
    if "transformers" in sys.modules:  # imported before main() (an in-process caller): the variable came too late
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    try:
        code = app(standalone_mode=False)
    except CodilaError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(getattr(error, "exit_code", 2))  # 2; 130 for a training run saved after Ctrl-C
    except TyperException as error:  # usage errors: one line, exit 2
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        typer.echo(f"error: {message} (see --help)", err=True)
        sys.exit(getattr(error, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as error:  # a bug: one line, the traceback on request
        if os.environ.get("CODILA_TRACEBACK"):
            raise
        first = (str(error).strip().splitlines() or [""])[0][:300]
        typer.echo(
            f"error: internal error {type(error).__name__}: {first} (set CODILA_TRACEBACK=1 for the traceback and report it)",
            err=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
