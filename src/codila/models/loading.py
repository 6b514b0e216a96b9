"""Load a DLM and a local AR from checkpoint directories, checking they fit together."""

from __future__ import annotations

from pathlib import Path

from codila.errors import CodilaError
from codila.models.dlm import DiffusionLM
from codila.models.io import load_model
from codila.models.local_ar import LocalAR
from codila.tokenizer import same_tokenizer


def load_dlm(path: str | Path) -> DiffusionLM:
    model, tokenizer, meta = load_model(path, "dlm")
    return DiffusionLM(model, tokenizer, shifted_logits=bool(meta.get("shifted_logits", False)))


def load_ar(path: str | Path, dlm: DiffusionLM | None = None, conditioning: str | None = None) -> LocalAR:
    """The AR in `path`; `conditioning` overrides the one it was trained with (for the ablation)."""
    model, tokenizer, meta = load_model(path, "ar")
    if dlm is not None and not same_tokenizer(dlm.tokenizer, tokenizer):
        raise CodilaError(f"the AR in {path} and the DLM use different tokenizers: train the AR on this DLM")
    return LocalAR(model, tokenizer, int(meta["block_size"]), conditioning or meta.get("conditioning", "soft"), meta.get("framed", True))
