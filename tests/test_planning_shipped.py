"""The shipped planning models (assets/checkpoints/planning-<task>/): a DLM trained on a named setting, its local
AR(s) and the AR-only baseline, each with a manifest; none was trained on a held-out split."""

import json

import pytest

from codila.data.planning.registry import get_setting
from codila.models.io import SHIPPED, read_meta
from codila.models.loading import load_ar, load_dlm

FOLDERS = sorted(p for p in SHIPPED.iterdir() if p.is_dir() and p.name.startswith("planning-"))


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_planning_folder_is_complete_and_consistent(folder):
    setting = read_meta(folder / "dlm", "dlm")["planning"]
    spec = get_setting(setting)
    assert folder.name == f"planning-{spec.task}"
    dlm = load_dlm(folder / "dlm")
    assert dlm.max_length >= spec.prompt_length + spec.answer_length
    for member in sorted(p for p in folder.iterdir() if p.is_dir()):
        meta = read_meta(member, None)
        assert meta["planning"] == setting, member
        if meta["kind"] == "ar":
            load_ar(member, dlm)  # same tokenizer
        manifest = json.loads((member / "manifest.json").read_text())
        for key in ("command", "git_commit", "steps", "final_validation_loss", "stored_dtype"):
            assert manifest.get(key) is not None, (member, key)
        assert manifest["data"]["setting"] == setting and manifest["data"]["excluded_prompts"] >= 1500
        assert manifest["command"].startswith("codila train planning")
    assert sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) <= 8 * 2**20


def test_the_shipped_sudoku_models_plan_and_codila_keeps_it_at_four_tokens_per_step(tmp_path):
    """On the first 40 test problems (4x4, 10 blanks) the shipped sudoku DLM solves every one at one token per step;
    at four tokens per step the DLM alone breaks about a third, CoDiLA B=4 almost none (measured on 400: 100.0, 73.0
    and 99.8 %, docs/planning.md)."""
    from codila.decoding.codila import CodilaDecodeConfig
    from codila.decoding.dlm import DlmDecodeConfig
    from codila.eval.runner import EvalOptions, run_eval
    from codila.eval.settings import DecodeSetting

    settings = [
        DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=1, selection="confidence")),
        DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=4, selection="confidence")),
        DecodeSetting("codila", CodilaDecodeConfig(scope=10), "ar-b4"),
    ]
    options = EvalOptions(limit=40, batch_size=40)
    rows = run_eval("sudoku", settings, tmp_path / "run", options, SHIPPED / "planning-sudoku", progress=False)
    solved = [round(row["accuracy"] * 40) for row in rows]
    assert solved[0] == 40 and solved[1] <= 32 and solved[2] >= 38, solved
    assert [row["tokens_per_step"] for row in rows] == [1, 4, 4]


def test_the_shipped_countdown_models_rank_as_measured_the_ar_baseline_ahead(tmp_path):
    """On the first 40 problems of the shipped cd3 test file the shipped countdown AR baseline solves most, the DLM at
    one token per step some and at eight tokens per step almost none (measured on 400: 78.2, 20.2 and 1.2 %,
    docs/planning.md): at this size the MGDM ranking does not hold on Countdown."""
    from codila.assets import DATA
    from codila.decoding.dlm import DlmDecodeConfig
    from codila.eval.runner import EvalOptions, run_eval
    from codila.eval.settings import DecodeSetting
    from codila.eval.sweeps import baseline_setting

    settings = [
        baseline_setting(),
        DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=1, selection="confidence")),
        DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=8, selection="confidence")),
    ]
    options = EvalOptions(limit=40, batch_size=40, data=str(DATA / "countdown" / "cd3_test.jsonl"))
    rows = run_eval("countdown", settings, tmp_path / "run", options, SHIPPED / "planning-countdown", progress=False)
    baseline, dlm_one, dlm_eight = (round(row["accuracy"] * 40) for row in rows)
    assert baseline >= 28 and 4 <= dlm_one <= 20 and dlm_eight <= 4, (baseline, dlm_one, dlm_eight)
