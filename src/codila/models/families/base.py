"""What every DLM family shares: reading a published model directory (config.json, single or sharded safetensors with
their index, tokenizer) and building a transformers model from renamed weights, without remote code."""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from transformers import PreTrainedModel

from codila.errors import CodilaError

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


@dataclass(frozen=True)
class Family:
    """A kind of masked diffusion LM. `model_types`: config.json `model_type` values that name it (lower case).
    `shifted_logits`: row i-1 predicts token i (Dream: its AR initialisation). `default_mask_id`: used when neither the
    config nor the tokenizer names a mask token. `expand_token`: DreamOn's token that grows a masked span, if any.
    `build`: (directory, config dict, dtype, device) -> the bidirectional transformers model with the weights loaded."""

    name: str
    model_types: tuple[str, ...]
    shifted_logits: bool
    build: Callable[[Path, dict, torch.dtype, torch.device], PreTrainedModel]
    default_mask_id: int | None = None
    mask_tokens: tuple[str, ...] = ()
    expand_tokens: tuple[str, ...] = ()
    summary: str = ""


@contextmanager
def quiet_transformers():
    """transformers' notices about remote-code model types and deprecated config fields are expected here: hidden."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(level)


def read_config(directory: Path) -> dict:
    path = directory / "config.json"
    if not path.is_file():
        raise CodilaError(f"{directory} has no config.json: pass a Hugging Face model directory (or a codila checkpoint)")
    return json.loads(path.read_text())


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files holding the weights: the single file, or every shard the index names (all present)."""
    if (directory / INDEX_FILE).is_file():
        shards = sorted(set(json.loads((directory / INDEX_FILE).read_text())["weight_map"].values()))
        missing = [name for name in shards if not (directory / name).is_file()]
        if missing:
            raise CodilaError(
                f"{directory}: shard {missing[0]} named by {INDEX_FILE} is missing ({len(missing)} of {len(shards)}): "
                f"download the complete checkpoint"
            )
        return [directory / name for name in shards]
    if (directory / SINGLE_FILE).is_file():
        return [directory / SINGLE_FILE]
    raise CodilaError(f"{directory} holds no weights ({SINGLE_FILE} or {INDEX_FILE}): download the model's safetensors files")


def load_renamed(
    model: PreTrainedModel, directory: Path, rename: Callable[[str], str], dtype: torch.dtype, device: torch.device
) -> PreTrainedModel:
    """Fill `model` (built on the meta device: no memory, no random init) with the weights of `directory`, each key
    passed through `rename`; every parameter must be covered and no weight left over. Returns it in eval mode."""
    state = {}
    for path in weight_files(directory):
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for key in handle.keys():
                state[rename(key)] = handle.get_tensor(key).to(dtype)
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CodilaError(
            f"{directory}: weights do not match the family's architecture (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}): check --dlm-family"
        )
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    _rebuild_buffers(model, device)
    return model.to(device).eval()


def _rebuild_buffers(model: PreTrainedModel, device: torch.device) -> None:
    """Non-persistent buffers (rotary frequencies) are not in the checkpoint: build them again off the meta device."""
    for name, module in model.named_modules():
        if any(buffer.is_meta for buffer in module.buffers(recurse=False)):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, type(module)(config=model.config))  # built on the CPU, moved with the model


def empty_model(model_class: type, config) -> PreTrainedModel:
    """`model_class(config)` on the meta device (a 7B model costs no memory and no initialisation time)."""
    with torch.device("meta"):
        return model_class(config)
