"""`codila bench`: decoding speed of every decoder on the same held-out spans, measured in one run so the ratios
against the DLM at K=1 compare like with like (same machine, same moment, same spans).

A shared machine's speed drifts by tens of percent within a minute (the DLM's forward on the same spans took 17 and
23 ms in two runs a minute apart), so the settings take turns every INTERLEAVE_SPANS spans (the drift then slows
them alike), every setting is measured in `repeats` passes, and its row is the pass with the median tokens/s; all
passes' speeds are kept."""

from __future__ import annotations

import json
import resource
from pathlib import Path

from rich.progress import Progress

from codila.data.corpus import load_files
from codila.data.spans import sample_spans
from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.defaults import DEFAULT_AR
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.fast_dllm import FastDllmConfig
from codila.errors import CodilaError
from codila.eval.infill_run import InfillRun
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.sweeps import DEMO_SCOPE, DEMO_TEMPERATURE, DEMO_TOP_P, demo_settings
from codila.models.io import SHIPPED

# the label of the setting every speedup is measured against: the demo's DLM K=1 row (it samples like CoDiLA)
BASELINE = DlmDecodeConfig(temperature=DEMO_TEMPERATURE, top_p=DEMO_TOP_P).label()
WARMUP_SPANS = 2  # decoded first and not timed: the first calls of a model pay one-off allocation costs
INTERLEAVE_SPANS = 2  # settings take turns every this many spans (rounded up to whole batches) within a pass
SEMI_AR_BLOCK = 8  # the DLM cache rows decode the span in semi-autoregressive blocks of this many positions
# CoDiLA's cache rows: windows of this many positions (the DLM cache is refreshed when a window starts), chosen on
# 200 validation-split spans (scripts/select_on_validation.py, README).
CODILA_CACHE_WINDOW = 32


def cache_settings(scope: int = DEMO_SCOPE) -> list[DecodeSetting]:
    """The DLM in semi-AR order without, with prefix and with dual cache; Fast-dLLM's threshold decoding
    without and with dual cache (the combination Fast-dLLM reports); CoDiLA B=4 static with either cache (its
    uncached row is the demo's)."""
    semi_ar = [DlmDecodeConfig(semi_ar_block=SEMI_AR_BLOCK, cache=cache) for cache in ("none", "prefix", "dual")]
    threshold = [FastDllmConfig(semi_ar_block=SEMI_AR_BLOCK, cache=cache) for cache in ("none", "dual")]
    codila = [CodilaDecodeConfig(scope=scope, semi_ar_block=CODILA_CACHE_WINDOW, cache=cache) for cache in ("prefix", "dual")]
    return (
        [DecodeSetting("dlm", config) for config in semi_ar]
        + [DecodeSetting("fast-dllm", config) for config in threshold]
        + [DecodeSetting("codila", config, DEFAULT_AR) for config in codila]
    )


def bench_settings(tau: float = CodilaDecodeConfig.tau, scope: int = DEMO_SCOPE) -> list[DecodeSetting]:
    """The demo's settings but the conditioning ablation (it decodes exactly like soft B=4), then the cache rows."""
    return [setting for setting in demo_settings(tau, scope) if setting.ar != "ar-b4-top1"] + cache_settings(scope)


def select_settings(models: ModelSet, settings: list[DecodeSetting], only: tuple[str, ...]) -> list[DecodeSetting]:
    """The settings whose label contains one of `only` (all when empty), DLM K=1 always; raises when none matches."""
    if not only:
        return settings
    labels = [setting.label(models.for_setting(setting)) for setting in settings]
    chosen = [setting for setting, label in zip(settings, labels) if any(part in label for part in only)]
    if not chosen:
        raise CodilaError(f"no bench setting's label contains {' or '.join(map(repr, only))}; the labels: {', '.join(labels)}")
    return [setting for setting, label in zip(settings, labels) if label == BASELINE or setting in chosen]


def reset_peak_memory() -> bool:
    """Start a new peak-memory window (Linux: writing 5 to /proc/self/clear_refs resets the peak resident set).
    False where that is not possible: the peak then stays the process's peak so far."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_memory_mb() -> float:
    """Peak resident memory since the last `reset_peak_memory` (or of the whole process), in MB."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def run_bench(
    checkpoints: str | Path = SHIPPED,
    n: int = 24,
    length: int = 32,
    seed: int = 0,
    tau: float = CodilaDecodeConfig.tau,
    scope: int = DEMO_SCOPE,
    batch_sizes: tuple[int, ...] = (1, 8),
    files: str | Path | None = None,
    json_path: str | Path | None = None,
    progress: bool = True,
    repeats: int = 3,
    only: tuple[str, ...] = (),
) -> list[dict]:
    """One row per setting and batch size: the demo's keys plus batch_size, dlm_forwards_per_token, ar_time_share,
    peak_mem_mb (peak resident memory while that row decoded), tokens_per_s_passes (every pass, the row being the
    median one) and speedup (tokens/s over the DLM at K=1, batch 1, of this run). Outputs do not depend on the batch
    size or the pass (greedy decoding is identical; tests check it). `only`: label substrings; the settings whose
    label contains none are skipped (DLM K=1, the ratios' reference, always runs)."""
    if repeats < 1:
        raise CodilaError(f"repeats must be >= 1, got {repeats}")
    models = ModelSet(checkpoints)
    settings = select_settings(models, bench_settings(tau, scope), only)
    context = (models.dlm.max_length - length) // 2
    spans = sample_spans(
        load_files(files, "all" if files else "test"), models.dlm.tokenizer, n + WARMUP_SPANS, length, context, seed
    )
    passes: dict[tuple[int, int], list[dict]] = {}  # (batch size, setting index) -> one row per pass
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("bench", total=len(settings) * len(batch_sizes) * n * repeats)
        for _ in range(repeats):
            for batch_size in batch_sizes:
                for setting in settings:  # untimed warm-up
                    InfillRun(models, setting, seed).decode(spans[:WARMUP_SPANS], 0, WARMUP_SPANS)
                runs = [InfillRun(models, setting, seed) for setting in settings]
                peak_mb = [0.0] * len(settings)
                chunk = batch_size * -(-INTERLEAVE_SPANS // batch_size)  # whole batches
                timed = spans[WARMUP_SPANS:]
                for first in range(0, n, chunk):  # the settings take turns on each chunk: drift hits them alike
                    for index, run in enumerate(runs):
                        reset_peak_memory()
                        run.decode(timed[first : first + chunk], first, batch_size, lambda: bar.advance(task))
                        peak_mb[index] = max(peak_mb[index], peak_memory_mb())
                for index, run in enumerate(runs):
                    passes.setdefault((batch_size, index), []).append({**run.row(), "peak_mem_mb": peak_mb[index]})
    rows = []
    for (batch_size, _), measured in passes.items():
        median = sorted(measured, key=lambda row: row["tokens_per_s"])[(len(measured) - 1) // 2]
        rows.append(
            {
                **median,
                "batch_size": batch_size,
                "dlm_forwards_per_token": median["dlm_forwards"] / length,
                "peak_mem_mb": max(row["peak_mem_mb"] for row in measured),
                "tokens_per_s_passes": [row["tokens_per_s"] for row in measured],
            }
        )
    baseline = next(row["tokens_per_s"] for row in rows if row["label"] == BASELINE and row["batch_size"] == batch_sizes[0])
    for row in rows:
        row["speedup"] = row["tokens_per_s"] / baseline
    if json_path is not None:
        Path(json_path).write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows
