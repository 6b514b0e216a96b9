"""`codila eval graph|countdown|sudoku`: decode generated planning problems (or a JSONL file of the same format)
with the planning models of a checkpoints folder and verify every answer exactly.

The folder holds `dlm/` (its codila.json names the setting it was trained on), CoDiLA local ARs (`ar-b4/`, ...) and
`ar-baseline/` (the left-to-right AR-only baseline). Every row carries `accuracy` with its binomial standard error
and the setting's trivial floor, the decoder keys (method, mode, k, block_size) and the speed columns; the first
problem's commit order goes into `order_example` for the decode-order picture."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import torch

from codila.data.planning.base import Example, PlanningSpec, decode_answer, prompt_ids, read_jsonl
from codila.data.planning.registry import get_setting
from codila.data.planning.splits import SPLITS, split_examples
from codila.decoding.canvas import Canvas
from codila.decoding.left_to_right import decode_left_to_right_batch
from codila.decoding.registry import get_decoder
from codila.errors import CodilaError
from codila.eval.records import PROBLEMS_FILE, Record, keep_finished, recorder
from codila.eval.settings import ModelSet
from codila.eval.tally import DecodeTally
from codila.models.io import load_model, read_meta

BASELINE = "ar-baseline"  # the checkpoint folder and method name of the AR-only baseline


@dataclass(frozen=True)
class BaselineSetting:
    """The AR-only baseline as an evaluation setting (greedy, one token per step, left to right)."""

    ar: str = BASELINE
    method: str = BASELINE

    def describe(self, ar=None) -> dict:
        return {
            "method": self.method,
            "k": 1,
            "block_size": None,
            "mode": None,
            "conditioning": None,
            "tau": None,
            "scope": None,
            "ar": self.ar,
        }

    def label(self, ar=None) -> str:
        return "AR baseline (left to right)"


class PlanningModels(ModelSet):
    """A planning checkpoints folder: the DLM, its setting, ARs on demand and the baseline."""

    def __init__(self, checkpoints: str | Path):
        super().__init__(checkpoints)
        meta = read_meta(self.root / "dlm", "dlm")
        if meta.get("planning") is None:
            raise CodilaError(f"{self.root / 'dlm'} is not a planning DLM (train one with `codila train planning`)")
        # the layout the models were trained on, in the tokens of their own tokenizer (checkpoints from before the
        # `tokenization` key were character-level): a setting whose tokenization changed keeps its older models usable
        layout = {key: meta[key] for key in ("prompt_length", "answer_length") if key in meta}
        self.spec = replace(get_setting(meta["planning"]), tokenization=meta.get("tokenization", "chars"), **layout)
        self._baseline = None

    def baseline(self):
        if self._baseline is None:
            self._baseline, _, _ = load_model(self.root / BASELINE, "ar-baseline")
        return self._baseline

    def for_setting(self, setting):
        return None if isinstance(setting, BaselineSetting) else super().for_setting(setting)


def shipped_planning(task: str) -> Path:
    """The shipped checkpoints folder of a planning task."""
    from codila.models.io import SHIPPED

    return SHIPPED / f"planning-{task}"


def planning_examples(spec: PlanningSpec, data: str | None, split: str, limit: int | None) -> list[Example]:
    """The problems: a JSONL file of {"input", "output"} rows, or the setting's seeded test or validation split."""
    if split not in SPLITS:
        raise CodilaError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return (read_jsonl(data) if data is not None else split_examples(spec, split))[:limit]


def binomial_se(successes: int, n: int) -> float:
    p = successes / n
    return math.sqrt(p * (1 - p) / n)


def run_planning_setting(
    models: PlanningModels,
    setting,
    examples: list[Example],
    seed: int = 0,
    batch_size: int = 1,
    advance: Callable[[], None] = lambda: None,
    record: Record = lambda fields: None,
) -> dict:
    """One setting over `examples`: its row; `record` receives every problem's prompt, answer, truth and verdict."""
    spec, dlm = models.spec, models.dlm
    canvases = [
        Canvas.completion(prompt_ids(spec, dlm.tokenizer, e.prompt), spec.answer_length, dlm.mask_id, dlm.max_length)
        for e in examples
    ]
    ar = models.for_setting(setting)
    tally, correct, order = DecodeTally(), 0, None
    for first in range(0, len(examples), batch_size):
        chunk = canvases[first : first + batch_size]
        if isinstance(setting, BaselineSetting):
            results = decode_left_to_right_batch(models.baseline(), dlm.special, chunk)
        else:
            generators = [torch.Generator().manual_seed(seed + first + i) for i in range(len(chunk))]
            results = get_decoder(setting.method).decode_batch(dlm, ar, chunk, setting.config, generators)
        for index, (example, result) in enumerate(zip(examples[first : first + batch_size], results), first):
            answer = decode_answer(dlm.tokenizer, result.generated.tolist())
            verified = spec.verify(example.prompt, answer)
            correct += verified
            record({"problem": index, "prompt": example.prompt, "answer": answer, "truth": example.answer, "correct": verified})
            tally.add(result)
            if order is None:
                tokens = dlm.tokenizer.convert_ids_to_tokens(result.generated.tolist())
                order = {
                    "tokens": tokens,
                    "steps": result.commit_step[result.start : result.end].tolist(),
                    "prompt": example.prompt,
                }
            advance()
    return {
        **setting.describe(ar),
        "label": setting.label(ar),
        "setting": spec.name,
        "accuracy": correct / len(examples),
        "accuracy_se": binomial_se(correct, len(examples)),
        "floor": spec.floor,
        **tally.row(),
        "n": len(examples),
        "order_example": order,
    }


def run_planning_eval(
    task: str, settings: list, out: Path, options, checkpoints: str | Path, resume: bool, progress: bool
) -> list[dict]:
    """Like `codila.eval.runner.run_eval` for a planning task (rows appended as they finish; --resume continues)."""
    from rich.progress import Progress

    from codila.eval.runner import ROWS_FILE, _start, write_summary

    models = PlanningModels(checkpoints)
    if models.spec.task != task:
        raise CodilaError(f"the models in {checkpoints} were trained on {models.spec.name} (task {models.spec.task}), not {task}")
    run = {
        "task": task,
        "checkpoints": str(checkpoints),
        "setting": models.spec.name,
        "limit": options.limit,
        "seed": options.seed,
        "data": options.data,
        "split": options.split,
    }
    rows = _start(Path(out), run, resume)
    done = {row["label"] for row in rows}
    keep_finished(Path(out) / PROBLEMS_FILE, done)
    examples = planning_examples(models.spec, options.data, options.split, options.limit)
    todo = [s for s in settings if s.label(models.for_setting(s)) not in done]
    with Progress(disable=not progress, transient=True) as bar:
        tracker = bar.add_task(task, total=len(todo) * len(examples))
        for setting in todo:
            with recorder(Path(out) / PROBLEMS_FILE, setting.label(models.for_setting(setting))) as record:
                advance = partial(bar.advance, tracker)
                row = {
                    **run_planning_setting(models, setting, examples, options.seed, options.batch_size, advance, record),
                    "task": task,
                }
            with (Path(out) / ROWS_FILE).open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            rows.append(row)
    write_summary(Path(out), rows, task)
    return rows
