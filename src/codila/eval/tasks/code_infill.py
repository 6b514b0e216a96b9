"""code-infill: held-out real-code spans (the stdlib's test split, or every .py file of `--files`), infilled and scored
like the demo (syntax-valid file, exact match, token accuracy; nothing is executed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

DEFAULT_SPANS = 200  # spans decoded when no --limit is given


@dataclass(frozen=True)
class SpanTask:
    name: str
    description: str
    infilling: bool = True

    def items(self, models, options) -> list:
        """`options.limit` spans (default 200) of `options.span_length` tokens, seeded, context filling the model."""
        from codila.data.corpus import load_files
        from codila.data.spans import sample_spans

        source = load_files(options.files, "all" if options.files else "test")
        context = (models.dlm.max_length - options.span_length) // 2
        return sample_spans(source, models.dlm.tokenizer, options.limit or DEFAULT_SPANS, options.span_length, context, options.seed)

    def decodes(self, items: list, options) -> int:
        return len(items)  # one decode per span (samples do not apply)

    def run(self, models, setting, items: list, options, advance: Callable[[], None]) -> dict:
        from codila.eval.infill_run import run_infill_setting

        return {**run_infill_setting(models, setting, items, options.seed, advance, options.batch_size), "task": self.name}

    def plot(self, rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
        return rows, {"syntax_valid": "syntax-valid fraction"}


TASK = SpanTask("code-infill", "held-out real-code spans, scored like the demo (no execution)")
