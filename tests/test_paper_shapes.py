"""`codila bench --shapes paper`: random-init models with the paper's configs, here shrunk (--scale 0.02) so a CPU runs
every setting in seconds; the shipped configs' parameter counts; scripts/gpu_check.sh refusing without a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from codila.paper_shapes import parameter_counts, scaled, shipped_config
from test_cli import codila

ROOT = Path(__file__).resolve().parent.parent


def test_paper_shapes_bench_decodes_every_setting_to_full_length_at_scale(tmp_path):
    out = codila(
        "bench", "--shapes", "paper", "--scale", 0.02, "--length", 8, "--batch-sizes", 2, "--device", "cpu",
        "--json", tmp_path / "rows.jsonl",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    labels = ["DLM K=1"] + [f"CoDiLA B={b} static scope 10" for b in (2, 4, 8)]
    assert [(r["label"], r["batch_size"]) for r in rows] == [(label, 2) for label in labels]
    for row in rows:
        assert row["tokens"] == 8 * row["batch_size"] and row["eos_decoded"] == 0  # EOS banned: the whole length
        block = 1 if row["label"] == "DLM K=1" else int(row["label"].split("B=")[1].split()[0])
        assert row["dlm_forwards"] == 8 // block  # static CoDiLA commits one block of B per DLM forward
        assert (row["ar_time_share"] > 0) == (block > 1) and row["peak_mem_mb"] > 0 and row["tokens_per_s"] > 0
        assert row["scale"] == 0.02 and row["device"] == "cpu"


def test_shipped_configs_are_the_papers_models():
    counts = parameter_counts()  # on the meta device
    assert counts == {"Dream-Coder-v0-Instruct-7B": 7_615_616_512, "LLaDA-8B": 8_015_581_184, "Qwen3-0.6B": 596_049_920}
    small = scaled(shipped_config("dream-coder-7b.json"), 0.02)
    assert small["num_hidden_layers"] == 1 and small["hidden_size"] < 100 and small["vocab_size"] == 152064


def test_gpu_check_refuses_clearly_without_a_gpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}  # no GPU visible, even on a GPU machine
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(tmp_path / "gpu.json")], capture_output=True, text=True, env=env
    )
    assert out.returncode == 2 and "refused: no CUDA GPU" in out.stderr and not (tmp_path / "gpu.json").exists()
