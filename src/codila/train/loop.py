"""One training loop for every recipe: AdamW, warmup + cosine, clipping, resumable atomic checkpoints.

A recipe owns the trainable model and defines `loss(windows, generator)`; this loop does the rest.
State lives in `out/state.pt` (resume with `resume=True`); `out/checkpoint/` is the latest usable export and
`out/best/` the export with the lowest validation loss so far (what to ship: best on validation, not last).
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from codila.data.windows import WindowSampler
from codila.errors import CodilaError
from codila.models.io import one_line, save_checkpoint
from codila.models.swap import recover_checkpoint, remove_file_leftovers, write_atomically
from codila.train import distributed
from codila.validate import check_options

# what each key of a run's identity (train_dlm / train_ar) is called on the command line
RUN_OPTIONS = {
    "kind": "model kind",
    "preset": "--preset",
    "window": "--window",
    "vocab_size": "--vocab-size",
    "tokenizer": "--tokenizer",
    "block_size": "--block-size",
    "conditioning": "--conditioning",
    "framed": "--frame/--no-frame",
    "residual": "--residual/--no-residual",
    "mask_unit": "--mask-unit",
    "dlm": "--dlm",
    "init": "--init",
    "gap_fraction": "--gap-fraction",
    "extra_share": "--extra-share",
    "files": "--files",
    "extra_packages": "--extra-packages",
    "data": "training data (--files / --extra-packages content)",
}


class Recipe(Protocol):
    model: PreTrainedModel
    meta: dict  # written as codila.json beside the weights

    def loss(self, windows: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


@dataclass
class TrainConfig:
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    warmup_fraction: float = 0.03
    min_lr_fraction: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    eval_every: int = 100
    eval_batches: int = 4
    save_every_seconds: float = 300.0
    seed: int = 0
    accumulate: int = 1  # micro-batches of batch_size per optimizer step (under torchrun: per rank, of the global batch)
    autocast: str | None = None  # "bfloat16": the forward passes under bf16 autocast (float32 master weights)

    def __post_init__(self) -> None:
        check_options(asdict(self))


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warmup over `warmup_fraction` of the steps, then cosine down to `min_lr_fraction` of lr."""
    warmup = max(1, int(config.warmup_fraction * config.steps))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, config.steps - warmup))
    return config.lr * (config.min_lr_fraction + (1 - config.min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


class Interrupted(CodilaError):
    """Ctrl-C during training, after the run was saved: the message says how to resume. A CodilaError, not a
    KeyboardInterrupt (typer turns those into a silent exit 130): the CLI prints it and exits 130."""

    exit_code = 130


@contextlib.contextmanager
def _finish_step_on_interrupt(stop: list):
    """While training: the first SIGINT asks the loop to stop after its step (it appends to `stop`), a second one
    stops at once. Single-process runs only (under torchrun every rank would have to agree on the step)."""
    if distributed.shard() is not None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_interrupt(signum, frame):
        if stop:
            raise KeyboardInterrupt
        stop.append(True)
        print("\ninterrupted: finishing this step, then saving (Ctrl-C again stops at once, unsaved)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def resume_command() -> str:
    """The command line of this process with --resume (`codila train ...`), or a hint when not run from the CLI."""
    args = sys.argv[1:]
    if not args or args[0] != "train":
        return "--resume (same options)"
    return "`codila " + " ".join(shlex.quote(a) for a in args + ([] if "--resume" in args else ["--resume"])) + "`"


RUN_MARK = "codila-run.json"  # written first into a training run's --out: what kind of run the folder holds


def check_run_dir(out: Path, resume: bool, kind: str | None = None) -> Path:
    """The state file of run directory `out`; refuses a folder that is not a codila training run of this `kind`
    (a user's folder is never written into), to overwrite a run, or to resume a missing one. On resume the
    checkpoints are first repaired from wherever an interrupted save left them (codila.models.swap)."""
    out = Path(out)
    state_path = out / "state.pt"
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise CodilaError(f"--out {out} exists and is not a folder: choose another --out; nothing was written")
    if out.is_dir() and any(not p.name.startswith(f".{RUN_MARK}.codila-tmp-") for p in out.iterdir()):
        mark = _run_mark(out)
        if mark is None and not state_path.is_file():  # runs saved before codila-run.json existed have state.pt
            raise CodilaError(
                f"--out {out} exists and is not a codila training run (no {RUN_MARK}): choose another --out; nothing was written"
            )
        if mark is not None and kind is not None and mark.get("model") not in (kind, None):
            raise CodilaError(
                f"--out {out} holds a training run of a {mark.get('model')!r} model, not {kind!r}: choose another --out"
            )
    if state_path.exists() and not resume:
        raise CodilaError(f"{out} already holds a training run: pass --resume to continue it or choose another --out")
    if resume and not state_path.exists():
        raise CodilaError(
            f"--resume: no {state_path} to resume from (the run saved nothing yet): start it again without --resume"
        )
    if resume:
        for folder in ("checkpoint", "best"):
            recover_checkpoint(out / folder)
        remove_file_leftovers(state_path)
    return state_path


def _run_mark(out: Path) -> dict | None:
    try:
        mark = json.loads((out / RUN_MARK).read_text())
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) and mark.get("kind") == "train" else None


def mark_run_dir(out: Path, kind: str | None) -> None:
    if _run_mark(out) is None:
        write_atomically(out / RUN_MARK, lambda path: path.write_text(json.dumps({"kind": "train", "model": kind}) + "\n"))


def check_same_run(saved: dict | None, asked: dict) -> None:
    """Resume only with the options that define the run's model and data (`saved`: those of its state.pt)."""
    for name in sorted(set(saved or {}) | set(asked)):
        if saved is not None and saved.get(name) != asked.get(name):
            raise CodilaError(
                f"--resume with a different {RUN_OPTIONS.get(name, name)} than the run "
                f"({asked.get(name)!r} instead of {saved.get(name)!r}): pass the run's value or choose another --out"
            )


def autocast(model: PreTrainedModel, config: TrainConfig):
    """bf16 autocast on the model's device when the config asks for it (a no-op context otherwise)."""
    return torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=config.autocast == "bfloat16")


def _loss(recipe: Recipe, batch, generator: torch.Generator) -> torch.Tensor:
    """The recipe's loss on this rank's share of a global batch (all of it in one process)."""
    part = distributed.shard()
    return recipe.loss(batch, generator) if part is None else recipe.loss(batch, generator, part)


def evaluate_loss(recipe: Recipe, windows: list[torch.Tensor], seed: int, config: TrainConfig | None = None) -> float:
    """The recipe's mean loss over `windows` (a list of batches), without gradients, masks drawn from `seed`."""
    recipe.model.eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad(), autocast(recipe.model, config or TrainConfig()):
        losses = [distributed.mean_over_ranks(_loss(recipe, batch, generator).item()) for batch in windows]
    recipe.model.train()
    return sum(losses) / len(losses)


def train(
    recipe: Recipe,
    tokenizer: PreTrainedTokenizerFast,
    train_windows: WindowSampler,
    validation_windows: WindowSampler,
    config: TrainConfig,
    out: str | Path,
    resume: bool = False,
    manifest: dict | None = None,
    progress: bool = True,
    identity: dict | None = None,
) -> dict:
    """Train `recipe.model`; returns the summary written into the manifest (losses, tokens, seconds). `identity`:
    the options that define the model and data, kept in state.pt; a resumed run must repeat them."""
    out = Path(out)
    kind = recipe.meta.get("kind")
    state_path = check_run_dir(out, resume, kind)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CodilaError(f"cannot create --out {out} ({error.strerror or error}): choose another --out") from None
    if distributed.is_main():
        mark_run_dir(out, kind)
    model = recipe.model
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    loss_module = distributed.data_parallel(recipe)  # DistributedDataParallel under torchrun
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(config.seed)
    validation = [
        validation_windows.sample(config.batch_size, torch.Generator().manual_seed(config.seed + 1 + i))
        for i in range(config.eval_batches)
    ]
    step, elapsed, history = 0, 0.0, []
    best_path = out / "best"
    main = distributed.is_main()
    if resume:
        try:
            state = torch.load(state_path, weights_only=False)
        except Exception as error:  # noqa: BLE001 - any unreadable state file gets the same advice
            raise CodilaError(
                f"{state_path} cannot be read ({type(error).__name__}): the run cannot resume; start it "
                "again in another --out (its checkpoint/ holds the last exported model)"
            ) from None
        check_same_run(state.get("identity"), identity or {})
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]

    def summary() -> dict:
        last_train = [h["train_loss"] for h in history[-20:] if "train_loss" in h]
        evals = [h for h in history if "validation_loss" in h]
        return {
            "steps": step,
            "tokens_seen": step * config.batch_size * train_windows.length,
            "train_seconds": round(elapsed, 1),
            "final_train_loss": round(sum(last_train) / len(last_train), 4) if last_train else None,
            "final_validation_loss": evals[-1]["validation_loss"] if evals else None,
            "train_config": asdict(config),
        }

    def best_so_far() -> float:
        return min((h["validation_loss"] for h in history if "validation_loss" in h), default=float("inf"))

    def save() -> None:
        """The checkpoint first, then state.pt: a state file always comes with a complete checkpoint. Under torchrun,
        rank 0 writes."""
        if not main:
            return
        save_checkpoint(out / "checkpoint", model, tokenizer, recipe.meta, {**(manifest or {}), **summary()})
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "step": step,
            "elapsed": elapsed,
            "history": history,
            "identity": identity,
        }
        try:
            write_atomically(state_path, lambda path: torch.save(state, path))
        except Exception as error:  # noqa: BLE001 - OSError; torch reports a full disk as a RuntimeError
            raise CodilaError(
                f"could not write {state_path} ({one_line(error)}): free disk space and --resume (the previous state is kept)"
            ) from None

    stop = []  # Ctrl-C: finish the step, save, say how to resume
    with _finish_step_on_interrupt(stop):
        last_save = time.monotonic()
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            disable=not progress,
        )
        with bar, open(out / ("log.jsonl" if main else f"log.rank{distributed.shard()[0]}.jsonl"), "w") as log:
            log.writelines(json.dumps(record) + "\n" for record in history)  # a resumed run drops steps after its last save
            task = bar.add_task("train", total=config.steps, completed=step, loss="-")
            while step < config.steps and not stop:
                started = time.monotonic()
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(step, config)
                optimizer.zero_grad(set_to_none=True)
                loss_value = 0.0
                for micro in range(config.accumulate):
                    with distributed.no_sync(loss_module, micro == config.accumulate - 1):  # DDP: one all-reduce per step
                        with autocast(model, config):
                            loss = loss_module(train_windows.sample(config.batch_size, generator), generator) / config.accumulate
                        loss.backward()
                    loss_value += loss.item()
                torch.nn.utils.clip_grad_norm_(params, config.clip_norm)
                optimizer.step()
                step += 1
                elapsed += time.monotonic() - started
                record = {
                    "step": step,
                    "train_loss": round(distributed.mean_over_ranks(loss_value), 4),
                    "lr": optimizer.param_groups[0]["lr"],
                    "seconds": round(elapsed, 1),
                }
                is_best = False
                if step % config.eval_every == 0 or step == config.steps:
                    record["validation_loss"] = round(evaluate_loss(recipe, validation, config.seed, config), 4)
                    is_best = main and record["validation_loss"] < best_so_far()
                history.append(record)
                if is_best:
                    save_checkpoint(
                        best_path, model, tokenizer, recipe.meta, {**(manifest or {}), **summary(), "best_step": step}
                    )
                log.write(json.dumps(record) + "\n")
                log.flush()
                bar.update(task, completed=step, loss=f"{record['train_loss']:.3f}")
                if time.monotonic() - last_save >= config.save_every_seconds:
                    save()
                    last_save = time.monotonic()
    save()
    if stop:
        raise Interrupted(
            f"interrupted at step {step} of {config.steps}: the run is saved in {out}; continue it with {resume_command()}"
        )
    return summary()
