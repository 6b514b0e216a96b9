"""`codila train dlm|ar|ar-pretrain|planning`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from codila.cli.apps import train_app
from codila.cli.common import (
    DEVICE_OPTION,
    DTYPE_OPTION,
    END_THINK_OPTION,
    EXTRA_PACKAGES,
    EXTRA_SHARE,
    FAMILY_OPTION,
    GAP_FRACTION,
    RESUME_OPTION,
    SAVE_EVERY_OPTION,
    SEED_OPTION,
    THINK_OPTION,
    batch_size_option,
    eval_every_option,
    lr_option,
    split_names,
    steps_option,
    train_config,
)
from codila.errors import CodilaError
from codila.validate import check_options


@train_app.command("dlm")
def train_dlm_command(
    out: Path = typer.Option(..., help="Run directory: state.pt (resume), log.jsonl, checkpoint/ (the model)."),
    steps: int = steps_option(3000),
    batch_size: int = batch_size_option(32),
    lr: float = lr_option(1e-3),
    window: int = typer.Option(128, help="Training window (tokens); also the DLM's maximum canvas length."),
    preset: str = typer.Option("dlm-small", help="Model size: see codila.models.presets."),
    vocab_size: int = typer.Option(4096, help="BPE vocabulary size (when --tokenizer is not given)."),
    tokenizer: Optional[Path] = typer.Option(None, help="Reuse the tokenizer in this directory."),
    files: Optional[Path] = typer.Option(None, help="Train on this directory of .py files instead of the stdlib."),
    seed: int = SEED_OPTION,
    save_every: float = SAVE_EVERY_OPTION,
    eval_every: int = eval_every_option(100),
    resume: bool = RESUME_OPTION,
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
        train_config(steps, batch_size, lr, seed, save_every, eval_every),
        preset,
        window,
        vocab_size,
        tokenizer,
        files,
        resume,
        init=init,
        gap_fraction=gap_fraction,
        extra_packages=split_names(extra_packages),
        extra_share=extra_share,
    )
    typer.echo(
        f"trained DLM: {summary['steps']} steps, validation loss {summary['final_validation_loss']}, "
        f"checkpoint in {out / 'checkpoint'}, best on validation in {out / 'best'}"
    )


@train_app.command("ar")
def train_ar_command(
    dlm: Path = typer.Option(..., help="The frozen DLM checkpoint directory."),
    out: Path = typer.Option(..., help="Run directory: state.pt (resume), log.jsonl, checkpoint/ (the model)."),
    block_size: int = typer.Option(4, help="B: tokens per block (one AR per block size)."),
    conditioning: str = typer.Option("soft", help="soft, top1 or topk:K (the paper's ablation)."),
    frame: bool = typer.Option(True, help="Frame the conditioning with <think>/</think> (--no-frame: the ablation)."),
    residual: bool = typer.Option(
        False, help="Add the DLM marginal's log-probabilities to the AR's logits (soft conditioning; not the paper's)."
    ),
    mask_unit: Optional[int] = typer.Option(
        None, help="Mask runs of this many tokens whole (a multiple of B; default B, the paper's recipe)."
    ),
    steps: Optional[int] = typer.Option(None, help="Optimizer steps (default 1500; with --data: the recipe's)."),
    batch_size: Optional[int] = typer.Option(
        None, help="Windows per step (default 16; with --data: the recipe's); every masked block in them is a training example."
    ),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate (default 1e-3; with --data: the recipe's)."),
    preset: str = typer.Option("ar-small", help="Model size: see codila.models.presets."),
    files: Optional[Path] = typer.Option(None, help="Train on this directory of .py files instead of the stdlib."),
    seed: int = SEED_OPTION,
    save_every: float = SAVE_EVERY_OPTION,
    eval_every: int = eval_every_option(100),
    resume: bool = RESUME_OPTION,
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
    dlm_family: Optional[str] = FAMILY_OPTION,
    device: str = DEVICE_OPTION,
    dtype: Optional[str] = DTYPE_OPTION,
    think_token: str = THINK_OPTION,
    end_think_token: str = END_THINK_OPTION,
):
    """Train a local AR on the marginals of a frozen DLM (with --ar-init and --data: a real AR on a paper-scale DLM; under
    torchrun the global batch is split over the processes)."""
    check_options(locals())
    if ar_init is not None or data is not None:
        from codila.train.ar_sft import recipe_config, train_ar_on_responses

        if ar_init is None or data is None:
            raise CodilaError("--ar-init and --data go together: the causal LM to start from and the examples to train on")
        if residual or mask_unit is not None:
            raise CodilaError("--residual and --mask-unit train tiny ARs on code windows; with --data they are not supported yet")
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
        train_config(steps, batch_size, lr, seed, save_every, eval_every),
        conditioning,
        preset,
        files,
        resume,
        framed=frame,
        init=init,
        gap_fraction=gap_fraction,
        extra_packages=split_names(extra_packages),
        extra_share=extra_share,
        residual=residual,
        mask_unit=mask_unit,
    )
    typer.echo(
        f"trained AR (B={block_size}, {conditioning}): {summary['steps']} steps, validation loss "
        f"{summary['final_validation_loss']}, checkpoint in {out / 'checkpoint'}, best on validation in {out / 'best'}"
    )


@train_app.command("ar-pretrain")
def train_ar_pretrain_command(
    dlm: Path = typer.Option(..., help="The DLM checkpoint whose tokenizer the AR uses (ids must agree)."),
    out: Path = typer.Option(..., help="Run directory: state.pt (resume), log.jsonl, checkpoint/ (the model)."),
    steps: int = steps_option(2000),
    batch_size: int = batch_size_option(32),
    lr: float = lr_option(1e-3),
    window: int = typer.Option(64, help="Training window (tokens)."),
    preset: str = typer.Option("ar-base", help="Model size: see codila.models.presets."),
    files: Optional[Path] = typer.Option(None, help="Train on this directory of .py files instead of the stdlib."),
    seed: int = SEED_OPTION,
    save_every: float = SAVE_EVERY_OPTION,
    eval_every: int = eval_every_option(100),
    resume: bool = RESUME_OPTION,
    extra_packages: Optional[str] = EXTRA_PACKAGES,
    extra_share: Optional[float] = EXTRA_SHARE,
):
    """Pretrain a local AR as a plain causal LM on the training split (then `codila train ar --init` it)."""
    check_options(locals())
    from codila.train.ar_pretrain import pretrain_ar

    summary = pretrain_ar(
        dlm,
        out,
        train_config(steps, batch_size, lr, seed, save_every, eval_every),
        preset,
        window,
        files,
        resume,
        extra_packages=split_names(extra_packages),
        extra_share=extra_share,
    )
    typer.echo(
        f"pretrained AR: {summary['steps']} steps, validation loss {summary['final_validation_loss']}, "
        f"checkpoint in {out / 'checkpoint'}, best on validation in {out / 'best'}"
    )


@train_app.command("planning")
def train_planning_command(
    kind: str = typer.Option(..., help="dlm, ar (the CoDiLA local AR on --dlm) or ar-baseline (left to right, same data)."),
    setting: str = typer.Option(..., help="Generated task setting, e.g. pathstar-d2-l4 (codila.data.planning.registry)."),
    out: Path = typer.Option(..., help="Run directory: state.pt (resume), log.jsonl, checkpoint/ (the model)."),
    dlm: Optional[Path] = typer.Option(None, help="--kind ar: the frozen planning DLM checkpoint."),
    block_size: int = typer.Option(4, help="--kind ar: B."),
    steps: int = steps_option(20000),
    batch_size: int = batch_size_option(64),
    lr: float = lr_option(1e-3),
    preset: str = typer.Option("planning", help="Model size (codila.models.presets); the local AR: planning-ar."),
    seed: int = SEED_OPTION,
    save_every: float = SAVE_EVERY_OPTION,
    eval_every: int = eval_every_option(200),
    resume: bool = RESUME_OPTION,
    init: Optional[Path] = typer.Option(None, help="Warm start from a checkpoint of the same kind (grow the task)."),
    dlm_loss: str = typer.Option(
        "elbo",
        help="--kind dlm: elbo (cross-entropy / t), uniform (mean masked cross-entropy) or mgdm (hard tokens, few masks weigh more).",
    ),
    shifted_logits: bool = typer.Option(
        False, help="--kind dlm: row i-1 predicts token i (Dream's layout; keeps an --init AR baseline's next-token head)."
    ),
):
    """Train a planning model on freshly generated examples (held-out splits never seen)."""
    from codila.train.planning import train_planning

    summary = train_planning(
        kind,
        setting,
        out,
        train_config(steps, batch_size, lr, seed, save_every, eval_every),
        preset,
        dlm,
        block_size,
        resume,
        init=init,
        dlm_loss=dlm_loss,
        shifted_logits=shifted_logits,
    )
    typer.echo(
        f"trained planning {kind} on {setting}: {summary['steps']} steps, validation loss "
        f"{summary['final_validation_loss']}, checkpoint in {out / 'checkpoint'}, best on validation in {out / 'best'}"
    )


@train_app.command("block-scorer")
def train_block_scorer_command(
    out: Path = typer.Option(
        ..., help="Run directory: data/ (the collected decodes), state.pt (resume), block-scorer.pt and its manifest."
    ),
    dlm: Path = typer.Option(None, help="The DLM checkpoint (default: the shipped one)."),
    ar: Path = typer.Option(None, help="The local AR the scorer judges (default: the shipped ar-b4)."),
    n: int = typer.Option(400, help="Spans to decode (32 tokens each)."),
    split: str = typer.Option("train", help="train (collect and fit), or validation / test (the shipped spans: collect only)."),
    scope: int = typer.Option(10, help="Candidate blocks per step of the collecting decodes (static, the entropy rule)."),
    hidden: int = typer.Option(16, help="Hidden width of the scorer (0: logistic regression)."),
    epochs: int = typer.Option(20, help="Passes over the collected decodes when fitting."),
    lr: float = lr_option(3e-3),
    weight_decay: float = typer.Option(1e-3, help="AdamW weight decay of the fit."),
    seed: int = SEED_OPTION,
    resume: bool = typer.Option(False, help="Continue the fit in --out (collected chunks are always reused)."),
    validation: Optional[Path] = typer.Option(
        None, help="A run directory's data/ collected with --split validation: metrics on it."
    ),
    collect_only: bool = typer.Option(False, help="Only decode and record (resumable); fit later."),
):
    """Train the learned block rule (`--choice learned`): decode training-split spans, record each candidate block's
    features and how many of its AR tokens are right, fit a small scorer."""
    check_options(locals())
    from codila.assets import SHIPPED
    from codila.train.block_scorer import train_block_scorer

    metrics = train_block_scorer(
        dlm or SHIPPED / "dlm",
        ar or SHIPPED / "ar-b4",
        out,
        n,
        scope,
        hidden,
        epochs,
        lr,
        weight_decay,
        seed,
        resume,
        validation,
        split,
        collect_only,
        log=typer.echo,
    )
    typer.echo(json.dumps(metrics, indent=1))
