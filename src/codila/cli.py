"""`codila ...`: thin subcommands. Parse options, make one library call, print the result."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.exceptions import TyperException

from codila.assets import SHIPPED
from codila.cli_options import with_decode_options
from codila.decoding.codila import CodilaDecodeConfig
from codila.errors import CodilaError
from codila.validate import check_options

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
) -> None:
    _help_without_command(ctx)


@train_app.callback(invoke_without_command=True)
@analyze_app.callback(invoke_without_command=True)
def _help_without_command(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def _train_config(steps: int, batch_size: int, lr: float, seed: int, save_every: float, eval_every: int):
    from codila.train.loop import TrainConfig

    return TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, save_every_seconds=save_every, eval_every=eval_every)


# options both trainers take (the recipe's data and masking)
GAP_FRACTION = typer.Option(
    0.0, help="Share of windows masked inside one contiguous gap only (infilling canvases); the rest anywhere."
)
EXTRA_PACKAGES = typer.Option(
    None,
    help="Comma-separated installed packages whose source joins the training windows "
    "(e.g. scipy,sympy); validation stays on the corpus.",
)
EXTRA_SHARE = typer.Option(
    None, help="Probability that a window comes from --extra-packages (default: in proportion to their size)."
)

# real models (docs/real-models.md): a DLM family, where and in which precision to run, an AR codila did not train
_FAMILY = typer.Option(None, help="DLM family: dream, llada or codila (default: read from the DLM's config.json).")
_DEVICE = typer.Option("auto", help="auto, cpu, cuda (cuda:N) or mps.")
_DTYPE = typer.Option(None, help="float32 (default), bfloat16 or float16.")
_BLOCK = typer.Option(None, help="B for an AR directory that records none (a plain causal LM such as Qwen3-0.6B).")
_THINK = typer.Option("<think>", help="The AR tokenizer's token that opens the conditioning frame.")
_END_THINK = typer.Option("</think>", help="The AR tokenizer's token that closes the conditioning frame.")


def _names(comma_separated: str | None) -> list[str] | None:
    return [name.strip() for name in comma_separated.split(",") if name.strip()] if comma_separated else None


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
    init: Optional[Path] = typer.Option(
        None,
        help="Warm start from this DLM checkpoint (e.g. checkpoints/dlm): its weights "
        "and tokenizer, a fresh optimizer and schedule.",
    ),
    gap_fraction: float = GAP_FRACTION,
    extra_packages: Optional[str] = EXTRA_PACKAGES,
    extra_share: Optional[float] = EXTRA_SHARE,
):
    """Train a masked diffusion LM on code windows."""
    check_options(locals())
    from codila.train.dlm import train_dlm

    summary = train_dlm(
        out,
        _train_config(steps, batch_size, lr, seed, save_every, eval_every),
        preset,
        window,
        vocab_size,
        tokenizer,
        files,
        resume,
        init=init,
        gap_fraction=gap_fraction,
        extra_packages=_names(extra_packages),
        extra_share=extra_share,
    )
    typer.echo(
        f"trained DLM: {summary['steps']} steps, validation loss {summary['final_validation_loss']}, checkpoint in {out / 'checkpoint'}"
    )


@train_app.command("ar")
def train_ar_command(
    dlm: Path = typer.Option(..., help="The frozen DLM checkpoint directory."),
    out: Path = typer.Option(..., help="Run directory: state.pt (resume), log.jsonl, checkpoint/ (the model)."),
    block_size: int = typer.Option(4, help="B: tokens per block (one AR per block size)."),
    conditioning: str = typer.Option("soft", help="soft, top1 or topk:K (the paper's ablation)."),
    frame: bool = typer.Option(True, help="Frame the conditioning with <think>/</think> (--no-frame: the ablation)."),
    steps: Optional[int] = typer.Option(None, help="Optimizer steps (default 1500; with --data: the recipe's)."),
    batch_size: Optional[int] = typer.Option(
        None, help="Windows per step (default 16; with --data: the recipe's); every masked block in them is a training example."
    ),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate (default 1e-3; with --data: the recipe's)."),
    preset: str = typer.Option("ar-small"),
    files: Optional[Path] = typer.Option(None, help="Train on this directory of .py files instead of the stdlib."),
    seed: int = typer.Option(0),
    save_every: float = typer.Option(300.0),
    eval_every: int = typer.Option(100),
    resume: bool = typer.Option(False),
    init: Optional[Path] = typer.Option(
        None,
        help="Warm start from this AR checkpoint (same block size, conditioning "
        "and frame), e.g. after the DLM was trained further.",
    ),
    gap_fraction: float = GAP_FRACTION,
    extra_packages: Optional[str] = EXTRA_PACKAGES,
    extra_share: Optional[float] = EXTRA_SHARE,
    ar_init: Optional[Path] = typer.Option(
        None, help="Start the AR from this causal LM directory (e.g. Qwen3-0.6B); needs --data."
    ),
    data: Optional[Path] = typer.Option(None, help="JSONL of prompt/response pairs or chat messages: only responses are masked."),
    recipe: str = typer.Option("paper", help="With --data: a shipped recipe (paper) or a JSON file of training options."),
    accumulate: Optional[int] = typer.Option(None, help="With --data: micro-batches per optimizer step."),
    window: int = typer.Option(512, help="With --data: tokens per example window (prompt + response, EOS-padded)."),
    gradient_checkpointing: bool = typer.Option(False, help="With --data: recompute activations in the backward pass."),
    dlm_family: Optional[str] = _FAMILY,
    device: str = _DEVICE,
    dtype: Optional[str] = _DTYPE,
    think_token: str = _THINK,
    end_think_token: str = _END_THINK,
):
    """Train a local AR on the marginals of a frozen DLM (with --ar-init and --data: a real AR on a paper-scale DLM; under
    torchrun the global batch is split over the processes)."""
    check_options(locals())
    if ar_init is not None or data is not None:
        from codila.train.ar_sft import recipe_config, train_ar_on_responses

        if ar_init is None or data is None:
            raise CodilaError("--ar-init and --data go together: the causal LM to start from and the examples to train on")
        config = recipe_config(
            recipe,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            accumulate=accumulate,
            eval_every=eval_every if eval_every != 100 else None,
            save_every_seconds=save_every,
        )
        summary = train_ar_on_responses(
            dlm,
            ar_init,
            data,
            out,
            block_size,
            config,
            dlm_family,
            conditioning,
            frame,
            window,
            gradient_checkpointing=gradient_checkpointing,
            device=device,
            dlm_dtype=dtype,
            resume=resume,
            think_token=think_token,
            end_think_token=end_think_token,
        )
        typer.echo(
            f"trained AR (B={block_size}) on {data}: {summary['steps']} steps, validation loss {summary['final_validation_loss']}"
        )
        return
    from codila.train.ar import train_ar

    steps, batch_size, lr = steps or 1500, batch_size or 16, lr or 1e-3
    summary = train_ar(
        dlm,
        out,
        block_size,
        _train_config(steps, batch_size, lr, seed, save_every, eval_every),
        conditioning,
        preset,
        files,
        resume,
        framed=frame,
        init=init,
        gap_fraction=gap_fraction,
        extra_packages=_names(extra_packages),
        extra_share=extra_share,
    )
    typer.echo(
        f"trained AR (B={block_size}, {conditioning}): {summary['steps']} steps, validation loss {summary['final_validation_loss']}"
    )


@train_app.command("ar-pretrain")
def train_ar_pretrain_command(
    dlm: Path = typer.Option(..., help="The DLM checkpoint whose tokenizer the AR uses (ids must agree)."),
    out: Path = typer.Option(..., help="Run directory: state.pt (resume), log.jsonl, checkpoint/ (the model)."),
    steps: int = typer.Option(2000),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3),
    window: int = typer.Option(64, help="Training window (tokens)."),
    preset: str = typer.Option("ar-base", help="Model size: see codila.models.presets."),
    files: Optional[Path] = typer.Option(None, help="Train on this directory of .py files instead of the stdlib."),
    seed: int = typer.Option(0),
    save_every: float = typer.Option(300.0),
    eval_every: int = typer.Option(100),
    resume: bool = typer.Option(False),
    extra_packages: Optional[str] = EXTRA_PACKAGES,
    extra_share: Optional[float] = EXTRA_SHARE,
):
    """Pretrain a local AR as a plain causal LM on the training split (then `codila train ar --init` it)."""
    from codila.train.ar_pretrain import pretrain_ar

    summary = pretrain_ar(
        dlm,
        out,
        _train_config(steps, batch_size, lr, seed, save_every, eval_every),
        preset,
        window,
        files,
        resume,
        extra_packages=_names(extra_packages),
        extra_share=extra_share,
    )
    typer.echo(
        f"pretrained AR: {summary['steps']} steps, validation loss {summary['final_validation_loss']}, checkpoint in {out / 'checkpoint'}"
    )


@train_app.command("planning")
def train_planning_command(
    kind: str = typer.Option(..., help="dlm, ar (the CoDiLA local AR on --dlm) or ar-baseline (left to right, same data)."),
    setting: str = typer.Option(..., help="Generated task setting, e.g. pathstar-d2-l4 (codila.data.planning.registry)."),
    out: Path = typer.Option(..., help="Run directory: state.pt (resume), log.jsonl, checkpoint/ (the model)."),
    dlm: Optional[Path] = typer.Option(None, help="--kind ar: the frozen planning DLM checkpoint."),
    block_size: int = typer.Option(4, help="--kind ar: B."),
    steps: int = typer.Option(20000),
    batch_size: int = typer.Option(64),
    lr: float = typer.Option(1e-3),
    preset: str = typer.Option("planning", help="Model size (codila.models.presets); the local AR: planning-ar."),
    seed: int = typer.Option(0),
    save_every: float = typer.Option(300.0),
    eval_every: int = typer.Option(200),
    resume: bool = typer.Option(False),
    init: Optional[Path] = typer.Option(None, help="Warm start from a checkpoint of the same kind (grow the task)."),
    dlm_loss: str = typer.Option("elbo", help="--kind dlm: elbo (cross-entropy / t) or uniform (mean masked cross-entropy)."),
):
    """Train a planning model on freshly generated examples (held-out splits never seen)."""
    from codila.train.planning import train_planning

    summary = train_planning(
        kind,
        setting,
        out,
        _train_config(steps, batch_size, lr, seed, save_every, eval_every),
        preset,
        dlm,
        block_size,
        resume,
        init=init,
        dlm_loss=dlm_loss,
    )
    typer.echo(
        f"trained planning {kind} on {setting}: {summary['steps']} steps, validation loss {summary['final_validation_loss']}"
    )


def _ar_path(value: str | None, root: Path) -> Path:
    """`--ar`, the same in every command: the name of a checkpoint in `root` (the shipped models, or --checkpoints) or
    a checkpoint directory; default ar-b4."""
    value = value or "ar-b4"
    return root / value if (root / value).is_dir() else Path(value)


def _decode(
    kind: str,
    dlm_path: Optional[Path],
    ar: Optional[str],
    conditioning: Optional[str],
    decoder: str,
    inputs: list[dict],
    length: int,
    seed: int,
    options: dict,
    batch_size: int,
    models: dict,
    extra: dict,
) -> list[dict]:
    """Decode every input ({"prompt"} or {"prefix", "suffix"}), `batch_size` at a time, input i with seed + i; one result
    per input: the text and the counts. `models`: how to load them (device, dtype, family, an AR's block size and frame
    tokens); `extra`: generate's chat, infill's variable_length / max_span."""
    from codila.api import CoDiLA
    from codila.decoding.registry import decoder_config

    if batch_size < 1:
        raise CodilaError(f"--batch-size must be >= 1, got {batch_size}")
    spec, _ = decoder_config(decoder, options)  # checks the options before any model loads
    ar_path = _ar_path(ar, SHIPPED) if spec.needs_ar or ar else None
    model = CoDiLA.from_pretrained(
        dlm_path,
        ar_path,
        models["device"],
        models["dtype"],
        models["dlm_family"],
        models["block_size"],
        conditioning,
        models["think_token"],
        models["end_think_token"],
    )
    results = []
    for first in range(0, len(inputs), batch_size):
        chunk = inputs[first : first + batch_size]
        if kind == "generate":
            done = model.generate([item["prompt"] for item in chunk], length, decoder, seed + first, **extra, **options)
        else:
            done = model.infill(
                [item.get("prefix", "") for item in chunk],
                [item.get("suffix", "") for item in chunk],
                length,
                decoder,
                seed + first,
                **extra,
                **options,
            )
        for item, result in zip(chunk, done):
            results.append(
                {
                    **({"id": item["id"]} if "id" in item else {}),
                    "text": result.text,
                    "tokens": result.tokens,
                    "steps": result.steps,
                    "dlm_forwards": result.dlm_forwards,
                    "ar_steps": result.ar_steps,
                    "seconds": result.seconds,
                }
            )
    return results


def _model_options(dlm_family, device, dtype, block_size, think_token, end_think_token) -> dict:
    """How generate / infill load their models (real models: docs/real-models.md)."""
    return {
        "dlm_family": dlm_family,
        "device": device,
        "dtype": dtype,
        "block_size": block_size,
        "think_token": think_token,
        "end_think_token": end_think_token,
    }


def _decode_and_print(kind: str, inputs: list[dict] | None, single: dict, output: Optional[Path], **decoding) -> None:
    """One input: its text to stdout, its counts to stderr. `--input FILE`: one JSON result per input line, written to
    --output (default stdout)."""
    from codila.cli_io import write_jsonl

    if inputs is None:
        (result,) = _decode(kind, inputs=[single], **decoding)
        typer.echo(result["text"])
        length = decoding["length"]
        typer.echo(
            f"-- {result['tokens']} tokens in {result['steps']} steps: {length / result['steps']:.2f} tokens/step, "
            f"{result['dlm_forwards']} DLM forwards, {result['ar_steps']} AR steps, {length / result['seconds']:.1f} tokens/s",
            err=True,
        )
        return
    results = _decode(kind, inputs=inputs, **decoding)
    write_jsonl(output or Path("-"), results)
    if output is not None:
        typer.echo(f"wrote {len(results)} results to {output}", err=True)


_DECODER = typer.Option("codila", help="Decoder name (see `codila ls`).")
_AR = typer.Option(
    None,
    help="Local AR: a codila checkpoint or a causal LM directory, or the name of a shipped one (default "
    "with the shipped DLM: ar-b4; used by decoders that need one).",
)
_DLM = typer.Option(None, help="DLM directory: a codila checkpoint or a Dream / LLaDA model (default: the shipped one).")
_CONDITIONING = typer.Option(None, help="Override the AR's conditioning: soft, top1 or topk:K (default: the AR's own).")
_INPUT = typer.Option(None, "--input", help='A JSONL file of inputs (- = stdin), one JSON object per line; an "id" is kept.')
_OUTPUT = typer.Option(None, "--output", help="With --input: write the JSONL results here (default: stdout).")
_BATCH = typer.Option(8, help="With --input: inputs decoded together (outputs do not change).")


@app.command()
@with_decode_options
def generate(
    prompt: Optional[str] = typer.Argument(None, help="The prompt text (- = read it from stdin)."),
    prompt_file: Optional[Path] = typer.Option(None, help="Read the prompt from a file (- = stdin)."),
    input_file: Optional[Path] = _INPUT,
    output: Optional[Path] = _OUTPUT,
    length: int = typer.Option(64, help="Tokens to generate (a multiple of B for codila)."),
    dlm: Optional[Path] = _DLM,
    ar: Optional[str] = _AR,
    decoder: str = _DECODER,
    conditioning: Optional[str] = _CONDITIONING,
    seed: int = typer.Option(0, help="Generator seed (input i of --input: seed + i)."),
    batch_size: int = _BATCH,
    dlm_family: Optional[str] = _FAMILY,
    device: str = _DEVICE,
    dtype: Optional[str] = _DTYPE,
    block_size: Optional[int] = _BLOCK,
    think_token: str = _THINK,
    end_think_token: str = _END_THINK,
    chat: bool = typer.Option(False, help="Wrap the prompt as a user message with the DLM tokenizer's chat template."),
    decode_options: dict = None,
):
    """Complete a prompt: the text goes to stdout, the counts to stderr. With --input FILE: lines {"prompt": ...} in,
    lines {"text", "tokens", "steps", "dlm_forwards", "ar_steps", "seconds"} out."""
    from codila.cli_io import read_jsonl, read_text

    check_options({"length": length, "seed": seed, "batch_size": batch_size, "block_size": block_size, **decode_options})
    inputs = read_jsonl(input_file, ("prompt",)) if input_file is not None else None
    single = None if inputs is not None else {"prompt": read_text(prompt, prompt_file)}
    _decode_and_print(
        "generate",
        inputs,
        single,
        output,
        dlm_path=dlm,
        ar=ar,
        conditioning=conditioning,
        decoder=decoder,
        length=length,
        seed=seed,
        options=decode_options,
        batch_size=batch_size,
        models=_model_options(dlm_family, device, dtype, block_size, think_token, end_think_token),
        extra={"chat": chat},
    )


@app.command()
@with_decode_options
def infill(
    prefix: Optional[str] = typer.Option(None, help="Text before the gap (- = read it from stdin)."),
    suffix: Optional[str] = typer.Option(None, help="Text after the gap (- = read it from stdin)."),
    prefix_file: Optional[Path] = typer.Option(None, help="Read the prefix from a file."),
    suffix_file: Optional[Path] = typer.Option(None, help="Read the suffix from a file."),
    input_file: Optional[Path] = _INPUT,
    output: Optional[Path] = _OUTPUT,
    length: int = typer.Option(32, help="Masked tokens between prefix and suffix (a multiple of B for codila)."),
    dlm: Optional[Path] = _DLM,
    ar: Optional[str] = _AR,
    decoder: str = _DECODER,
    conditioning: Optional[str] = _CONDITIONING,
    seed: int = typer.Option(0, help="Generator seed (input i of --input: seed + i)."),
    batch_size: int = _BATCH,
    dlm_family: Optional[str] = _FAMILY,
    device: str = _DEVICE,
    dtype: Optional[str] = _DTYPE,
    block_size: Optional[int] = _BLOCK,
    think_token: str = _THINK,
    end_think_token: str = _END_THINK,
    variable_length: bool = typer.Option(
        False, help="DreamOn (decoder dlm): the expand token grows the span, EOS in it deletes."
    ),
    max_span: Optional[int] = typer.Option(
        None, help="With --variable-length: the longest the span may grow (default 4 x length)."
    ),
    decode_options: dict = None,
):
    """Fill `length` tokens between a prefix and a suffix: the infill goes to stdout, the counts to stderr. With --input
    FILE: lines {"prefix": ..., "suffix": ...} in, JSONL results out (as generate)."""
    from codila.cli_io import read_jsonl, read_text

    check_options(
        {
            "length": length,
            "seed": seed,
            "batch_size": batch_size,
            "block_size": block_size,
            "max_span": max_span,
            **decode_options,
        }
    )
    if prefix == "-" and suffix == "-":
        raise CodilaError("only one of --prefix and --suffix can be read from stdin")
    inputs = read_jsonl(input_file, ("prefix", "suffix")) if input_file is not None else None
    single = None if inputs is not None else {"prefix": read_text(prefix, prefix_file), "suffix": read_text(suffix, suffix_file)}
    _decode_and_print(
        "infill",
        inputs,
        single,
        output,
        dlm_path=dlm,
        ar=ar,
        conditioning=conditioning,
        decoder=decoder,
        length=length,
        seed=seed,
        options=decode_options,
        batch_size=batch_size,
        models=_model_options(dlm_family, device, dtype, block_size, think_token, end_think_token),
        extra={"variable_length": variable_length, "max_span": max_span},
    )


@app.command("ls")
def list_decoders():
    """List the registered decoders and evaluation tasks."""
    from codila.decoding.registry import DECODERS
    from codila.eval.tasks.registry import TASKS

    for spec in DECODERS.values():
        typer.echo(f"{spec.name:10} {spec.summary}{'' if not spec.needs_ar else '  (uses a local AR, --ar)'}")
    typer.echo("tasks (codila eval TASK):")
    for task in TASKS.values():
        typer.echo(f"  {task.name:34} {task.description}")


_DEMO_SCOPE = typer.Option(
    None,
    "--scope",
    help="CoDiLA rows' candidate blocks per step (default 10, the paper's; the demo "
    "adds a scope-1 ablation row, the decoder's default).",
)


def _checked_scope(scope: int | None) -> int:
    """--scope of demo and bench: default the demo's (10)."""
    if scope is None:
        from codila.eval.sweeps import DEMO_SCOPE

        return DEMO_SCOPE
    if scope < 1:
        raise CodilaError(f"scope must be >= 1, got {scope}")
    return scope


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
    scope: Optional[int] = _DEMO_SCOPE,
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
        _checked_scope(scope),
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
    decoder: str = _DECODER,
    conditioning: Optional[str] = _CONDITIONING,
    seed: int = typer.Option(0),
    dlm: Optional[Path] = typer.Option(
        None, help="A DLM directory instead of the checkpoints folder's dlm/ (then --ar is a path)."
    ),
    dlm_family: Optional[str] = _FAMILY,
    device: str = _DEVICE,
    dtype: Optional[str] = _DTYPE,
    block_size: Optional[int] = _BLOCK,
    think_token: str = _THINK,
    end_think_token: str = _END_THINK,
    decode_options: dict = None,
):
    """Evaluate decoders on a task: pass@1, syntax errors, speed, any-order analysis; resumable."""
    check_options(locals())
    import json

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
            path = _ar_path(ar, checkpoints or SHIPPED)
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
    scope: Optional[int] = _DEMO_SCOPE,
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

    sizes = tuple(int(size) for size in batch_sizes.split(",") if size.strip())
    if not sizes or min(sizes) < 1:
        raise CodilaError(f"batch sizes must be positive integers, got {batch_sizes!r}")
    rows = run_bench(
        checkpoints or SHIPPED,
        n,
        length,
        seed,
        scope=_checked_scope(scope),
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


@analyze_app.command("copula")
def analyze_copula(
    out: Path = typer.Option(Path("runs/copula"), help="Folder for copula.jsonl, notes.md and copula.png."),
    samples: int = typer.Option(1000, help="Decoded blocks per joint and decoder."),
    steps: int = typer.Option(1500, help="Training steps of the tiny DLM and of each AR."),
    harder: int = typer.Option(4, help="Joints in the shared-top-1 family."),
    seed: int = typer.Option(0),
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
    seed: int = typer.Option(0),
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


# -- serving and tracing (codila.serve, codila.trace) --------------------------------------------------------------
@app.command("serve")
def serve_command(
    checkpoints: Optional[Path] = typer.Option(
        None, help="Checkpoints folder: dlm/ and the local ARs a request may name (default: the shipped ones)."
    ),
    dlm: Optional[Path] = typer.Option(None, help="Serve this DLM checkpoint instead of the folder's dlm/."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(8000),
    model_name: str = typer.Option("codila", help="The model id clients ask for (/v1/models)."),
    max_prompt_tokens: int = typer.Option(96, help="Longest context (prompt plus suffix) in tokens."),
    max_tokens: int = typer.Option(64, help="Most tokens one request may decode."),
    max_batch: int = typer.Option(8, help="Requests decoded together."),
    max_wait: float = typer.Option(0.005, help="Seconds a request waits for others to share its batch."),
    max_queued: int = typer.Option(64, help="Requests waiting at most; more get 429."),
    timeout: float = typer.Option(60.0, help="Seconds a request may take; then 408."),
    threads: int = typer.Option(1, help="torch threads for decoding."),
):
    """Serve the models behind OpenAI's API: /v1/completions (suffix = infilling), /v1/chat/completions, streaming."""
    check_options(locals())
    from codila.serve.schemas import ServeLimits
    from codila.serve.server import serve

    limits = ServeLimits(max_prompt_tokens, max_tokens, max_batch, max_wait, max_queued, timeout)
    serve(checkpoints or SHIPPED, host, port, limits, model_name, dlm, threads)


@app.command("bench-serve")
def bench_serve_command(
    requests: int = typer.Option(200, help="Requests per pass and concurrency."),
    clients: str = typer.Option("1,8", help="Comma-separated numbers of concurrent clients."),
    max_tokens: int = typer.Option(32, help="Tokens each request decodes."),
    repeats: int = typer.Option(1, help="Passes over the concurrencies, interleaved."),
    checkpoints: Optional[Path] = typer.Option(None, help="Checkpoints folder (default: the shipped ones)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the rows and the summary here."),
    markdown: Optional[Path] = typer.Option(None, help="Also write the table as Markdown to this file."),
):
    """Throughput and latency of a server this command starts on 127.0.0.1 (and stops), under concurrent clients."""
    check_options(locals())
    from codila.serve.bench import bench_serve_report

    typer.echo(bench_serve_report(checkpoints or SHIPPED, requests, clients, max_tokens, repeats, json_path, markdown))


@app.command("trace")
@with_decode_options
def trace_command(
    prompt: Optional[str] = typer.Argument(None, help="The prompt (the prefix when --suffix is given; - = stdin)."),
    prompt_file: Optional[Path] = typer.Option(None),
    suffix: Optional[str] = typer.Option(None, help="Infill before this text."),
    suffix_file: Optional[Path] = typer.Option(None),
    length: int = typer.Option(32, help="Tokens to decode (a multiple of B for codila)."),
    out: Path = typer.Option(Path("runs/trace.html"), help="The HTML page to write."),
    png: Optional[Path] = typer.Option(None, help="The PNG to write (default: --out with .png)."),
    dlm: Optional[Path] = _DLM,
    ar: Optional[str] = _AR,
    decoder: str = _DECODER,
    conditioning: Optional[str] = _CONDITIONING,
    seed: int = typer.Option(0),
    decode_options: dict = None,
):
    """Decode once and show it step by step: an HTML page (and a PNG) of commits, DLM guesses, AR choices, entropies."""
    check_options({"length": length, "seed": seed, **decode_options})
    from codila.cli_io import read_text
    from codila.decoding.registry import decoder_config
    from codila.trace.run import trace_decoding, write_trace

    spec, config = decoder_config(decoder, decode_options)
    after = read_text(suffix, suffix_file) if suffix is not None or suffix_file is not None else None
    ar_path = _ar_path(ar, SHIPPED) if spec.needs_ar or ar else None
    trace = trace_decoding(spec, config, read_text(prompt, prompt_file), length, after, seed, dlm, ar_path, conditioning)
    png = png or out.with_suffix(".png")
    write_trace(trace, out, png)
    typer.echo(f"wrote {out} and {png} ({len(trace['steps'])} steps)")


def main() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bars (read when transformers loads)
    if "transformers" in sys.modules:  # imported before main() (an in-process caller): the variable came too late
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    try:
        code = app(standalone_mode=False)
    except CodilaError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)
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


if __name__ == "__main__":  # `python -m codila.cli` (torchrun -m codila.cli ...)
    main()
