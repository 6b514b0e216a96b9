"""Save and load checkpoints: a Hugging Face model directory + tokenizer + codila.json (+ manifest.json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

from codila.assets import SHIPPED  # noqa: F401  (re-exported: the shipped tiny models)
from codila.errors import CodilaError
from codila.models.swap import recover_checkpoint, reserve, swap_in
from codila.tokenizer import load_tokenizer

META_FILE = "codila.json"
MANIFEST_FILE = "manifest.json"


def export_checkpoint(
    source: str | Path, destination: str | Path, dtype: str = "float16", note: str | None = None, replace: bool = False
) -> None:
    """Copy a checkpoint with its weights stored in `dtype` (half the size of float32; loading upcasts to float32
    again, so the shipped models are exactly what every measurement ran on). Atomic like every save; an existing
    `destination` is only replaced when it is a codila checkpoint and `replace` is set."""
    source, destination = Path(source), Path(destination)
    check_destination(destination, replace)
    if destination.resolve() == source.resolve():
        raise CodilaError(f"{destination} is the source itself: export to another folder")
    model, tokenizer, meta = load_model(source, None)
    manifest = read_json(source / MANIFEST_FILE) if (source / MANIFEST_FILE).is_file() else {}
    extra = {"stored_dtype": dtype, **({"notes": note} if note else {})}
    save_checkpoint(destination, model.to(getattr(torch, dtype)), tokenizer, meta, {**manifest, **extra})


def check_destination(directory: Path, replace: bool) -> None:
    """Saves never delete what they did not write: refuse a `directory` that exists and is not a codila checkpoint,
    or is one and `replace` is not set."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise CodilaError(f"{directory} exists and is not a folder: choose another destination")
    if not directory.exists() or not any(directory.iterdir()):
        return
    if not (directory / META_FILE).is_file():
        raise CodilaError(
            f"{directory} exists and is not a codila checkpoint (no {META_FILE}): choose another destination; nothing was written"
        )
    if not replace:
        raise CodilaError(
            f"{directory} already holds a codila checkpoint: pass --force to replace it, or choose another destination"
        )


def save_checkpoint(
    directory: str | Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, meta: dict, manifest: dict | None = None
) -> None:
    """Write a checkpoint into a folder of its own beside `directory` (codila.models.swap), then swap it with
    `directory` in one atomic step (a loadable checkpoint sits at `directory` at every instant). `directory` must be
    absent, empty or a codila checkpoint. codila.json is written last: a folder without it is incomplete. A failed
    write (e.g. disk full) removes what it wrote, leaves the previous checkpoint in place and raises CodilaError.
    Nothing but `directory` and the folders this save creates is ever removed."""
    directory = Path(directory)
    recover_checkpoint(directory)
    check_destination(directory, replace=True)
    try:
        reserved = reserve(directory, "new")
    except OSError as error:
        raise CodilaError(
            f"could not write the checkpoint {directory} ({error.strerror or error}): nothing was written"
        ) from None
    tmp = reserved / "checkpoint"
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if manifest is not None:
            (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    except Exception as error:  # noqa: BLE001 - OSError, safetensors' SafetensorError, torch's RuntimeError: disk full
        shutil.rmtree(reserved, ignore_errors=True)
        raise CodilaError(
            f"could not write the checkpoint {directory} ({one_line(error)}): free disk space and "
            "resume; the previous checkpoint is kept"
        ) from None
    swap_in(reserved, directory)


def one_line(error: BaseException) -> str:
    """An exception as a short single line: an OSError's strerror, else the first line of its text."""
    text = getattr(error, "strerror", None) or (str(error).strip().splitlines() or [type(error).__name__])[0]
    return str(text)[:200]


def read_json(path: Path) -> dict:
    """A JSON object from a file the CLI reads, or a one-line error naming the file."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CodilaError(f"{path} is not valid JSON ({error}): restore it, or re-export the checkpoint") from None
    if not isinstance(value, dict):
        raise CodilaError(f"{path} holds a JSON {type(value).__name__}, not an object: restore it, or re-export the checkpoint")
    return value


def read_meta(directory: str | Path, expected_kind: str | None) -> dict:
    """codila.json of a checkpoint; `expected_kind` None accepts any kind."""
    directory = Path(directory)
    if not directory.is_dir():
        advice = f"train one (`codila train {expected_kind}`) or fix the path" if expected_kind else "fix the path"
        raise CodilaError(f"checkpoint {directory} does not exist: {advice}")
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise CodilaError(f"{directory} has no {META_FILE}: not a codila checkpoint")
    meta = read_json(meta_path)
    if expected_kind is not None and meta.get("kind") != expected_kind:
        raise CodilaError(f"{directory} is a {meta.get('kind')!r} checkpoint, but a {expected_kind!r} checkpoint is needed here")
    return meta


def load_model(directory: str | Path, expected_kind: str | None) -> tuple[PreTrainedModel, PreTrainedTokenizerFast, dict]:
    """(model in eval mode, fp32, its tokenizer, its codila.json) from a local directory."""
    meta = read_meta(directory, expected_kind)
    directory = Path(directory)
    config = read_json(directory / "config.json") if (directory / "config.json").is_file() else None
    if config is None:
        raise CodilaError(f"{directory} has no config.json: not a complete checkpoint; re-export or re-train it")
    check_weights(directory)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            str(directory), local_files_only=True, dtype="float32", output_loading_info=True
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise CodilaError(f"{directory} cannot be loaded ({first}): restore the checkpoint or re-export it") from None
    check_loaded(directory, model, info)
    model.eval()
    tokenizer = load_tokenizer(directory)
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise CodilaError(
            f"the tokenizer in {directory} has {len(tokenizer)} tokens but the model's embedding only {rows}: "
            "the tokenizer does not belong to this model; restore the checkpoint's own tokenizer.json"
        )
    return model, tokenizer, meta


def check_loaded(directory: Path, model: PreTrainedModel, info: dict) -> None:
    """Every tensor the model expects came from the checkpoint (none freshly initialised), with finite values."""
    missing = sorted(info.get("missing_keys") or []) + sorted(str(k[0]) for k in info.get("mismatched_keys") or [])
    if missing:
        raise CodilaError(
            f"{directory} lacks {len(missing)} of the model's tensors (e.g. {missing[0]}): the checkpoint is damaged or "
            "not of this model; restore it, re-export it or re-train"
        )
    with torch.no_grad():
        for name, tensor in (*model.named_parameters(), *model.named_buffers()):
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise CodilaError(
                    f"{directory} holds non-finite values (NaN or infinity) in {name}: the checkpoint is damaged; "
                    "restore it, re-export it or re-train"
                )


def check_weights(directory: Path) -> None:
    """A one-line error for missing, empty or truncated safetensors weights (their header states their size)."""
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise CodilaError(f"{directory} has no model.safetensors: not a complete checkpoint; re-export or re-train it")
    for path in files:
        with open(path, "rb") as handle:
            head = handle.read(8)
            size = int.from_bytes(head, "little") if len(head) == 8 else -1
            try:
                header = json.loads(handle.read(size)) if 0 < size < 100 * 2**20 else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                header = None
        try:
            end = max((info["data_offsets"][1] for name, info in header.items() if name != "__metadata__"), default=0)
        except (AttributeError, KeyError, TypeError, IndexError):
            end = None
        if end is None or 8 + size + end > path.stat().st_size:
            raise CodilaError(
                f"{path} is empty, truncated or not safetensors: the checkpoint is damaged; restore it, re-export it or re-train"
            )
