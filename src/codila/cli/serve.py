"""`codila serve`, `codila bench-serve` and `codila trace` (codila.serve, codila.trace)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from codila.assets import SHIPPED
from codila.cli.apps import app
from codila.cli.common import (
    AR_OPTION,
    BLOCK_OPTION,
    CONDITIONING_OPTION,
    DECODE_SEED_OPTION,
    DECODER_OPTION,
    DEVICE_OPTION,
    DLM_OPTION,
    DTYPE_OPTION,
    END_THINK_OPTION,
    FAMILY_OPTION,
    THINK_OPTION,
    model_options,
    resolve_ar,
)
from codila.cli.decode_options import with_decode_options
from codila.validate import check_options


@app.command("serve")
def serve_command(
    checkpoints: Optional[Path] = typer.Option(
        None, help="Checkpoints folder: dlm/ and the local ARs a request may name (default: the shipped ones)."
    ),
    dlm: Optional[Path] = typer.Option(
        None, help="Serve this DLM instead of the folder's dlm/: a codila checkpoint or a Dream / LLaDA directory."
    ),
    ar: Optional[str] = typer.Option(
        None,
        help="Serve this one AR instead of the folder's: a codila checkpoint or a causal LM directory (with --block-size), "
        "or the name of one in --checkpoints; requests name it by its folder's name.",
    ),
    conditioning: Optional[str] = CONDITIONING_OPTION,
    dlm_family: Optional[str] = FAMILY_OPTION,
    device: str = DEVICE_OPTION,
    dtype: Optional[str] = DTYPE_OPTION,
    block_size: Optional[int] = BLOCK_OPTION,
    think_token: str = THINK_OPTION,
    end_think_token: str = END_THINK_OPTION,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(8000, help="TCP port to listen on."),
    model_name: str = typer.Option("codila", help="The model id clients ask for (/v1/models)."),
    max_prompt_tokens: int = typer.Option(96, help="Longest context (prompt plus suffix) in tokens."),
    max_tokens: int = typer.Option(64, help="Most tokens one request may decode."),
    max_batch: int = typer.Option(8, help="Requests decoded together."),
    max_wait: float = typer.Option(0.005, help="Seconds a request waits for others to share its batch."),
    max_queued: int = typer.Option(64, help="Requests waiting at most; more get 429."),
    timeout: float = typer.Option(60.0, help="Seconds a request may take; then 408."),
    read_timeout: float = typer.Option(10.0, help="Seconds a request body may take to arrive; then 408."),
    write_timeout: float = typer.Option(
        30.0, help="Seconds a client may take to read one piece of a response; then it is dropped."
    ),
    idle_timeout: float = typer.Option(5.0, help="Seconds a keep-alive connection may stay idle; then it is closed."),
    threads: int = typer.Option(1, help="torch threads for decoding."),
):
    """Serve the models behind OpenAI's API: /v1/completions (suffix = infilling), /v1/chat/completions, streaming."""
    check_options(locals())
    from codila.serve.schemas import ServeLimits
    from codila.serve.server import serve

    limits = ServeLimits(
        max_prompt_tokens,
        max_tokens,
        max_batch,
        max_wait,
        max_queued,
        timeout,
        read_timeout=read_timeout,
        write_timeout=write_timeout,
        idle_timeout=idle_timeout,
    )
    models = model_options(dlm_family, device, dtype, block_size, think_token, end_think_token) | {"conditioning": conditioning}
    root = checkpoints or SHIPPED
    serve(root, host, port, limits, model_name, dlm, threads, resolve_ar(ar, root) if ar else None, models)


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
    prompt_file: Optional[Path] = typer.Option(None, help="Read the prompt from a file (- = stdin)."),
    suffix: Optional[str] = typer.Option(None, help="Infill before this text."),
    suffix_file: Optional[Path] = typer.Option(None, help="Read the suffix from a file."),
    length: int = typer.Option(32, help="Tokens to decode (a multiple of B for codila)."),
    out: Path = typer.Option(Path("runs/trace.html"), help="The HTML page to write."),
    png: Optional[Path] = typer.Option(None, help="The PNG to write (default: --out with .png)."),
    dlm: Optional[Path] = DLM_OPTION,
    ar: Optional[str] = AR_OPTION,
    decoder: str = DECODER_OPTION,
    conditioning: Optional[str] = CONDITIONING_OPTION,
    seed: int = DECODE_SEED_OPTION,
    decode_options: dict = None,
):
    """Decode once and show it step by step: an HTML page (and a PNG) of commits, DLM guesses, AR choices, entropies."""
    check_options({"length": length, "seed": seed, **decode_options})
    from codila.cli.inputs import read_text
    from codila.decoding.registry import decoder_config
    from codila.trace.run import trace_decoding, write_trace

    spec, config = decoder_config(decoder, decode_options)
    after = read_text(suffix, suffix_file) if suffix is not None or suffix_file is not None else None
    ar_path = resolve_ar(ar, SHIPPED) if spec.needs_ar or ar else None
    trace = trace_decoding(spec, config, read_text(prompt, prompt_file), length, after, seed, dlm, ar_path, conditioning)
    png = png or out.with_suffix(".png")
    write_trace(trace, out, png)
    typer.echo(f"wrote {out} and {png} ({len(trace['steps'])} steps)")
