"""Run one decoder setting over infill spans and aggregate its row of metrics."""

from __future__ import annotations

from typing import Callable

from codila.data.spans import InfillSpan
from codila.decoding.canvas import Canvas
from codila.decoding.registry import decode, get_decoder
from codila.eval.metrics import aggregate_scores, score_infill
from codila.eval.records import Record
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.tally import DecodeTally


class InfillRun:
    """One decoder setting's decodes of infill spans, fed in any number of calls, and their row of metrics."""

    def __init__(self, models: ModelSet, setting: DecodeSetting, seed: int):
        self.models, self.setting, self.seed = models, setting, seed
        self.ar = models.for_setting(setting)
        self.decoder = get_decoder(setting.method)
        self.scores: list[dict[str, float]] = []  # per span, in order (score_infill)
        self.files: list[str] = []
        self.tally = DecodeTally()

    def decode(
        self,
        spans: list[InfillSpan],
        first_index: int = 0,
        batch_size: int = 1,
        advance: Callable[[], None] = lambda: None,
        record: Record = lambda fields: None,
    ) -> InfillRun:
        """Decode `spans`, `batch_size` at a time; span i of them is span first_index + i of the whole run (its
        generator's seed is seed + that index), so a run fed in chunks decodes exactly like one fed at once.
        `record` receives every span's span index, file, start, completion, reference and scores."""
        dlm = self.models.dlm
        for first in range(0, len(spans), batch_size):
            chunk = spans[first : first + batch_size]
            canvases = [Canvas.infill(s.prefix_ids, s.length, s.suffix_ids, dlm.mask_id, dlm.max_length) for s in chunk]
            decoded = decode(self.decoder, dlm, self.ar, canvases, self.setting.config, self.seed + first_index + first)
            for offset, (span, result) in enumerate(zip(chunk, decoded)):
                scores = score_infill(span, result.generated.tolist(), dlm.tokenizer)
                self.scores.append(scores)
                self.files.append(span.file)
                record(
                    {
                        "span": first_index + first + offset,
                        "file": span.file,
                        "start": span.start,
                        "completion": dlm.tokenizer.decode(result.generated.tolist()),
                        "reference": dlm.tokenizer.decode(span.target_ids),
                        **scores,
                    }
                )
                self.tally.add(result)
                advance()
        return self

    def row(self) -> dict:
        """The setting's keys, the speed columns of `DecodeTally.row` (per span) and the metrics of
        `codila.eval.metrics.aggregate_scores` (fractions with file-clustered standard errors, n)."""
        return {
            **self.setting.describe(self.ar),
            "label": self.setting.label(self.ar),
            **self.tally.row(),
            **aggregate_scores(self.scores, self.files),
        }


def run_infill_setting(
    models: ModelSet,
    setting: DecodeSetting,
    spans: list[InfillSpan],
    seed: int,
    advance: Callable[[], None] = lambda: None,
    batch_size: int = 1,
    record: Record = lambda fields: None,
) -> dict:
    """Decode every span (seed + its index as the generator seed), `batch_size` spans at a time, and return one
    row (`InfillRun.row`); `record` receives every span's record (`InfillRun.decode`)."""
    return InfillRun(models, setting, seed).decode(spans, 0, batch_size, advance, record).row()
