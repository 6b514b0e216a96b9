"""`codila eval graph|countdown|sudoku` (`codila.eval.tasks.planning`): decode generated planning problems (or a JSONL
file of the same format) with the planning models of a checkpoints folder and verify every answer exactly.

The folder holds `dlm/` (its codila.json names the setting it was trained on), CoDiLA local ARs (`ar-b4/`, ...) and
`ar-baseline/` (the left-to-right AR-only baseline, decoder `ar-baseline`). Every row carries `accuracy` with its binomial standard error
and the setting's trivial floor, the decoder keys (method, mode, k, block_size) and the speed columns; the first
problem's commit order goes into `order_example` for the decode-order picture."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Callable

from codila.data.planning.base import Example, PlanningSpec, decode_answer, prompt_ids, read_jsonl
from codila.data.planning.registry import get_setting
from codila.data.planning.splits import SPLITS, split_examples
from codila.decoding.canvas import Canvas
from codila.decoding.registry import decode
from codila.errors import CodilaError
from codila.eval.records import Record
from codila.eval.settings import ModelSet
from codila.eval.tally import DecodeTally
from codila.models.io import read_meta


class PlanningModels(ModelSet):
    """A planning checkpoints folder: the DLM, its setting, and the ARs (the baseline too) on demand."""

    def __init__(self, checkpoints: str | Path):
        meta = self.planning_meta(checkpoints)
        super().__init__(checkpoints)
        # the layout the models were trained on, in the tokens of their own tokenizer (checkpoints from before the
        # `tokenization` key were character-level): a setting whose tokenization changed keeps its older models usable
        layout = {key: meta[key] for key in ("prompt_length", "answer_length") if key in meta}
        self.spec = replace(get_setting(meta["planning"]), tokenization=meta.get("tokenization", "chars"), **layout)
        self._baseline = None

    @staticmethod
    def planning_meta(checkpoints: str | Path) -> dict:
        meta = read_meta(Path(checkpoints) / "dlm", "dlm")
        if meta.get("planning") is None:
            raise CodilaError(f"{Path(checkpoints) / 'dlm'} is not a planning DLM (train one with `codila train planning`)")
        return meta

    @classmethod
    def setting_name(cls, checkpoints: str | Path) -> str:
        """The planning setting the folder's DLM was trained on (as its `spec.name`), read without loading a model."""
        return get_setting(cls.planning_meta(checkpoints)["planning"]).name


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
        results = decode(setting.method, dlm, ar, chunk, setting.config, seed + first)
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
