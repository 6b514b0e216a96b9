"""`codila generate`, `codila infill` and `codila ls`: decode prompts or gaps with any registered decoder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from codila.assets import SHIPPED
from codila.cli.apps import app
from codila.cli.common import (
    AR_OPTION,
    BATCH_OPTION,
    BLOCK_OPTION,
    CONDITIONING_OPTION,
    DECODER_OPTION,
    DEVICE_OPTION,
    DLM_OPTION,
    DTYPE_OPTION,
    END_THINK_OPTION,
    FAMILY_OPTION,
    INPUT_OPTION,
    OUTPUT_OPTION,
    THINK_OPTION,
    model_options,
    resolve_ar,
)
from codila.cli.decode_options import with_decode_options
from codila.errors import CodilaError
from codila.validate import check_options


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
    chat: bool = False,
) -> list[dict]:
    """Decode every input ({"prompt"} or {"prefix", "suffix"}), `batch_size` at a time, input i with seed + i; one result
    per input: the text and the counts. `models`: how to load them (`model_options`)."""
    from codila.api import CoDiLA
    from codila.decoding.registry import decoder_config

    spec, config = decoder_config(decoder, options)  # checks the options before any model loads
    ar_path = resolve_ar(ar, SHIPPED) if spec.needs_ar or ar else None
    model = CoDiLA.from_pretrained(dlm_path, ar_path, conditioning=conditioning, **models)
    results = []
    for first in range(0, len(inputs), batch_size):
        chunk = inputs[first : first + batch_size]
        if kind == "generate":
            done = model.generate([item["prompt"] for item in chunk], length, spec, seed + first, chat, config=config)
        else:
            prefixes, suffixes = [item.get("prefix", "") for item in chunk], [item.get("suffix", "") for item in chunk]
            done = model.infill(prefixes, suffixes, length, spec, seed + first, config=config)
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


def _decode_and_print(kind: str, inputs: list[dict] | None, single: dict, output: Optional[Path], **decoding) -> None:
    """One input: its text to stdout, its counts to stderr. `--input FILE`: one JSON result per input line, written to
    --output (default stdout)."""
    from codila.cli.inputs import write_jsonl

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


@app.command()
@with_decode_options
def generate(
    prompt: Optional[str] = typer.Argument(None, help="The prompt text (- = read it from stdin)."),
    prompt_file: Optional[Path] = typer.Option(None, help="Read the prompt from a file (- = stdin)."),
    input_file: Optional[Path] = INPUT_OPTION,
    output: Optional[Path] = OUTPUT_OPTION,
    length: int = typer.Option(64, help="Tokens to generate (a multiple of B for codila)."),
    dlm: Optional[Path] = DLM_OPTION,
    ar: Optional[str] = AR_OPTION,
    decoder: str = DECODER_OPTION,
    conditioning: Optional[str] = CONDITIONING_OPTION,
    seed: int = typer.Option(0, help="Generator seed (input i of --input: seed + i)."),
    batch_size: int = BATCH_OPTION,
    dlm_family: Optional[str] = FAMILY_OPTION,
    device: str = DEVICE_OPTION,
    dtype: Optional[str] = DTYPE_OPTION,
    block_size: Optional[int] = BLOCK_OPTION,
    think_token: str = THINK_OPTION,
    end_think_token: str = END_THINK_OPTION,
    chat: bool = typer.Option(False, help="Wrap the prompt as a user message with the DLM tokenizer's chat template."),
    decode_options: dict = None,
):
    """Complete a prompt: the text goes to stdout, the counts to stderr. With --input FILE: lines {"prompt": ...} in,
    lines {"text", "tokens", "steps", "dlm_forwards", "ar_steps", "seconds"} out."""
    from codila.cli.inputs import read_jsonl, read_text

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
        models=model_options(dlm_family, device, dtype, block_size, think_token, end_think_token),
        chat=chat,
    )


@app.command()
@with_decode_options
def infill(
    prefix: Optional[str] = typer.Option(None, help="Text before the gap (- = read it from stdin)."),
    suffix: Optional[str] = typer.Option(None, help="Text after the gap (- = read it from stdin)."),
    prefix_file: Optional[Path] = typer.Option(None, help="Read the prefix from a file."),
    suffix_file: Optional[Path] = typer.Option(None, help="Read the suffix from a file."),
    input_file: Optional[Path] = INPUT_OPTION,
    output: Optional[Path] = OUTPUT_OPTION,
    length: int = typer.Option(32, help="Masked tokens between prefix and suffix (a multiple of B for codila)."),
    dlm: Optional[Path] = DLM_OPTION,
    ar: Optional[str] = AR_OPTION,
    decoder: str = DECODER_OPTION,
    conditioning: Optional[str] = CONDITIONING_OPTION,
    seed: int = typer.Option(0, help="Generator seed (input i of --input: seed + i)."),
    batch_size: int = BATCH_OPTION,
    dlm_family: Optional[str] = FAMILY_OPTION,
    device: str = DEVICE_OPTION,
    dtype: Optional[str] = DTYPE_OPTION,
    block_size: Optional[int] = BLOCK_OPTION,
    think_token: str = THINK_OPTION,
    end_think_token: str = END_THINK_OPTION,
    decode_options: dict = None,
):
    """Fill `length` tokens between a prefix and a suffix: the infill goes to stdout, the counts to stderr. With --input
    FILE: lines {"prefix": ..., "suffix": ...} in, JSONL results out (as generate)."""
    from codila.cli.inputs import read_jsonl, read_text

    check_options(
        {
            "length": length,
            "seed": seed,
            "batch_size": batch_size,
            "block_size": block_size,
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
        models=model_options(dlm_family, device, dtype, block_size, think_token, end_think_token),
    )


@app.command("ls")
def list_decoders(
    defaults: bool = typer.Option(False, "--defaults", help="Print every decoder option with its default (Markdown)."),
):
    """List the registered decoders and evaluation tasks."""
    from codila.decoding.registry import DECODERS, defaults_markdown
    from codila.eval.tasks.registry import TASKS

    if defaults:
        typer.echo(defaults_markdown(), nl=False)
        return
    uses = {"local": "  (uses a local AR, --ar)", "causal": "  (uses a causal AR alone, --ar)"}
    for spec in DECODERS.values():
        typer.echo(f"{spec.name:13} {spec.summary}{uses[spec.ar_kind] if spec.needs_ar else ''}")
    typer.echo("tasks (codila eval TASK):")
    for task in TASKS.values():
        typer.echo(f"  {task.name:34} {task.description}")
