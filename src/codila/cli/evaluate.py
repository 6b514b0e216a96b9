"""`codila demo`, `codila eval`, `codila bench` and `codila report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from codila.assets import SHIPPED
from codila.cli.apps import app
from codila.cli.common import (
    BLOCK_OPTION,
    CONDITIONING_OPTION,
    DECODER_OPTION,
    DEVICE_OPTION,
    DTYPE_OPTION,
    END_THINK_OPTION,
    FAMILY_OPTION,
    SCOPE_OPTION,
    THINK_OPTION,
    checked_scope,
    resolve_ar,
)
from codila.cli.decode_options import with_decode_options
from codila.decoding.codila import CodilaDecodeConfig
from codila.errors import CodilaError
from codila.validate import check_options


@app.command()
def demo(
    n: int = typer.Option(200, help="Spans to infill."),
    length: int = typer.Option(32, help="Masked tokens per span."),
    checkpoints: Optional[Path] = typer.Option(None, help="Checkpoints folder (default: the shipped ones)."),
    files: Optional[Path] = typer.Option(None, help="Cut spans from every .py file here instead of the shipped held-out spans."),
    split: Optional[str] = typer.Option(None, help="The shipped held-out spans to use: test (default) or validation."),
    tau: float = typer.Option(
        CodilaDecodeConfig.tau, help="Dynamic mode's entropy threshold (the decoder's default, chosen on validation spans)."
    ),
    scope: Optional[int] = SCOPE_OPTION,
    seed: int = typer.Option(0),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write one JSON object per row to this file."),
    markdown: Optional[Path] = typer.Option(None, help="Also write the table as Markdown to this file."),
    record: bool = typer.Option(False, help="Also write the rows into the checkpoints' manifest.json files."),
    batch_size: Optional[int] = typer.Option(
        None, help="Spans decoded together (outputs do not change; throughput does; default 32)."
    ),
    records: Optional[Path] = typer.Option(None, help="Write every span's scores per setting here (JSON lines)."),
):
    """Infill held-out code with every decoder on the shipped tiny models and print one table."""
    check_options(locals())
    from rich.console import Console

    from codila.demo import DEMO_BATCH_SIZE, run_demo
    from codila.eval.table import rows_markdown, rows_table

    batch_size = DEMO_BATCH_SIZE if batch_size is None else batch_size
    if batch_size < 1:
        raise CodilaError(f"batch size must be >= 1, got {batch_size}")
    rows = run_demo(
        checkpoints or SHIPPED,
        n,
        length,
        files,
        split,
        seed,
        tau,
        checked_scope(scope),
        json_path,
        record=record,
        batch_size=batch_size,
        records_path=records,
    )
    if markdown is not None:
        markdown.write_text(rows_markdown(rows))
    source = f"files in {files}" if files else f"shipped held-out {split or 'test'} spans"
    Console(width=max(140, Console().width)).print(
        rows_table(
            rows,
            f"infilling {n} spans of {length} tokens ({source}); "
            "floor-free: spans whose empty infill does not parse; ± file-clustered SE",
        )
    )


def _oracle_check(task_name: str, oracle: str, limit: Optional[int], workers: int, allow_network: bool) -> None:
    from rich.progress import Progress

    from codila.eval.oracle import ORACLES, checked_problems, insensitive_gaps, oracle_pass_rate
    from codila.eval.sandbox import SandboxLimits
    from codila.eval.tasks.registry import get_task

    if oracle not in ORACLES:
        raise CodilaError(f"unknown oracle {oracle!r}; choose one of {', '.join(ORACLES)}")
    if workers < 1:
        raise CodilaError(f"--workers must be >= 1, got {workers}")
    task = get_task(task_name)
    loaded = task.load()[:limit]
    problems = checked_problems(oracle, loaded)
    skipped = len(loaded) - len(problems)
    if skipped:
        typer.echo(f"{skipped} problems with a blank reference left out: the empty answer is their reference", err=True)
    with Progress(transient=True) as bar:
        progress = bar.add_task(f"{task_name} --oracle {oracle}", total=len(problems))
        limits = SandboxLimits(timeout_s=task.timeout_s, allow_network=allow_network)
        rate, surprising = oracle_pass_rate(
            task, oracle, problems, limits, workers=workers, advance=lambda: bar.advance(progress)
        )
    typer.echo(
        f"{task_name} --oracle {oracle}: {rate:.1%} of {len(problems)} problems pass (expected {'100' if oracle == 'canonical' else '0'}%)"
    )
    known = {problem.task_id for problem in problems} & insensitive_gaps() - set(surprising)  # the known gaps that passed
    if oracle == "empty" and known:
        typer.echo(
            f"of them {len(known)} known gaps whose removal the original tests do not notice "
            f"(codila/eval/tasks/insensitive_gaps.txt)"
        )
    if surprising:
        typer.echo(f"unexpected: {', '.join(surprising)}", err=True)
        raise typer.Exit(1)


@app.command("eval")
@with_decode_options
def evaluate(
    task: str = typer.Argument(
        ...,
        help="A task name (see `codila ls`): code-infill, humaneval, mbpp, the humaneval-infilling "
        "ones, or a planning task: graph, countdown, sudoku.",
    ),
    sweep: Optional[str] = typer.Option(
        None, help="Run a named list of settings: paper, quick, decoders, demo or planning (else one setting from the options)."
    ),
    data: Optional[Path] = typer.Option(
        None,
        help='Planning tasks: a JSONL file of {"input", "output"} problems (e.g. the '
        "cd3/cd4 files) instead of the generated test split.",
    ),
    split: str = typer.Option("test", help="Planning tasks: the generated split, test or validation (to choose settings)."),
    oracle: Optional[str] = typer.Option(None, help="Check the harness instead: canonical (must pass 100%) or empty (0%)."),
    workers: int = typer.Option(2, help="--oracle: programs executed at once (each in its own sandbox)."),
    out: Optional[Path] = typer.Option(
        None, help="Run folder for rows.jsonl, problems.jsonl (every answer), table.md, pareto.png (default runs/eval-TASK-...)."
    ),
    allow_network: bool = typer.Option(
        False,
        "--allow-network",
        help="Run the generated programs even where the sandbox cannot cut them off the network (unshare -n fails).",
    ),
    limit: Optional[int] = typer.Option(None, help="First N problems (code-infill: N spans, default 200)."),
    samples: int = typer.Option(1, help="Answers per problem (pass@1 is the unbiased estimate)."),
    completion_length: int = typer.Option(64, help="Tokens decoded for completion tasks."),
    batch_size: int = typer.Option(1, help="Canvases decoded together (outputs do not change; throughput may)."),
    resume: bool = typer.Option(False, help="Continue an interrupted run in --out (finished settings are kept)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the rows here, one JSON object per line."),
    checkpoints: Optional[Path] = typer.Option(None, help="Checkpoints folder (default: the shipped ones)."),
    files: Optional[Path] = typer.Option(None, help="code-infill: cut spans from every .py file here."),
    ar: Optional[str] = typer.Option(
        None,
        help="Local AR checkpoint: a directory, or the name of one in --checkpoints (default: "
        "ar-b4; used by decoders that need one).",
    ),
    decoder: str = DECODER_OPTION,
    conditioning: Optional[str] = CONDITIONING_OPTION,
    seed: int = typer.Option(0),
    dlm: Optional[Path] = typer.Option(
        None, help="A DLM directory instead of the checkpoints folder's dlm/ (then --ar is a path)."
    ),
    dlm_family: Optional[str] = FAMILY_OPTION,
    device: str = DEVICE_OPTION,
    dtype: Optional[str] = DTYPE_OPTION,
    block_size: Optional[int] = BLOCK_OPTION,
    think_token: str = THINK_OPTION,
    end_think_token: str = END_THINK_OPTION,
    decode_options: dict = None,
):
    """Evaluate decoders on a task: pass@1, syntax errors, speed, any-order analysis; resumable."""
    check_options(locals())

    from rich.console import Console

    from codila.decoding.registry import decoder_config
    from codila.eval.runner import EvalOptions, run_eval
    from codila.eval.settings import DecodeSetting
    from codila.eval.sweeps import get_sweep
    from codila.eval.table import rows_table
    from codila.eval.task_run import CanvasPlan
    from codila.eval.tasks.registry import get_task

    planning = getattr(get_task(task), "verify", None) is not None  # an unknown name is an error before any work
    if oracle is not None:
        if planning:
            raise CodilaError(f"{task} answers are verified exactly: --oracle is for executed tasks")
        return _oracle_check(task, oracle, limit, workers, allow_network)
    if (data is not None or split != "test") and not planning:
        raise CodilaError("--data and --split are for the planning tasks (graph, countdown, sudoku)")
    if sweep is not None:
        settings = get_sweep(sweep)
    elif planning and decoder == "ar-baseline":
        from codila.eval.planning_run import BaselineSetting

        settings = [BaselineSetting()]
    else:
        spec, config = decoder_config(decoder, decode_options)
        if spec.needs_ar or ar:  # a name in the checkpoints folder, or a directory (ModelSet reads an absolute path as is)
            path = resolve_ar(ar, checkpoints or SHIPPED)
            ar = path.name if path == (checkpoints or SHIPPED) / path.name else str(path.resolve())
        settings = [DecodeSetting(decoder, config, ar, conditioning)]
    if batch_size < 1 or samples < 1:
        raise CodilaError("--batch-size and --samples must be >= 1")
    options = EvalOptions(
        limit=limit,
        samples=samples,
        seed=seed,
        plan=CanvasPlan(completion_length=completion_length),
        files=str(files) if files else None,
        batch_size=batch_size,
        allow_network=allow_network,
        data=str(data) if data else None,
        split=split,
    )
    out = out or Path("runs") / f"eval-{task}-{sweep or decoder}"
    if planning and checkpoints is None:
        from codila.eval.planning_run import shipped_planning

        checkpoints = shipped_planning(task)
    models = None
    if dlm is not None:
        from codila.eval.settings import ModelSet
        from codila.models.loading import load_dlm

        ar_options = {"block_size": block_size, "think_token": think_token, "end_think_token": end_think_token}
        models = ModelSet(checkpoints or SHIPPED, load_dlm(dlm, dlm_family, device, dtype), ar_options)
    rows = run_eval(task, settings, out, options, checkpoints or SHIPPED, resume, models=models)
    if json_path is not None:
        json_path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    Console(width=max(120, Console().width)).print(rows_table(rows, f"{task} ({out})"))


@app.command()
def bench(
    n: int = typer.Option(24, help="Spans decoded per setting and pass (after 2 untimed warm-up spans)."),
    repeats: int = typer.Option(3, help="Passes over all settings, interleaved; each row is its median pass."),
    length: int = typer.Option(32, help="Masked tokens per span."),
    batch_sizes: str = typer.Option("1,8", help="Comma-separated batch sizes to measure."),
    checkpoints: Optional[Path] = typer.Option(None, help="Checkpoints folder (default: the shipped ones)."),
    scope: Optional[int] = SCOPE_OPTION,
    seed: int = typer.Option(0),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write one JSON object per row to this file."),
    markdown: Optional[Path] = typer.Option(None, help="Also write the table as Markdown to this file."),
    only: Optional[str] = typer.Option(
        None,
        help="Comma-separated label parts: bench only the settings whose label "
        'contains one, e.g. "B=4 static,dual cache" (DLM K=1 always runs).',
    ),
):
    """Decoding speed of every decoder on the same spans, with ratios against the DLM at K=1."""
    check_options(locals())
    from rich.console import Console

    from codila.bench import run_bench
    from codila.eval.table import rows_markdown, rows_table

    try:
        sizes = tuple(int(size) for size in batch_sizes.split(",") if size.strip())
    except ValueError:
        raise CodilaError(f"--batch-sizes must be comma-separated positive integers, got {batch_sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise CodilaError(f"batch sizes must be positive integers, got {batch_sizes!r}")
    rows = run_bench(
        checkpoints or SHIPPED,
        n,
        length,
        seed,
        scope=checked_scope(scope),
        batch_sizes=sizes,
        json_path=json_path,
        repeats=repeats,
        only=tuple(part.strip() for part in (only or "").split(",") if part.strip()),
    )
    if markdown is not None:
        markdown.write_text(rows_markdown(rows))
    Console(width=max(120, Console().width)).print(
        rows_table(rows, f"decoding speed, {n} spans of {length} tokens, median of {repeats} passes")
    )


@app.command()
def report(
    sweep: Optional[str] = typer.Option(
        None,
        help="First run (or resume) this sweep on every task with the suite's limits, "
        "then the AR-loss analysis and the copula check.",
    ),
    runs: Path = typer.Option(Path("runs"), help="Folder of run folders to render."),
    out: Path = typer.Option(Path("runs/report.html"), help="The HTML page to write."),
    limit: Optional[int] = typer.Option(None, help="With --sweep: problems per task instead of the suite's limits."),
    checkpoints: Optional[Path] = typer.Option(None, help="Checkpoints folder (default: the shipped ones)."),
    batch_size: Optional[int] = typer.Option(
        None, help="With --sweep: canvases decoded together (outputs do not change; default: the suite's, 8)."
    ),
):
    """Render every result under runs/ as one self-contained HTML page (tables and plots)."""
    check_options(locals())
    from codila.eval.report import render_report
    from codila.eval.suite import SUITE_BATCH_SIZE, run_suite

    if batch_size is not None and batch_size < 1:
        raise CodilaError(f"--batch-size must be at least 1, got {batch_size}")
    if sweep is not None:
        run_suite(sweep, runs, checkpoints or SHIPPED, limit, batch_size=batch_size or SUITE_BATCH_SIZE)
    count = render_report(runs, out)
    typer.echo(f"wrote {out} ({count} runs)")
