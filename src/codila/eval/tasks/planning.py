"""A planning task (codila.data.planning): problems are generated for the setting the models were trained on (or read
from `--data`), decoded with a planning checkpoints folder (`codila.eval.planning_run.PlanningModels`) and verified
exactly; nothing is executed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from codila.errors import CodilaError
from codila.eval.tasks.interface import TaskDefaults


@dataclass(frozen=True)
class PlanningTask(TaskDefaults):
    name: str
    description: str
    infilling: bool = False
    kind = "planning"
    order_plot = True

    def default_checkpoints(self) -> Path:
        from codila.eval.planning_run import shipped_planning

        return shipped_planning(self.name)

    def models(self, checkpoints: str | Path):
        from codila.eval.planning_run import PlanningModels

        models = PlanningModels(checkpoints)
        if models.spec.task != self.name:
            raise CodilaError(
                f"the models in {checkpoints} were trained on {models.spec.name} (task {models.spec.task}), not {self.name}"
            )
        return models

    def identity(self, checkpoints: str | Path, options) -> dict:
        from codila.eval.planning_run import PlanningModels

        setting = PlanningModels.setting_name(checkpoints)
        return {
            "task": self.name,
            "checkpoints": str(checkpoints),
            "setting": setting,
            "limit": options.limit,
            "seed": options.seed,
            "data": options.data,
            "split": options.split,
        }

    def items(self, models, options) -> list:
        from codila.eval.planning_run import planning_examples

        return planning_examples(models.spec, options.data, options.split, options.limit)

    def decodes(self, items: list, options) -> int:
        return len(items)

    def run(self, models, setting, items: list, options, advance: Callable[[], None], record=lambda fields: None) -> dict:
        from codila.eval.planning_run import run_planning_setting

        row = run_planning_setting(models, setting, items, options.seed, options.batch_size, advance, record)
        return {**row, "task": self.name}

    def plot(self, rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
        return rows, {"accuracy": "exact accuracy (verified)"}
