"""`codila train ar-pretrain`: pretrain a local AR as a plain causal LM on the DLM's training split, with the DLM's
tokenizer (so their ids agree); `codila train ar --init` then trains it with the CoDiLA objective."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Qwen3ForCausalLM

from codila.data.corpus import training_corpus
from codila.data.windows import WindowSampler
from codila.models.io import load_model
from codila.models.presets import qwen3_config
from codila.tokenizer import SpecialIds
from codila.train.ar_pretrain_recipe import CausalLmRecipe
from codila.train.loop import TrainConfig, check_run_dir, train
from codila.train.manifest import base_manifest


def pretrain_ar(
    dlm_path: str | Path,
    out: str | Path,
    config: TrainConfig,
    preset: str = "ar-base",
    window: int = 64,
    files: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    extra_packages: list[str] | None = None,
    extra_share: float | None = None,
) -> dict:
    """Pretrain a causal LM of `preset` on windows of `window` tokens of the training split (plus `extra_packages`,
    as the DLM was trained), tokenized with the DLM's tokenizer in `dlm_path`, into `out`."""
    check_run_dir(Path(out), resume)
    _, tokenizer, _ = load_model(dlm_path, "dlm")
    eos = SpecialIds.from_tokenizer(tokenizer).eos_id
    train_files, extra_files, validation_files, data = training_corpus(files, extra_packages)
    torch.manual_seed(config.seed)  # weight initialisation inside transformers draws from the global generator
    model = Qwen3ForCausalLM(qwen3_config(preset, len(tokenizer), window, bidirectional=False))
    manifest = base_manifest(
        kind="ar-lm",
        preset=preset,
        window=window,
        dlm_tokenizer=str(dlm_path),
        parameters=sum(p.numel() for p in model.parameters()),
        extra_share=extra_share,
        data=data,
    )
    train_windows = WindowSampler(train_files, tokenizer, window, eos, extra_files, extra_share)
    return train(
        CausalLmRecipe(model, eos),
        tokenizer,
        train_windows,
        WindowSampler(validation_files, tokenizer, window, eos),
        config,
        out,
        resume,
        manifest,
        progress,
    )
