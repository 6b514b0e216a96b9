"""Save and load checkpoints: a Hugging Face model directory + tokenizer + codila.json (+ manifest.json)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

from codila.assets import SHIPPED  # noqa: F401  (re-exported: the shipped tiny models)
from codila.errors import CodilaError
from codila.tokenizer import load_tokenizer

META_FILE = "codila.json"
MANIFEST_FILE = "manifest.json"


def export_checkpoint(source: str | Path, destination: str | Path, dtype: str = "float16", note: str | None = None) -> None:
    """Copy a checkpoint with its weights stored in `dtype` (half the size of float32; loading upcasts to float32
    again, so the shipped models are exactly what every measurement ran on). Atomic like every save."""
    source = Path(source)
    model, tokenizer, meta = load_model(source, None)
    manifest_path = source / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    extra = {"stored_dtype": dtype, **({"notes": note} if note else {})}
    save_checkpoint(destination, model.to(getattr(torch, dtype)), tokenizer, meta, {**manifest, **extra})


def save_checkpoint(
    directory: str | Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, meta: dict, manifest: dict | None = None
) -> None:
    """Write a checkpoint atomically: into a temporary sibling, then swapped in place of `directory`."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    if manifest is not None:
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def read_meta(directory: str | Path, expected_kind: str | None) -> dict:
    """codila.json of a checkpoint; `expected_kind` None accepts any kind."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CodilaError(f"checkpoint {directory} does not exist: train one (`codila train {expected_kind}`) or fix the path")
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise CodilaError(f"{directory} has no {META_FILE}: not a codila checkpoint")
    meta = json.loads(meta_path.read_text())
    if expected_kind is not None and meta.get("kind") != expected_kind:
        raise CodilaError(f"{directory} is a {meta.get('kind')!r} checkpoint, but a {expected_kind!r} checkpoint is needed here")
    return meta


def load_model(directory: str | Path, expected_kind: str | None) -> tuple[PreTrainedModel, PreTrainedTokenizerFast, dict]:
    """(model in eval mode, fp32, its tokenizer, its codila.json) from a local directory."""
    meta = read_meta(directory, expected_kind)
    model = AutoModelForCausalLM.from_pretrained(str(directory), local_files_only=True, dtype="float32")
    model.eval()
    return model, load_tokenizer(directory), meta
