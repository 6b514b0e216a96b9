"""What several commands share: option declarations, the AR and scope defaults, the training config."""

from __future__ import annotations

from pathlib import Path

import typer

from codila.cli.inputs import check_output_path
from codila.decoding.defaults import DEFAULT_AR, DEFAULT_DECODER
from codila.errors import CodilaError


def train_config(steps: int, batch_size: int, lr: float, seed: int, save_every: float, eval_every: int):
    from codila.train.loop import TrainConfig

    return TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, save_every_seconds=save_every, eval_every=eval_every)


# options every trainer takes (their defaults differ by command)
def steps_option(default):
    return typer.Option(default, help="Optimizer steps (the cosine schedule spans them).")


def batch_size_option(default):
    return typer.Option(default, help="Training windows per optimizer step.")


def lr_option(default):
    return typer.Option(default, help="Peak learning rate (linear warm-up, cosine decay).")


def eval_every_option(default):
    return typer.Option(default, help="Optimizer steps between validation losses (written to log.jsonl).")


DECODE_SEED_OPTION = typer.Option(0, help="Generator seed (item i: seed + i): the same seed, the same outputs.")
SEED_OPTION = typer.Option(0, help="Seed of every random draw (initialisation, data, masks): the same seed, the same run.")
SAVE_EVERY_OPTION = typer.Option(
    300.0, help="Seconds between saves of the resumable state (and on Ctrl-C); inf: only at the end."
)
RESUME_OPTION = typer.Option(False, help="Continue the interrupted run in --out from its last save.")


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
FAMILY_OPTION = typer.Option(None, help="DLM family: dream, llada or codila (default: read from the DLM's config.json).")
DEVICE_OPTION = typer.Option("auto", help="auto, cpu, cuda (cuda:N) or mps.")
DTYPE_OPTION = typer.Option(None, help="float32 (default), bfloat16 or float16.")
BLOCK_OPTION = typer.Option(None, help="B for an AR directory that records none (a plain causal LM such as Qwen3-0.6B).")
THINK_OPTION = typer.Option("<think>", help="The AR tokenizer's token that opens the conditioning frame.")
END_THINK_OPTION = typer.Option("</think>", help="The AR tokenizer's token that closes the conditioning frame.")


def split_names(comma_separated: str | None) -> list[str] | None:
    return [name.strip() for name in comma_separated.split(",") if name.strip()] if comma_separated else None


def resolve_ar(value: str | None, root: Path) -> Path:
    """`--ar`, the same in every command: the name of a checkpoint in `root` (the shipped models, or --checkpoints) or
    a checkpoint directory; default DEFAULT_AR (ar-b4)."""
    value = value or DEFAULT_AR
    return root / value if (root / value).is_dir() else Path(value)


def model_options(dlm_family, device, dtype, block_size, think_token, end_think_token) -> dict:
    """How generate / infill load their models: `CoDiLA.from_pretrained`'s keyword arguments (docs/real-models.md)."""
    return {
        "dlm_family": dlm_family,
        "device": device,
        "dtype": dtype,
        "block_size": block_size,
        "think_token": think_token,
        "end_think_token": end_think_token,
    }


DECODER_OPTION = typer.Option(DEFAULT_DECODER, help="Decoder name (see `codila ls`).")
AR_OPTION = typer.Option(
    None,
    help="Local AR: a codila checkpoint or a causal LM directory, or the name of a shipped one (default "
    f"with the shipped DLM: {DEFAULT_AR}; used by decoders that need one).",
)
DLM_OPTION = typer.Option(None, help="DLM directory: a codila checkpoint or a Dream / LLaDA model (default: the shipped one).")
CONDITIONING_OPTION = typer.Option(None, help="Override the AR's conditioning: soft, top1 or topk:K (default: the AR's own).")
INPUT_OPTION = typer.Option(
    None, "--input", help='A JSONL file of inputs (- = stdin), one JSON object per line; an "id" is kept.'
)
OUTPUT_OPTION = typer.Option(
    None, "--output", help="With --input: write the JSONL results here (default: stdout).", callback=check_output_path
)
BATCH_OPTION = typer.Option(8, help="With --input: inputs decoded together (outputs do not change).")


SCOPE_OPTION = typer.Option(
    None,
    "--scope",
    help="CoDiLA rows' candidate blocks per step (default 10, the paper's; the demo "
    "adds a scope-1 ablation row, the decoder's default).",
)


def checked_scope(scope: int | None) -> int:
    """--scope of demo and bench: default the demo's (10)."""
    if scope is None:
        from codila.eval.sweeps import DEMO_SCOPE

        return DEMO_SCOPE
    if scope < 1:
        raise CodilaError(f"scope must be >= 1, got {scope}")
    return scope
