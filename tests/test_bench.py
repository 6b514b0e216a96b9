"""`codila bench` on tiny models: counts are exact, ratios are against the DLM at K=1 of the same run."""

import pytest

from codila.bench import BASELINE, CODILA_CACHE_WINDOW, bench_settings, run_bench
from codila.errors import CodilaError


def test_bench_rows(tiny_checkpoints, corpus_dir, tmp_path):
    rows = run_bench(
        tiny_checkpoints,
        n=3,
        length=16,
        batch_sizes=(1, 2),
        files=corpus_dir,
        json_path=tmp_path / "bench.jsonl",
        progress=False,
        repeats=3,
    )
    assert len(rows) == 2 * len(bench_settings()) == len((tmp_path / "bench.jsonl").read_text().splitlines())
    by_label = {row["label"]: row for row in rows if row["batch_size"] == 1}
    batched = {row["label"]: row for row in rows if row["batch_size"] == 2}
    for label, row in by_label.items():  # the same decodes at batch 2 (a padded batch and a lone last span)
        assert row["syntax_valid"] == batched[label]["syntax_valid"] and row["dlm_forwards"] == batched[label]["dlm_forwards"]
    reference = by_label[BASELINE]["tokens_per_s"]  # every ratio is against DLM K=1 at the first batch size, batch 2's too
    for row in rows:
        assert row["speedup"] == pytest.approx(row["tokens_per_s"] / reference, rel=1e-9), row["label"]
    assert batched[BASELINE]["speedup"] != 1.0 or batched[BASELINE]["tokens_per_s"] == reference
    assert by_label[BASELINE]["dlm_forwards_per_token"] == 1.0 == batched[BASELINE]["dlm_forwards_per_token"]
    assert by_label[BASELINE]["ar_time_share"] == 0.0
    assert by_label["CoDiLA B=4 static soft scope=10"]["dlm_forwards_per_token"] == 0.25
    assert 0 < by_label["CoDiLA B=8 static soft scope=10"]["ar_time_share"] < 1
    assert all(row["peak_mem_mb"] > 0 and row["tokens_per_s"] > 0 for row in rows)
    assert all(
        len(row["tokens_per_s_passes"]) == 3 and sorted(row["tokens_per_s_passes"])[1] == row["tokens_per_s"] for row in rows
    )
    with pytest.raises(CodilaError, match="repeats"):
        run_bench(tiny_checkpoints, n=1, files=corpus_dir, progress=False, repeats=0)
    semi_ar = by_label["DLM K=1 semi-AR 8"]
    for cached in ("DLM K=1 semi-AR 8 prefix cache", "DLM K=1 semi-AR 8 dual cache"):
        assert by_label[cached]["dlm_forwards"] == semi_ar["dlm_forwards"] == 16  # one token per forward, cached or not
    assert 1 <= by_label["Fast-dLLM threshold=0.9 semi-AR 8 dual cache"]["dlm_forwards"] <= 16
    for cache in ("prefix", "dual"):  # a block of 4 per forward, cached or not
        assert by_label[f"CoDiLA B=4 static soft scope=10 semi-AR {CODILA_CACHE_WINDOW} {cache} cache"]["dlm_forwards"] == 4


def test_peak_memory_is_measured_per_window():
    import torch

    from codila.bench import peak_memory_mb, reset_peak_memory

    big = torch.ones(50_000_000)  # 200 MB, touched
    with_big = peak_memory_mb()
    del big
    if not reset_peak_memory():
        pytest.skip("this kernel cannot reset the peak resident set")
    assert peak_memory_mb() < with_big - 150


def test_a_run_fed_in_chunks_decodes_like_one_fed_at_once(tiny_checkpoints, corpus_dir):
    from codila.data.corpus import load_files
    from codila.data.spans import sample_spans
    from codila.decoding.codila import CodilaDecodeConfig
    from codila.eval.infill_run import InfillRun, run_infill_setting
    from codila.eval.settings import DecodeSetting, ModelSet

    models = ModelSet(tiny_checkpoints)
    spans = sample_spans(load_files(corpus_dir, "all"), models.dlm.tokenizer, 5, 16, (models.dlm.max_length - 16) // 2, 0)
    setting = DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", tau=2.0, temperature=1.0, top_p=0.9), "ar-b4")  # samples
    whole = run_infill_setting(models, setting, spans, seed=3)
    chunked = InfillRun(models, setting, 3).decode(spans[:2], 0).decode(spans[2:], 2, batch_size=2).row()
    for key in ("n", "syntax_valid", "exact_match", "token_accuracy", "dlm_forwards", "ar_steps", "tokens_per_step"):
        assert chunked[key] == whole[key], key


def test_only_benches_the_chosen_settings_and_the_reference(tiny_checkpoints, corpus_dir):
    rows = run_bench(
        tiny_checkpoints,
        n=1,
        length=16,
        batch_sizes=(1,),
        files=corpus_dir,
        progress=False,
        repeats=1,
        only=("dual cache", "B=8 static"),
    )
    assert [row["label"] for row in rows] == [
        BASELINE,
        "CoDiLA B=8 static soft scope=10",
        "DLM K=1 semi-AR 8 dual cache",
        "Fast-dLLM threshold=0.9 semi-AR 8 dual cache",
        f"CoDiLA B=4 static soft scope=10 semi-AR {CODILA_CACHE_WINDOW} dual cache",
    ]
    assert rows[0]["speedup"] == 1.0


@pytest.mark.parametrize("scope", [1, 10])
def test_every_bench_row_is_a_different_setting_at_any_scope(tiny_checkpoints, scope):
    """--scope 1 made the static B=4 row and the scope-1 ablation the same setting: it was decoded and listed twice."""
    from codila.eval.settings import ModelSet

    models = ModelSet(tiny_checkpoints)
    labels = [setting.label(models.for_setting(setting)) for setting in bench_settings(scope=scope)]
    assert len(labels) == len(set(labels))
    assert sum(f"CoDiLA B=4 static soft scope={scope}" == label for label in labels) == 1
