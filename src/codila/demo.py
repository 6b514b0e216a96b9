"""`codila demo`: infill held-out code spans with every decoder on the shipped checkpoints, one table."""

from __future__ import annotations

import json
from pathlib import Path

from rich.progress import Progress

from codila.data.heldout import SHIPPED_SPAN_LENGTH, evaluation_spans
from codila.decoding.codila import CodilaDecodeConfig
from codila.eval.infill_run import InfillRun
from codila.eval.metrics import floor_rows
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.sweeps import DEMO_SCOPE, demo_settings
from codila.models.io import MANIFEST_FILE, SHIPPED
from codila.models.swap import write_atomically
from codila.train.manifest import base_manifest

# Spans decoded together by default: outputs are those of batch 1 (tests check it). On this 2-core CPU the DLM's
# forward ran 7-12 % more tokens/s at 32 canvases than at 8 (two timings), and `codila demo --n 64` took 97 s at
# batch 32, 105 s at 16 and 116 s at 8 (same metrics): 32 keeps the demo's 200 spans x 9 settings short.
DEMO_BATCH_SIZE = 32


def run_demo(
    checkpoints: str | Path = SHIPPED,
    n: int = 200,
    length: int = SHIPPED_SPAN_LENGTH,
    files: str | Path | None = None,
    split: str | None = None,
    seed: int = 0,
    tau: float = CodilaDecodeConfig.tau,
    scope: int = DEMO_SCOPE,
    json_path: str | Path | None = None,
    progress: bool = True,
    record: bool = False,
    batch_size: int = DEMO_BATCH_SIZE,
    records_path: str | Path | None = None,
) -> list[dict]:
    """Rows of metrics on `n` spans of `length` tokens from held-out files (`demo_spans`): the floors (method
    "empty", "newlines"), then one row per demo setting. `record` adds the rows to the manifests of the checkpoints
    used; `records_path` gets every span's scores per setting (JSON lines, for paired comparisons)."""
    models = ModelSet(checkpoints)
    context = (models.dlm.max_length - length) // 2
    spans = evaluation_spans(models.dlm.tokenizer, n, length, context, files, split, seed)
    settings = demo_settings(tau, scope)
    rows, records = floor_rows(spans, models.dlm.tokenizer), []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("demo", total=len(settings) * n)
        for setting in settings:
            run = InfillRun(models, setting, seed).decode(spans, 0, batch_size, lambda: bar.advance(task))
            rows.append(run.row())
            records += [
                {"label": rows[-1]["label"], "file": span.file, "start": span.start, **score}
                for span, score in zip(spans, run.scores)
            ]
    if json_path is not None:
        Path(json_path).write_text("".join(json.dumps(row) + "\n" for row in rows))
    if records_path is not None:
        Path(records_path).write_text("".join(json.dumps(record) + "\n" for record in records))
    if record:
        record_in_manifests(
            Path(checkpoints),
            settings,
            rows,
            {"n": n, "length": length, "seed": seed, "batch_size": batch_size, "files": str(files or "stdlib test split")},
        )
    return rows


def record_in_manifests(checkpoints: Path, settings: list[DecodeSetting], rows: list[dict], run: dict) -> None:
    """Write the demo's metrics into manifest.json: the DLM's gets every row, each AR's the rows that used it."""
    used = {"dlm": rows}
    for setting, row in zip(settings, rows[len(rows) - len(settings) :]):
        if setting.ar is not None:
            used.setdefault(setting.ar, []).append(row)
    stamp = base_manifest()  # once, before the first write: that write would make every later one look "-dirty"
    for name, its_rows in used.items():
        path = checkpoints / name / MANIFEST_FILE
        manifest = json.loads(path.read_text()) if path.exists() else {}
        manifest["demo_metrics"] = {**stamp, **run, "rows": its_rows}  # the command, commit and time of this run
        text = json.dumps(manifest, indent=2) + "\n"
        write_atomically(path, lambda temporary, text=text: temporary.write_text(text))
