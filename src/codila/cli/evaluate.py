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
    DECODE_SEED_OPTION,
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
from codila.decoding.defaults import DEFAULT_AR
from codila.errors import CodilaError
from codila.validate import check_options


@app.command()
def demo(
    n: int = typer.Option(200, help="Spans to infill."),
    length: Optional[int] = typer.Option(None, help="Masked tokens per span (default 32; --shapes paper: 512 per completion)."),
    checkpoints: Optional[Path] = typer.Option(None, help="Checkpoints folder (default: the shipped ones)."),
    files: Optional[Path] = typer.Option(None, help="Cut spans from every .py file here instead of the shipped held-out spans."),
    split: Optional[str] = typer.Option(None, help="The shipped held-out spans to use: test (default) or validation."),
    tau: float = typer.Option(
        CodilaDecodeConfig.tau, help="Dynamic mode's entropy threshold (the decoder's default, chosen on validation spans)."
    ),
    scope: Optional[int] = SCOPE_OPTION,
    seed: int = DECODE_SEED_OPTION,
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
    Console(width=max(100, Console().width)).print(
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
    chat: bool = typer.Option(
        False,
        help="Completion tasks: wrap each prompt as a user message with the DLM tokenizer's chat template; "
        "the answer is the reply's code block (instruct models, as the paper ran Dream-Coder-Instruct).",
    ),
    batch_size: int = typer.Option(1, help="Canvases decoded together (outputs do not change; throughput may)."),
    resume: bool = typer.Option(False, help="Continue an interrupted run in --out (finished settings are kept)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the rows here, one JSON object per line."),
    checkpoints: Optional[Path] = typer.Option(None, help="Checkpoints folder (default: the shipped ones)."),
    files: Optional[Path] = typer.Option(None, help="code-infill: cut spans from every .py file here."),
    ar: Optional[str] = typer.Option(
        None,
        help="Local AR checkpoint: a directory, or the name of one in --checkpoints (default: "
        f"{DEFAULT_AR}; used by decoders that need one).",
    ),
    decoder: str = DECODER_OPTION,
    conditioning: Optional[str] = CONDITIONING_OPTION,
    seed: int = DECODE_SEED_OPTION,
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

    task_spec = get_task(task)  # an unknown name is an error before any work
    planning = task_spec.kind == "planning"
    if oracle is not None:
        if planning:
            raise CodilaError(f"{task} answers are verified exactly: --oracle is for executed tasks")
        return _oracle_check(task, oracle, limit, workers, allow_network)
    if (data is not None or split != "test") and not planning:
        raise CodilaError("--data and --split are for the planning tasks (graph, countdown, sudoku)")
    checkpoints = checkpoints or task_spec.default_checkpoints()
    if sweep is not None:
        settings = get_sweep(sweep)
    else:
        spec, config = decoder_config(decoder, decode_options)
        if spec.needs_ar or ar:  # a name in the checkpoints folder, or a directory (ModelSet reads an absolute path as is)
            path = resolve_ar(ar if ar or spec.ar_kind == "local" else spec.name, checkpoints)
            ar = path.name if path == checkpoints / path.name else str(path.resolve())
        settings = [DecodeSetting(decoder, config, ar, conditioning)]
    if batch_size < 1 or samples < 1:
        raise CodilaError("--batch-size and --samples must be >= 1")
    options = EvalOptions(
        limit=limit,
        samples=samples,
        seed=seed,
        plan=CanvasPlan(completion_length=completion_length, chat=chat),
        files=str(files) if files else None,
        batch_size=batch_size,
        allow_network=allow_network,
        data=str(data) if data else None,
        split=split,
    )
    out = out or Path("runs") / f"eval-{task}-{sweep or decoder}"
    models = None
    if dlm is not None:
        from codila.eval.settings import ModelSet
        from codila.models.loading import load_dlm

        ar_options = {"block_size": block_size, "think_token": think_token, "end_think_token": end_think_token}
        models = ModelSet(checkpoints, load_dlm(dlm, dlm_family, device, dtype), ar_options)
    rows = run_eval(task, settings, out, options, checkpoints, resume, models=models)
    if json_path is not None:
        json_path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    Console(width=max(100, Console().width)).print(rows_table(rows, f"{task} ({out})"))


@app.command()
def bench(
    n: int = typer.Option(24, help="Spans decoded per setting and pass (after 2 untimed warm-up spans)."),
    repeats: int = typer.Option(3, help="Passes over all settings, interleaved; each row is its median pass."),
    length: Optional[int] = typer.Option(None, help="Masked tokens per span (default 32; --shapes paper: 512 per completion)."),
    batch_sizes: str = typer.Option("1,8", help="Comma-separated batch sizes to measure."),
    checkpoints: Optional[Path] = typer.Option(None, help="Checkpoints folder (default: the shipped ones)."),
    scope: Optional[int] = SCOPE_OPTION,
    seed: int = DECODE_SEED_OPTION,
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write one JSON object per row to this file."),
    markdown: Optional[Path] = typer.Option(None, help="Also write the table as Markdown to this file."),
    only: Optional[str] = typer.Option(
        None,
        help="Comma-separated label parts: bench only the settings whose label "
        'contains one, e.g. "B=4 static,dual cache" (DLM K=1 always runs).',
    ),
    shapes: str = typer.Option(
        "shipped",
        help="shipped: the shipped tiny models on held-out spans; paper: random-init models with Dream-Coder-7B's and "
        "Qwen3-0.6B's configs (no weights needed), DLM K=1 and CoDiLA B=2/4/8 scope 10 on completions with EOS banned.",
    ),
    scale: float = typer.Option(1.0, help="--shapes paper: widths and layers times this (0.02 runs on a CPU in seconds)."),
    device: str = typer.Option("auto", help="--shapes paper: auto, cpu, cuda or mps."),
    dtype: Optional[str] = typer.Option(None, help="--shapes paper: float32, bfloat16 or float16 (default: float32)."),
):
    """Decoding speed of every decoder on the same spans, with ratios against the DLM at K=1."""
    check_options(locals())
    from rich.console import Console

    if shapes == "paper":
        return _bench_paper_shapes(device, dtype, scale, length or 512, batch_sizes, seed, only, json_path, markdown)
    if shapes != "shipped":
        raise CodilaError(f"--shapes must be shipped or paper, got {shapes!r}")
    length = length or 32

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
    Console(width=max(100, Console().width)).print(
        rows_table(rows, f"decoding speed, {n} spans of {length} tokens, median of {repeats} passes")
    )


def _bench_paper_shapes(device, dtype, scale, length, batch_sizes, seed, only, json_path, markdown) -> None:
    from rich.console import Console

    from codila.eval.table import rows_markdown, rows_table
    from codila.paper_shapes import run_paper_shapes

    sizes = tuple(int(size) for size in batch_sizes.split(",") if size.strip())
    if not sizes or min(sizes) < 1:
        raise CodilaError(f"batch sizes must be positive integers, got {batch_sizes!r}")
    rows = run_paper_shapes(
        device, dtype, scale, length, sizes, seed=seed, only=tuple(p.strip() for p in (only or "").split(",") if p.strip())
    )
    baseline = {row["batch_size"]: row["tokens_per_s"] for row in rows if row["label"] == "DLM K=1"}
    for row in rows:
        row["speedup"] = row["tokens_per_s"] / baseline[row["batch_size"]] if row["batch_size"] in baseline else None
        row["dlm_forwards_per_token"] = row["dlm_forwards"] / length
    if json_path is not None:
        json_path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    if markdown is not None:
        markdown.write_text(rows_markdown(rows))
    title = f"paper shapes x {scale} on {rows[0]['device']} {rows[0]['dtype']}, {length}-token completions, EOS banned"
    Console(width=max(120, Console().width)).print(rows_table(rows, title))


@app.command()
def reproduce(
    what: str = typer.Argument(
        ..., help="What to reproduce: paper (the paper's Table 1, syntax-error, scope and infilling rows)."
    ),
    dlm: Path = typer.Option(..., help="The DLM directory (the paper: Dream-Coder-Instruct-7B)."),
    ar_dir: Path = typer.Option(..., help="A folder of local ARs for that DLM: ar-b2, ar-b4, ar-b8 (optionally ar-bB-top1)."),
    infill_dlm: Optional[Path] = typer.Option(
        None, help="The infilling rows' DLM (the paper: DreamOn); without it those rows are skipped."
    ),
    infill_ar_dir: Optional[Path] = typer.Option(None, help="ARs for --infill-dlm (default: --ar-dir)."),
    out: Path = typer.Option(Path("runs/reproduce-paper"), help="Run folders (one per task, resumable), paper.md, paper.jsonl."),
    limit: Optional[int] = typer.Option(None, help="First N problems of each task (the paper: all)."),
    completion_length: int = typer.Option(512, help="Tokens decoded for HumanEval and MBPP."),
    chat: bool = typer.Option(True, help="Wrap HumanEval/MBPP prompts with the DLM's chat template (an instruct model)."),
    batch_size: int = typer.Option(1, help="Canvases decoded together (the paper: 1; outputs do not change)."),
    seed: int = typer.Option(0, help="Generator seed (problem i: seed + i)."),
    dlm_family: Optional[str] = FAMILY_OPTION,
    device: str = DEVICE_OPTION,
    dtype: Optional[str] = DTYPE_OPTION,
    block_size: Optional[int] = BLOCK_OPTION,
    think_token: str = THINK_OPTION,
    end_think_token: str = END_THINK_OPTION,
):
    """Run the paper's rows with the paper's settings and write them beside the paper's numbers, each with its command."""
    check_options(locals())
    from rich.console import Console
    from rich.markdown import Markdown

    from codila.eval.reproduce import reproduce_paper
    from codila.eval.runner import EvalOptions
    from codila.eval.settings import ModelSet
    from codila.eval.task_run import CanvasPlan
    from codila.models.loading import load_dlm

    if what != "paper":
        raise CodilaError(f"unknown target {what!r}; choose paper")
    ar_options = {"block_size": block_size, "think_token": think_token, "end_think_token": end_think_token}
    models = ModelSet(ar_dir, load_dlm(dlm, dlm_family, device, dtype), ar_options)
    infill_models = None
    if infill_dlm is not None:
        infill_models = ModelSet(infill_ar_dir or ar_dir, load_dlm(infill_dlm, None, device, dtype), ar_options)
    options = EvalOptions(
        limit=limit, seed=seed, batch_size=batch_size, plan=CanvasPlan(completion_length=completion_length, chat=chat)
    )
    flags = " ".join(f"--{name} {value}" for name, value in (("device", device), ("dtype", dtype)) if value not in (None, "auto"))
    sources = {
        "dlm": str(dlm),
        "ar_dir": str(ar_dir),
        "infill_dlm": str(infill_dlm),
        "infill_ar_dir": str(infill_ar_dir or ar_dir),
        "flags": flags,
    }
    reproduce_paper(models, out, options, infill_models, sources=sources)
    Console(width=max(100, Console().width)).print(Markdown((out / "paper.md").read_text()))
    typer.echo(f"wrote {out / 'paper.md'} and {out / 'paper.jsonl'}", err=True)


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
