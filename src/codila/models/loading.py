"""Load a DLM and a local AR from local directories, checking they fit together.

A DLM directory is one of the families in codila.models.families (Dream, LLaDA, codila's own); an AR directory is a
codila checkpoint or any local causal LM (Qwen3-like), whose frame tokens are found by name in its tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from codila.errors import CodilaError
from codila.models.alignment import VocabAlignment
from codila.models.causal_ar import BASELINE_KIND, CausalAR
from codila.models.devices import resolve_device, resolve_dtype
from codila.models.dlm import DiffusionLM
from codila.models.families.base import quiet_transformers, weight_files
from codila.models.families.registry import resolve_family
from codila.models.io import META_FILE, load_model
from codila.models.local_ar import LocalAR
from codila.tokenizer import END_THINK_TOKEN, THINK_TOKEN, SpecialIds, load_tokenizer, same_tokenizer, token_named


def _first_id(value) -> int | None:
    return value[0] if isinstance(value, list) and value else value if isinstance(value, int) else None


def _dlm_special(tokenizer, config: dict, family) -> SpecialIds:
    """Mask id: config.json's mask_token_id, else the tokenizer's mask token, else the family's mask token or id."""
    mask = _first_id(config.get("mask_token_id"))
    mask = mask if mask is not None else tokenizer.mask_token_id
    mask = (
        mask
        if mask is not None
        else next((token_named(tokenizer, t) for t in family.mask_tokens if token_named(tokenizer, t) is not None), None)
    )
    mask = mask if mask is not None else family.default_mask_id
    if mask is None:
        raise CodilaError(
            f"the {family.name} DLM names no mask token (config mask_token_id or tokenizer mask_token): add one to its config.json"
        )
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else _first_id(config.get("eos_token_id"))
    if eos is None:
        raise CodilaError(f"the {family.name} DLM's tokenizer names no EOS token: set eos_token in its tokenizer_config.json")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else _first_id(config.get("pad_token_id"))
    return SpecialIds(mask, eos, eos if pad is None else pad, -1, -1)


def load_dlm(
    path: str | Path, family: str | None = None, device: str | torch.device | None = "cpu", dtype: str | torch.dtype | None = None
) -> DiffusionLM:
    """The DLM in `path` on `device` in `dtype` (default float32); `family` None reads it from config.json."""
    path = Path(path)
    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    if (path / META_FILE).is_file() and family in (None, "codila"):
        model, tokenizer, meta = load_model(path, "dlm")
        return DiffusionLM(
            model.to(resolved_device, resolved_dtype), tokenizer, shifted_logits=bool(meta.get("shifted_logits", False))
        )
    spec, config = resolve_family(path, family)
    weight_files(path)  # missing weights or shards fail before anything loads
    with quiet_transformers():
        tokenizer = load_tokenizer(path)
        special = _dlm_special(tokenizer, config, spec)
        model = spec.build(path, config, resolved_dtype, resolved_device)
    expand = next((token_named(tokenizer, t) for t in spec.expand_tokens if token_named(tokenizer, t) is not None), None)
    return DiffusionLM(model, tokenizer, shifted_logits=spec.shifted_logits, special=special, expand_id=expand, family=spec.name)


