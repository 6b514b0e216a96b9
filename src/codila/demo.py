"""`codila demo`: infill held-out code spans with every decoder on the shipped checkpoints, one table."""

from __future__ import annotations

import json
from pathlib import Path

from rich.progress import Progress

from codila.data.corpus import load_files
from codila.data.spans import sample_spans
from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.dlm import DlmDecodeConfig
from codila.eval.infill_run import run_infill_setting
from codila.eval.settings import DecodeSetting, ModelSet
from codila.models.io import MANIFEST_FILE, SHIPPED
from codila.train.manifest import base_manifest

# Spans decoded together by default: outputs are those of batch 1 (tests check it). On this 2-core CPU the DLM's
# forward ran 7-12 % more tokens/s at 32 canvases than at 8 (two timings), and `codila demo --n 64` took 97 s at
# batch 32, 105 s at 16 and 116 s at 8 (same metrics): 32 keeps the demo's 200 spans x 9 settings short.
DEMO_BATCH_SIZE = 32


def demo_settings(tau: float = CodilaDecodeConfig.tau, scope: int = CodilaDecodeConfig.scope) -> list[DecodeSetting]:
    """DLM K in {1,2,4,8}; CoDiLA static at B in {2,4,8}, top-1 conditioning at B=4, dynamic at B=4 (the decoder's
    validated scope and tau unless given)."""
    static = CodilaDecodeConfig(scope=scope)
    return [
        *(DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=k)) for k in (1, 2, 4, 8)),
        *(DecodeSetting("codila", static, f"ar-b{b}") for b in (2, 4, 8)),
        DecodeSetting("codila", static, "ar-b4-top1"),
        DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", tau=tau, scope=scope), "ar-b4"),
    ]


def run_demo(
    checkpoints: str | Path = SHIPPED,
    n: int = 200,
    length: int = 32,
    files: str | Path | None = None,
    split: str | None = None,
    seed: int = 0,
    tau: float = CodilaDecodeConfig.tau,
    scope: int = CodilaDecodeConfig.scope,
    json_path: str | Path | None = None,
    progress: bool = True,
    record: bool = False,
    batch_size: int = DEMO_BATCH_SIZE,
) -> list[dict]:
    """Rows of metrics, one per demo setting, on `n` spans of `length` tokens from held-out files (the stdlib's
    test split, or every file of `files`). `record` adds the rows to the manifests of the checkpoints used."""
    models = ModelSet(checkpoints)
    context = (models.dlm.max_length - length) // 2
    source = load_files(files, split or ("all" if files else "test"))
    spans = sample_spans(source, models.dlm.tokenizer, n, length, context, seed)
    settings = demo_settings(tau, scope)
    rows = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("demo", total=len(settings) * n)
        for setting in settings:
            rows.append(run_infill_setting(models, setting, spans, seed, lambda: bar.advance(task), batch_size))
    if json_path is not None:
        Path(json_path).write_text("".join(json.dumps(row) + "\n" for row in rows))
    if record:
        record_in_manifests(Path(checkpoints), settings, rows, {"n": n, "length": length, "seed": seed, "batch_size": batch_size,
                                                                 "files": str(files or "stdlib test split")})
    return rows


def record_in_manifests(checkpoints: Path, settings: list[DecodeSetting], rows: list[dict], run: dict) -> None:
    """Write the demo's metrics into manifest.json: the DLM's gets every row, each AR's the rows that used it."""
    used = {"dlm": rows}
    for setting, row in zip(settings, rows):
        if setting.ar is not None:
            used.setdefault(setting.ar, []).append(row)
    for name, its_rows in used.items():
        path = checkpoints / name / MANIFEST_FILE
        manifest = json.loads(path.read_text()) if path.exists() else {}
        manifest["demo_metrics"] = {**base_manifest(), **run, "rows": its_rows}  # the command, commit and time of this run
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(path)
