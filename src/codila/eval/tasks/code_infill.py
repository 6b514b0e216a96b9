"""code-infill: held-out real-code spans (the shipped held-out test spans, or every .py file of `--files`), infilled and
scored like the demo (floor-free syntax-valid file, exact match, token accuracy; nothing is executed), floors first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from codila.eval.tasks.interface import TaskDefaults

DEFAULT_SPANS = 200  # spans decoded when no --limit is given


@dataclass(frozen=True)
class SpanTask(TaskDefaults):
    name: str
    description: str
    infilling: bool = True

    def items(self, models, options) -> list:
        """`options.limit` spans (default 200) of `options.span_length` tokens, seeded, context filling the model."""
        from codila.data.heldout import evaluation_spans

        context = (models.dlm.max_length - options.span_length) // 2
        return evaluation_spans(
            models.dlm.tokenizer, options.limit or DEFAULT_SPANS, options.span_length, context, options.files, None, options.seed
        )

    def decodes(self, items: list, options) -> int:
        return len(items)  # one decode per span (samples do not apply)

    def floors(self, models, items: list) -> list[dict]:
        """The empty and newlines infills' rows (`codila.eval.metrics.floor_rows`): what the decoders must beat."""
        from codila.eval.metrics import floor_rows

        return [{**row, "task": self.name} for row in floor_rows(items, models.dlm.tokenizer)]

    def run(self, models, setting, items: list, options, advance: Callable[[], None], record=lambda fields: None) -> dict:
        from codila.eval.infill_run import run_infill_setting

        return {
            **run_infill_setting(models, setting, items, options.seed, advance, options.batch_size, record),
            "task": self.name,
        }

    def plot(self, rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
        decoded = [row for row in rows if row.get("tokens_per_s") is not None]  # the floors decode nothing
        from codila.eval.plots import accuracy_panels

        return decoded, accuracy_panels(decoded)


TASK = SpanTask("code-infill", "held-out real-code spans, scored like the demo (no execution)")