def load_ar(
    path: str | Path,
    dlm: DiffusionLM | None = None,
    conditioning: str | None = None,
    block_size: int | None = None,
    think_token: str = THINK_TOKEN,
    end_think_token: str = END_THINK_TOKEN,
    framed: bool | None = None,
) -> LocalAR | CausalAR:
    """The AR in `path`, on the DLM's device and dtype. `conditioning` overrides the one it was trained with (the
    ablation). A directory codila did not write: `block_size` is required, the frame tokens are found by name.
    A left-to-right AR-only baseline (codila.json kind ar-baseline) loads as a `CausalAR`."""
    path = Path(path)
    if read_ar_meta(path).get("kind") == BASELINE_KIND:
        return _baseline(path, dlm)
    if (path / META_FILE).is_file():
        model, tokenizer, meta = load_model(path, "ar")
        if think_token == THINK_TOKEN and end_think_token == END_THINK_TOKEN:  # the frame tokens it was trained with
            think_token, end_think_token = meta.get("think_token", think_token), meta.get("end_think_token", end_think_token)
        if dlm is not None and not same_tokenizer(dlm.tokenizer, tokenizer):
            return _paired(
                model,
                tokenizer,
                path,
                dlm,
                conditioning or meta.get("conditioning", "soft"),
                block_size or int(meta["block_size"]),
                think_token,
                end_think_token,
                meta.get("framed", True) if framed is None else framed,
                bool(meta.get("residual", False)),
            )
        if block_size is not None and block_size != int(meta["block_size"]):
            raise CodilaError(
                f"the AR in {path} was trained for blocks of {meta['block_size']} tokens, not {block_size}: drop --block-size"
            )
        if dlm is not None:
            model = model.to(dlm.device, dlm.model.dtype)
        ar = LocalAR(
            model,
            tokenizer,
            int(meta["block_size"]),
            conditioning or meta.get("conditioning", "soft"),
            meta.get("framed", True) if framed is None else framed,
            residual=bool(meta.get("residual", False)),
        )
        ar.directory = path  # where `--choice learned` finds its block scorer (codila.decoding.block_scorer)
        return ar
    if dlm is None:
        raise CodilaError(f"{path} is not a codila AR checkpoint: load it with its DLM")
    if not path.is_dir():
        raise CodilaError(f"AR directory {path} does not exist: fix the path")
    if not (path / "config.json").is_file():
        raise CodilaError(f"{path} has no config.json: pass a Hugging Face causal LM directory")
    weight_files(path)
    if block_size is None:
        raise CodilaError(f"{path} records no block size (it is not a codila checkpoint): pass --block-size B")
    with quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, dtype=dlm.model.dtype, trust_remote_code=False
        )
        tokenizer = load_tokenizer(path)
    return _paired(
        model.to(dlm.device).eval(),
        tokenizer,
        path,
        dlm,
        conditioning or "soft",
        block_size,
        think_token,
        end_think_token,
        True if framed is None else framed,
    )


def _baseline(path: Path, dlm: DiffusionLM | None) -> CausalAR:
    model, tokenizer, _ = load_model(path, BASELINE_KIND)
    if dlm is not None:
        if not same_tokenizer(dlm.tokenizer, tokenizer):
            raise CodilaError(f"the AR baseline in {path} does not share the DLM's tokenizer: pair it with its own DLM")
        model = model.to(dlm.device, dlm.model.dtype)
    return CausalAR(model, tokenizer)


def _paired(
    model,
    tokenizer,
    path: Path,
    dlm: DiffusionLM,
    conditioning: str,
    block_size: int,
    think_token: str,
    end_think_token: str,
    framed: bool,
    residual: bool = False,
) -> LocalAR:
    """A LocalAR over a tokenizer that is not the DLM's: the frame tokens by name, the vocabularies aligned id by id."""
    think, end_think = token_named(tokenizer, think_token), token_named(tokenizer, end_think_token)
    if framed and (think is None or end_think is None):
        raise CodilaError(
            f"the AR tokenizer in {path} has no {think_token!r} / {end_think_token!r} frame tokens: name its own with "
            f"--think-token / --end-think-token"
        )
    alignment = VocabAlignment.between(dlm.tokenizer, dlm.vocab_rows, tokenizer, model.get_input_embeddings().weight.shape[0])
    special = SpecialIds(
        dlm.special.mask_id,
        dlm.special.eos_id,
        dlm.special.pad_id,
        -1 if think is None else think,
        -1 if end_think is None else end_think,
    )
    return LocalAR(
        model.to(dlm.device, dlm.model.dtype), tokenizer, block_size, conditioning, framed, special, alignment, residual
    )


def read_ar_meta(path: str | Path) -> dict:
    """codila.json of an AR directory, or {} for a directory codila did not write."""
    meta_path = Path(path) / META_FILE
    return json.loads(meta_path.read_text()) if meta_path.is_file() else {}
