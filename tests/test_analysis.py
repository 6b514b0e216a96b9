"""The copula check on exactly known joints (Theorem 3.3 as numbers), end to end with real tiny models."""

import pytest
import torch

from codila.analysis.copula import PAPER_JOINT, mean_tv, run_copula_check, shared_top1_joints, total_variation


def test_total_variation_is_exact():
    assert (
        total_variation(
            {("Roger", "Roger"): 45, ("Houston", "You"): 25, ("Houston", "I"): 25, ("Houston", "They"): 5}, PAPER_JOINT
        )
        == 0.0
    )
    assert abs(total_variation({("Roger", "Roger"): 1}, PAPER_JOINT) - 0.55) < 1e-12


def test_the_harder_joints_share_their_top1_marginals():
    for joint in shared_top1_joints(5, torch.Generator().manual_seed(1)):
        assert abs(sum(joint.values()) - 1) < 1e-9
        for side in (0, 1):
            marginal = {}
            for pair, p in joint.items():
                marginal[pair[side]] = marginal.get(pair[side], 0) + p
            assert max(marginal, key=marginal.get) == "w0"


def test_copula_check_soft_beats_top1_beats_parallel(tmp_path):
    rows = run_copula_check(tmp_path, samples=200, steps=400, harder=2, seed=0)
    assert (
        len(rows) == 3 * 4 and (tmp_path / "copula.png").stat().st_size > 0 and "| mean |" in (tmp_path / "notes.md").read_text()
    )
    assert mean_tv(rows, "CoDiLA soft") < mean_tv(rows, "CoDiLA top-1") < mean_tv(rows, "DLM parallel (K=2)")
    assert mean_tv(rows, "CoDiLA soft", "paper") < 0.5 * mean_tv(rows, "DLM parallel (K=2)", "paper")


def test_ar_loss_analysis_scores_every_ar_on_the_same_tokens(tiny_checkpoints, corpus_dir, tmp_path):
    from codila.analysis.ar_loss import run_ar_loss_analysis
    from codila.eval.settings import ModelSet

    models = ModelSet(tiny_checkpoints)
    names = ["ar-b1", "ar-b2", "ar-b4", "ar-b8", "ar-b4-top1"]
    rows = run_ar_loss_analysis(models.dlm, {n: models.ar(n) for n in names}, tmp_path, batches=2, batch_size=4, files=corpus_dir)
    assert [row["ar"] for row in rows] == names + ["dlm-marginals"] and all(row["heldout_loss"] > 0 for row in rows)
    again = run_ar_loss_analysis(
        models.dlm, {n: models.ar(n) for n in names}, tmp_path, batches=2, batch_size=4, files=corpus_dir
    )
    assert again == rows  # seeded windows and masks
    assert (tmp_path / "ar_loss.png").stat().st_size > 0 and "| ar-b8 | 8 |" in (tmp_path / "notes.md").read_text()
    lines = (tmp_path / "ar_loss.jsonl").read_text().splitlines()
    assert len(lines) == len(names) + 1 and '"dlm-marginals"' in lines[0]
    marginals_loss = rows[-1]["heldout_loss"]
    for row in rows[:-1]:  # the paired difference of the same tokens is the difference of the means
        assert row["minus_marginals"] == pytest.approx(row["heldout_loss"] - marginals_loss, abs=1e-6)
        assert row["minus_marginals_se"] > 0


def test_ar_loss_pairs_each_ar_token_with_the_marginal_of_the_same_token(tiny_checkpoints, corpus_dir, tmp_path):
    """A residual AR with its network silenced scores every token exactly as the marginal does: the paired difference
    is zero token by token, so its standard error is zero too (it would not be if the tokens were misaligned)."""
    import copy

    from codila.analysis.ar_loss import run_ar_loss_analysis
    from codila.eval.settings import ModelSet
    from codila.models.local_ar import LocalAR

    models = ModelSet(tiny_checkpoints)
    model = copy.deepcopy(models.ar("ar-b4").model)
    with torch.no_grad():
        model.model.norm.weight.zero_()
    silenced = LocalAR(model, models.ar("ar-b4").tokenizer, 4, residual=True)
    rows = run_ar_loss_analysis(models.dlm, {"silenced": silenced, "ar-b4": models.ar("ar-b4")}, tmp_path, 2, 4, corpus_dir)
    assert abs(rows[0]["minus_marginals"]) < 1e-4 and rows[0]["minus_marginals_se"] < 1e-4
    assert rows[1]["minus_marginals_se"] > 1e-3
