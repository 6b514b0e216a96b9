"""A tiny planning DLM, its local AR and the AR baseline train for a few steps; `codila eval graph` runs end to end."""

from __future__ import annotations

import json
import shutil

import pytest

from codila.data.planning.registry import get_setting
from codila.data.planning.splits import split_examples
from codila.train.loop import TrainConfig
from codila.train.planning import train_planning
from test_cli import codila

SETTING = "pathstar-d2-l4"


@pytest.fixture(scope="module")
def planning_checkpoints(tmp_path_factory):
    runs = tmp_path_factory.mktemp("planning-runs")
    config = TrainConfig(steps=3, batch_size=4, eval_every=3, eval_batches=1)
    train_planning("dlm", SETTING, runs / "dlm", config, "test", progress=False)
    train_planning(
        "ar", SETTING, runs / "ar-b4", config, "test", dlm_path=runs / "dlm" / "checkpoint", block_size=4, progress=False
    )
    train_planning("ar-baseline", SETTING, runs / "ar-baseline", config, "test", progress=False)
    folder = tmp_path_factory.mktemp("planning-checkpoints")
    for name in ("dlm", "ar-b4", "ar-baseline"):
        shutil.copytree(runs / name / "checkpoint", folder / name)
    return folder


def test_training_writes_the_setting_into_every_checkpoint(planning_checkpoints):
    spec = get_setting(SETTING)
    for name in ("dlm", "ar-b4", "ar-baseline"):
        meta = json.loads((planning_checkpoints / name / "codila.json").read_text())
        assert (meta["planning"], meta["prompt_length"], meta["answer_length"]) == (
            SETTING,
            spec.prompt_length,
            spec.answer_length,
        )
        manifest = json.loads((planning_checkpoints / name / "manifest.json").read_text())
        assert manifest["steps"] == 3 and manifest["data"]["setting"] == SETTING


def test_eval_graph_runs_end_to_end_through_the_cli(planning_checkpoints, tmp_path):
    out, rows_path = tmp_path / "run", tmp_path / "rows.jsonl"
    done = codila(
        "eval",
        "graph",
        "--sweep",
        "planning",
        "--limit",
        4,
        "--checkpoints",
        planning_checkpoints,
        "--out",
        out,
        "--json",
        rows_path,
        "--batch-size",
        2,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    assert {row["method"] for row in rows} == {"dlm", "codila", "ar-baseline"}
    assert sorted(row["k"] for row in rows if row["mode"] == "verify") == [1, 2, 4, 8]
    for row in rows:
        assert row["n"] == 4 and 0 <= row["accuracy"] <= 1 and row["accuracy_se"] >= 0 and row["floor"] == 0.5
        assert {"method", "mode", "k", "block_size"} <= set(row)
    dlm_k8 = next(row for row in rows if row["method"] == "dlm" and row["k"] == 8)
    assert dlm_k8["tokens_per_step"] >= 8 and dlm_k8["dlm_forwards"] <= 2  # 16 tokens in <= 2 steps (an EOS ends early)
    assert (out / "decode_order.png").stat().st_size > 0 and (out / "table.md").is_file()


def test_eval_reads_a_jsonl_file_of_the_same_format(planning_checkpoints, tmp_path):
    from codila.data.planning.base import write_jsonl
    from codila.eval.runner import EvalOptions, run_eval
    from codila.eval.sweeps import baseline_setting

    data, examples = tmp_path / "input.jsonl", split_examples(get_setting(SETTING), "test")[10:13]
    write_jsonl(data, examples)
    rows = run_eval(
        "graph", [baseline_setting()], tmp_path / "run", EvalOptions(data=str(data)), planning_checkpoints, progress=False
    )
    assert rows[0]["n"] == 3 and rows[0]["k"] == 1
    records = [json.loads(line) for line in (tmp_path / "run" / "problems.jsonl").read_text().splitlines()]
    assert [(r["problem"], r["prompt"], r["truth"]) for r in records] == [(i, e.prompt, e.answer) for i, e in enumerate(examples)]
    verify = get_setting(SETTING).verify
    assert all(r["label"] == rows[0]["label"] and r["correct"] == verify(r["prompt"], r["answer"]) for r in records)
    assert sum(r["correct"] for r in records) == round(rows[0]["accuracy"] * 3)


def test_models_of_another_task_are_refused(planning_checkpoints, tmp_path):
    from codila.errors import CodilaError
    from codila.eval.runner import run_eval
    from codila.eval.sweeps import baseline_setting

    with pytest.raises(CodilaError, match="trained on pathstar"):
        run_eval("countdown", [baseline_setting()], tmp_path / "run", checkpoints=planning_checkpoints, progress=False)


def test_a_dlm_starts_from_an_ar_baseline_with_attention_both_ways(planning_checkpoints, tmp_path):
    """--init with an AR baseline's checkpoint for --kind dlm: the same weights, saved as a bidirectional DLM."""
    import torch
    from safetensors.torch import load_file

    from codila.models.loading import load_dlm

    config = TrainConfig(steps=1, batch_size=2, eval_every=1, eval_batches=1, lr=1e-12)
    train_planning("dlm", SETTING, tmp_path / "dlm", config, "test", progress=False, init=planning_checkpoints / "ar-baseline")
    checkpoint = tmp_path / "dlm" / "checkpoint"
    assert json.loads((checkpoint / "config.json").read_text())["is_causal"] is False
    assert json.loads((checkpoint / "codila.json").read_text())["kind"] == "dlm"
    start = load_file(planning_checkpoints / "ar-baseline" / "model.safetensors")
    trained = load_file(checkpoint / "model.safetensors")
    name = "model.layers.0.mlp.down_proj.weight"
    assert torch.allclose(start[name].float(), trained[name].float(), atol=1e-3)  # lr 1e-12: one step moves nothing
    load_dlm(checkpoint)  # loads as a DLM


def test_a_dlm_with_shifted_logits_records_it_and_loads_that_way(planning_checkpoints, tmp_path):
    """--shifted-logits (Dream's layout, for a DLM started from an AR): recorded in codila.json and read back by
    load_dlm, so decoding reads position p's marginal from row p - 1; other kinds refuse it."""
    from codila.errors import CodilaError
    from codila.models.loading import load_dlm

    config = TrainConfig(steps=1, batch_size=2, eval_every=1, eval_batches=1)
    out = tmp_path / "dlm"
    train_planning(
        "dlm", SETTING, out, config, "test", progress=False, init=planning_checkpoints / "ar-baseline", shifted_logits=True
    )
    assert json.loads((out / "checkpoint" / "codila.json").read_text())["shifted_logits"] is True
    assert load_dlm(out / "checkpoint").shifted_logits is True
    assert load_dlm(planning_checkpoints / "dlm").shifted_logits is False
    with pytest.raises(CodilaError, match="shifted"):
        train_planning("ar-baseline", SETTING, tmp_path / "arb", config, "test", progress=False, shifted_logits=True)
