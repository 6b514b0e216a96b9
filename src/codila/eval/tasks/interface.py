"""What every task answers for `codila eval` (`eval/runner.py`), whatever it scores:

- `models(checkpoints)`: the models it decodes with (a `ModelSet`: the DLM and its ARs);
- `identity(checkpoints, options)`: what makes two runs the same run (`run.json`; --resume checks it);
- `items(models, options)`: what to decode; `decodes(items, options)`: how many decodes that makes;
- `floors(models, items)`: rows of trivial answers every decoder must beat;
- `run(models, setting, items, options, advance, record)`: one decoder setting's row of metrics;
- `plot(rows)`: the rows and metrics of the accuracy-vs-speed plot; `order_plot`: whether the run also draws the
  decode order of one problem.
`kind` says what the options mean: "code" (executed or scored code; --oracle checks the harness) or "planning"
(verified answers; --data and --split choose the problems). `TaskDefaults` gives a code task's answers."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path


class TaskDefaults:
    kind = "code"
    order_plot = False

    def default_checkpoints(self) -> Path:
        from codila.assets import SHIPPED

        return SHIPPED

    def models(self, checkpoints: str | Path):
        from codila.eval.settings import ModelSet

        return ModelSet(checkpoints)

    def identity(self, checkpoints: str | Path, options) -> dict:
        run = {"task": self.name, "checkpoints": str(checkpoints), **asdict(options)}
        del run["allow_network"]  # how the programs run, not what is measured
        return run

    def floors(self, models, items: list) -> list[dict]:
        return []
