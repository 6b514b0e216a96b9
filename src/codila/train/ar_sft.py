"""`codila train ar --ar-init DIR --data FILE.jsonl`: train a local AR that starts from a causal LM directory (Qwen3-0.6B)
on the marginals of a frozen paper-scale DLM (any family), on prompt/response examples, masking blocks of the response
only (codila.data.responses). The paper's recipe is `--recipe paper` (train/recipes/paper-ar.json); resumable; the best
validation checkpoint is kept in out/best/; under `torchrun` the global batch is split over the processes."""

from __future__ import annotations

import json
from dataclasses import fields
from importlib.resources import files
from pathlib import Path

from codila.data.responses import ResponseSampler, read_examples
from codila.errors import CodilaError
from codila.models.loading import load_ar, load_dlm
from codila.train import distributed
from codila.train.ar_recipe import ArRecipe
from codila.train.loop import TrainConfig, check_run_dir, train
from codila.train.manifest import base_manifest

RECIPES = ("paper",)


def recipe_config(name_or_path: str, **overrides) -> TrainConfig:
    """A TrainConfig from a shipped recipe name (paper) or a JSON file of TrainConfig fields; `overrides` (not None) win."""
    path = (
        Path(str(files("codila.train") / "recipes" / f"{name_or_path}-ar.json"))
        if name_or_path in RECIPES
        else Path(name_or_path)
    )
    if not path.is_file():
        raise CodilaError(f"unknown recipe {name_or_path!r}: use {', '.join(RECIPES)} or a JSON file of training options")
    names = {f.name for f in fields(TrainConfig)}
    values = {key: value for key, value in json.loads(path.read_text()).items() if key in names}
    values.update({key: value for key, value in overrides.items() if value is not None})
    config = TrainConfig(**values)
    if config.accumulate < 1 or config.batch_size < 1:
        raise CodilaError("--batch-size and --accumulate must be >= 1")
    return config


def resolved_autocast(config: TrainConfig, device_type: str) -> TrainConfig:
    """bf16 autocast only where the device runs it well (CUDA with bf16); elsewhere float32."""
    import torch

    if config.autocast == "bfloat16" and not (device_type == "cuda" and torch.cuda.is_bf16_supported()):
        config.autocast = None
    return config


def train_ar_on_responses(
    dlm_path: str | Path,
    ar_init: str | Path,
    data: str | Path,
    out: str | Path,
    block_size: int,
    config: TrainConfig,
    dlm_family: str | None = None,
    conditioning: str = "soft",
    framed: bool = True,
    window: int = 512,
    validation_share: float = 0.05,
    gradient_checkpointing: bool = False,
    device: str | None = "auto",
    dlm_dtype: str | None = None,
    resume: bool = False,
    think_token: str = "<think>",
    end_think_token: str = "</think>",
    progress: bool = True,
) -> dict:
    """Train; returns the summary of the run (also in out/checkpoint/manifest.json)."""
    distributed.init_from_env()
    check_run_dir(Path(out), resume)
    examples = read_examples(data)
    held_out = max(1, int(len(examples) * validation_share)) if len(examples) > 1 else 0
    train_examples, validation_examples = examples[: len(examples) - held_out], examples[len(examples) - held_out :] or examples
    dlm = load_dlm(dlm_path, dlm_family, device, dlm_dtype)
    for parameter in dlm.model.parameters():
        parameter.requires_grad_(False)
    if window > dlm.max_length:
        raise CodilaError(f"--window {window} exceeds the DLM's {dlm.max_length} positions")
    ar = load_ar(ar_init, dlm, conditioning, block_size, think_token, end_think_token, framed)
    ar.model.float().train()  # float32 master weights; the forward may run under bf16 autocast
    if gradient_checkpointing:
        ar.model.gradient_checkpointing_enable()
    config = resolved_autocast(config, dlm.device.type)
    eos = dlm.special.eos_id
    train_sampler = ResponseSampler(train_examples, dlm.tokenizer, window, block_size, eos)
    validation_sampler = ResponseSampler(validation_examples, dlm.tokenizer, window, block_size, eos)
    manifest = base_manifest(
        kind="ar",
        block_size=block_size,
        conditioning=conditioning,
        framed=framed,
        dlm=str(dlm_path),
        dlm_family=dlm.family,
        init_from=str(ar_init),
        data={
            "file": str(data),
            "examples": len(train_examples),
            "validation_examples": len(validation_examples),
            "window": window,
        },
        parameters=sum(p.numel() for p in ar.model.parameters()),
        world_size=(distributed.shard() or (0, 1))[1],
    )
    recipe = ArRecipe(ar, dlm)
    recipe.meta.update({"think_token": think_token, "end_think_token": end_think_token})
    identity = {
        "kind": "ar",
        "block_size": block_size,
        "conditioning": conditioning,
        "framed": framed,
        "dlm": str(dlm_path),
        "init": str(ar_init),
        "window": window,
    }
    return train(
        recipe,
        ar.tokenizer,
        train_sampler,
        validation_sampler,
        config,
        out,
        resume,
        manifest,
        progress and distributed.is_main(),
        identity=identity,
    )
