"""`codila train dlm`: train the tokenizer (unless given) and a bidirectional Qwen3 as a masked diffusion LM."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Qwen3ForCausalLM

from codila.data.corpus import training_corpus
from codila.data.windows import WindowSampler
from codila.errors import CodilaError
from codila.models.io import load_model, read_json
from codila.models.presets import qwen3_config
from codila.tokenizer import SpecialIds, load_tokenizer, same_tokenizer, train_tokenizer
from codila.train import distributed
from codila.train.dlm_recipe import DlmRecipe
from codila.train.loop import TrainConfig, check_run_dir, train
from codila.train.manifest import base_manifest, init_record
from codila.validate import check_options


def train_dlm(
    out: str | Path,
    config: TrainConfig,
    preset: str = "dlm-small",
    window: int = 128,
    vocab_size: int = 4096,
    tokenizer_path: str | Path | None = None,
    files: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    init: str | Path | None = None,
    gap_fraction: float = 0.0,
    extra_packages: list[str] | None = None,
    extra_share: float | None = None,
) -> dict:
    """Train a DLM into `out`. `init`: start from this DLM checkpoint's weights and tokenizer (a warm start with
    a fresh optimizer and schedule: how a run continues across machines or sessions when only the exported
    checkpoint survived); its window and architecture are kept. `gap_fraction`: the share of windows masked
    inside one contiguous gap only (infilling canvases; codila.diffusion.masking.gap_regions). `extra_packages`:
    installed packages whose source joins the training windows (codila.data.corpus.extra_training_files), drawn
    with probability `extra_share` (None: in proportion to their length)."""
    check_options({"window": window, "vocab_size": vocab_size, "gap_fraction": gap_fraction, "extra_share": extra_share})
    distributed.init_from_env()  # under torchrun: DistributedDataParallel over the ranks (codila.train.distributed)
    check_run_dir(Path(out), resume)
    train_files, extra_files, validation_files, data = training_corpus(files, extra_packages)
    out = Path(out)
    identity = {
        "kind": "dlm",
        "preset": preset,
        "window": window if init is None else None,
        "vocab_size": vocab_size,
        "init": str(init) if init is not None else None,
        "gap_fraction": gap_fraction,
        "extra_share": extra_share,
        "data": data,
    }
    init_from = init_record(init) if init is not None else None
    if init is not None and not resume:
        model, tokenizer, _ = load_model(init, "dlm")
        model.train()
        window = model.config.max_position_embeddings
    elif resume:
        tokenizer = load_tokenizer(out / "checkpoint")
        if tokenizer_path is not None and not same_tokenizer(load_tokenizer(tokenizer_path), tokenizer):
            raise CodilaError(
                f"--resume with a different --tokenizer than the run ({tokenizer_path}): drop --tokenizer "
                "(a resumed run keeps its own) or choose another --out"
            )
        if init is not None:  # the warm start's window, kept by the run
            window = read_json(out / "checkpoint" / "config.json")["max_position_embeddings"]
    elif tokenizer_path is not None:
        tokenizer = load_tokenizer(tokenizer_path)
    else:
        tokenizer = train_tokenizer((f.text for f in train_files), vocab_size)
    special = SpecialIds.from_tokenizer(tokenizer)
    if init is None or resume:
        torch.manual_seed(config.seed)  # weight initialisation inside transformers draws from the global generator
        model = Qwen3ForCausalLM(qwen3_config(preset, len(tokenizer), window, bidirectional=True))
    manifest = base_manifest(
        kind="dlm",
        preset=preset,
        window=window,
        vocab_size=len(tokenizer),
        parameters=sum(p.numel() for p in model.parameters()),
        init_from=init_from,
        gap_fraction=gap_fraction,
        extra_share=extra_share,
        data=data,
        world_size=(distributed.shard() or (0, 1))[1],
    )
    train_windows = WindowSampler(train_files, tokenizer, window, special.eos_id, extra_files, extra_share)
    return train(
        DlmRecipe(model, special.mask_id, gap_fraction),
        tokenizer,
        train_windows,
        WindowSampler(validation_files, tokenizer, window, special.eos_id),
        config,
        out,
        resume,
        manifest,
        progress and distributed.is_main(),
        identity,
    )
