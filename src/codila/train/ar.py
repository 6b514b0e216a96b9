"""`codila train ar`: train a local AR (Qwen3 causal LM) for one block size on a frozen DLM."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Qwen3ForCausalLM

from codila.data.corpus import training_corpus
from codila.data.windows import WindowSampler
from codila.errors import CodilaError
from codila.models.io import load_model, read_meta
from codila.models.loading import load_ar, load_dlm
from codila.models.local_ar import LocalAR
from codila.models.presets import qwen3_config
from codila.tokenizer import same_tokenizer
from codila.train.ar_pretrain_recipe import PRETRAINED_AR_KIND
from codila.train.ar_recipe import ArRecipe
from codila.train.loop import TrainConfig, check_run_dir, train
from codila.train.manifest import base_manifest, init_record, read_manifest
from codila.validate import check_options


def train_ar(
    dlm_path: str | Path,
    out: str | Path,
    block_size: int,
    config: TrainConfig,
    conditioning: str = "soft",
    preset: str = "ar-small",
    files: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    framed: bool = True,
    init: str | Path | None = None,
    gap_fraction: float = 0.0,
    extra_packages: list[str] | None = None,
    extra_share: float | None = None,
    residual: bool = False,
    mask_unit: int | None = None,
) -> dict:
    """Train an AR for blocks of `block_size` on the frozen DLM in `dlm_path` into `out`. `init`: start from this AR
    checkpoint's weights (a warm start with a fresh optimizer, e.g. after the DLM was trained further); it must
    have the same block size, conditioning, frame and tokenizer; or a pretrained causal LM (`codila train
    ar-pretrain`, any block size). `gap_fraction`: the share of windows whose
    response is one contiguous run of blocks (infilling canvases; codila.diffusion.masking.gap_regions).
    `extra_packages`, `extra_share`: installed packages whose source joins the training windows (as for the DLM).
    `residual`: the DLM marginal's log-probabilities join the AR's logits (codila.models.local_ar). `mask_unit`: runs
    of this many tokens are masked whole (a multiple of the block size; default: the block size, the paper's)."""
    check_options({"block_size": block_size, "gap_fraction": gap_fraction, "extra_share": extra_share, "mask_unit": mask_unit})
    unit = mask_unit or block_size
    if unit % block_size:
        raise CodilaError(f"--mask-unit {unit} is not a multiple of the block size {block_size}")
    if residual and conditioning != "soft":
        raise CodilaError(f"--residual needs soft conditioning, not {conditioning!r}")
    check_run_dir(Path(out), resume)
    identity = {
        "kind": "ar",
        "preset": preset,
        "block_size": block_size,
        "conditioning": conditioning,
        "framed": framed,
        "residual": residual,
        **({"mask_unit": mask_unit} if mask_unit not in (None, block_size) else {}),
        "dlm": str(Path(dlm_path).resolve()),
        "init": str(init) if init is not None else None,
        "gap_fraction": gap_fraction,
        "extra_share": extra_share,
    }
    dlm = load_dlm(dlm_path)
    for parameter in dlm.model.parameters():
        parameter.requires_grad_(False)
    window = dlm.max_length - dlm.max_length % unit
    if window < 2 * unit:
        raise CodilaError(
            f"--block-size {block_size} (masked in runs of {unit}) does not fit the DLM's window of {dlm.max_length} "
            f"tokens: use at most {dlm.max_length // 2}"
        )
    train_files, extra_files, validation_files, data = training_corpus(files, extra_packages)
    identity["data"] = {**data, "window": window}
    if init is not None and not resume:
        ar = _warm_start(init, dlm, block_size, conditioning, framed, residual)
        ar.model.train()
        preset = read_manifest(init).get("preset", preset)
    else:
        torch.manual_seed(config.seed)  # weight initialisation inside transformers draws from the global generator
        model = Qwen3ForCausalLM(qwen3_config(preset, len(dlm.tokenizer), 2 * block_size + 2, bidirectional=False))
        ar = LocalAR(model, dlm.tokenizer, block_size, conditioning, framed, residual=residual)
    manifest = base_manifest(
        kind="ar",
        preset=preset,
        block_size=block_size,
        conditioning=conditioning,
        framed=framed,
        residual=residual,
        mask_unit=unit,
        dlm=str(dlm_path),
        parameters=sum(p.numel() for p in ar.model.parameters()),
        init_from=init_record(init) if init is not None else None,
        gap_fraction=gap_fraction,
        extra_share=extra_share,
        data={**data, "window": window},
    )
    eos = dlm.special.eos_id
    train_windows = WindowSampler(train_files, dlm.tokenizer, window, eos, extra_files, extra_share)
    return train(
        ArRecipe(ar, dlm, gap_fraction, unit),
        dlm.tokenizer,
        train_windows,
        WindowSampler(validation_files, dlm.tokenizer, window, eos),
        config,
        out,
        resume,
        manifest,
        progress,
        identity,
    )


def _warm_start(init: str | Path, dlm, block_size: int, conditioning: str, framed: bool, residual: bool = False) -> LocalAR:
    """The AR to train from `init`: its weights; the residual path may be switched on or off (a warm start learns the
    correction from the AR's own logits)."""
    if read_meta(init, None).get("kind") == PRETRAINED_AR_KIND:  # a pretrained causal LM (`codila train ar-pretrain`)
        model, tokenizer, _ = load_model(init, PRETRAINED_AR_KIND)
        if not same_tokenizer(dlm.tokenizer, tokenizer):
            raise CodilaError(f"the pretrained AR in {init} and the DLM use different tokenizers: pretrain it with this DLM's")
        return LocalAR(model, dlm.tokenizer, block_size, conditioning, framed, residual=residual)
    ar = load_ar(init, dlm)
    trained = (ar.block_size, ar.conditioning, ar.framed)
    if trained != (block_size, conditioning, framed):
        raise CodilaError(
            f"the AR in {init} was trained with block size, conditioning, frame = {trained}; "
            f"asked for {(block_size, conditioning, framed)}: pass the matching options or drop --init"
        )
    ar.residual = residual
    return ar
