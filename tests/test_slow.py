"""Slow checks (`make test-slow`, `pytest -m slow`): the shipped models end to end."""

import json

import pytest

from codila.assets import SHIPPED
from codila.demo import run_demo

UNTIMED = ("tokens_per_s", "ar_time_share")  # machine-dependent columns


@pytest.mark.slow
def test_the_demo_reproduces_the_metrics_recorded_in_the_shipped_manifest():
    """`codila demo` on the shipped checkpoints gives exactly the rows `codila demo --record` wrote into the DLM's
    manifest (same spans, seeds and batch size): every decoder's accuracy, steps and forward counts."""
    recorded = json.loads((SHIPPED / "dlm" / "manifest.json").read_text())["demo_metrics"]
    assert recorded["files"] == "stdlib test split"
    rows = run_demo(
        SHIPPED,
        n=recorded["n"],
        length=recorded["length"],
        seed=recorded["seed"],
        batch_size=recorded["batch_size"],
        progress=False,
    )
    untimed = lambda table: [{key: value for key, value in row.items() if key not in UNTIMED} for row in table]
    assert untimed(rows) == untimed(recorded["rows"])
