"""The learned block rule (issue 31): its features, its use by each CoDiLA mode, its training."""

from __future__ import annotations

import pytest
import torch

from codila.decoding.block_scorer import FEATURES, BlockScorer, block_features
from codila.decoding.canvas import Canvas
from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.registry import decode
from codila.train.block_scorer import Recorder, evaluate, fit, rule_choices


def _scorer(tmp_path, name: str, weights: dict[str, float], bias: float = 0.0) -> str:
    """A logistic scorer with hand-set weights on raw features (mean 0, std 1)."""
    scorer = BlockScorer(len(FEATURES), 0)
    with torch.no_grad():
        scorer.net.weight.zero_()
        scorer.net.bias.fill_(bias)
        for feature, weight in weights.items():
            scorer.net.weight[0, FEATURES.index(feature)] = weight
    path = tmp_path / name
    scorer.save(path)
    return str(path)


def _canvas(dlm, length=16):
    encode = lambda text: dlm.tokenizer(text)["input_ids"]
    return Canvas.infill(encode("def area(r):\n    "), length, encode("\n    return a\n"), dlm.mask_id, dlm.max_length)


def test_block_features_describe_the_blocks():
    mask, vocab = 0, 6
    ids = torch.tensor([5, 5, mask, mask, 3, 3, mask, mask, 4, 4])  # region [2, 8), blocks of 2; [4, 6) committed
    blocks = torch.tensor([[2, 3], [6, 7]])
    marginals = torch.full((2, 2, vocab), 0.02)
    marginals[..., 1] = 0.9  # the DLM's top-1 is token 1 everywhere
    tokens = torch.tensor([[1, 2], [1, 1]])
    entropies = torch.tensor([[1.0, 3.0], [0.5, 0.5]])
    f = block_features(ids, mask, 2, 8, blocks, marginals, tokens, entropies, scope=4)
    assert f.shape == (2, 2, len(FEATURES))
    col = lambda name: f[..., FEATURES.index(name)]
    assert col("ar_is_dlm_top1").tolist() == [[1, 0], [1, 1]]
    assert col("block_ar_entropy").tolist() == [[2.0, 2.0], [0.5, 0.5]]
    assert col("gap_ar_entropy_to_best")[:, 0].tolist() == [1.5, 0.0]
    assert col("left_committed")[:, 0].tolist() == [1, 1] and col("right_committed")[:, 0].tolist() == [1, 1]
    assert col("share_to_start")[:, 0].tolist() == pytest.approx([0.0, 4 / 6])
    assert col("share_to_end")[:, 0].tolist() == pytest.approx([4 / 6, 0.0])
    assert col("masked_share")[0, 0] == pytest.approx(4 / 6)
    assert col("rank")[:, 0].tolist() == pytest.approx([0.0, 1 / 3]) and col("offered")[0, 0] == 0.5
    assert torch.allclose(col("dlm_logp_ar_token")[0], torch.tensor([0.9, 0.02]).log())


def test_static_learned_commits_the_block_the_scorer_rates_highest(dlm, ars, tmp_path):
    """A scorer that prefers the leftmost candidate decodes left to right; one that prefers the farthest, right to left."""
    canvas = _canvas(dlm)
    for weight, order in ((-5.0, 1), (5.0, -1)):
        config = CodilaDecodeConfig(scope=8, choice="learned", scorer=_scorer(tmp_path, f"rank{weight}.pt", {"rank": weight}))
        result = decode("codila", dlm, ars[4], [canvas], config)[0]
        steps = result.commit_step[canvas.start : canvas.end].view(-1, 4)[:, 0].tolist()
        assert steps == list(range(len(steps)))[::order]


def test_dynamic_learned_commits_prefixes_above_q(dlm, ars, tmp_path):
    """A scorer sure of everything commits whole blocks; with q above every prediction, the DLM's single token."""
    canvas = _canvas(dlm)
    sure = _scorer(tmp_path, "sure.pt", {}, bias=3.0)  # p = 0.95 everywhere
    whole = decode("codila", dlm, ars[4], [canvas], CodilaDecodeConfig(mode="dynamic", choice="learned", q=0.9, scorer=sure))[0]
    assert whole.tokens_per_step == [4] * 4
    single = decode("codila", dlm, ars[4], [canvas], CodilaDecodeConfig(mode="dynamic", choice="learned", q=0.99, scorer=sure))[0]
    assert single.tokens_per_step == [1] * 16


def test_a_missing_scorer_is_a_clear_error(dlm, ars, tmp_path):
    from codila.errors import CodilaError

    with pytest.raises(CodilaError, match="no block scorer"):
        decode(
            "codila", dlm, ars[4], [_canvas(dlm)], CodilaDecodeConfig(scope=4, choice="learned", scorer=str(tmp_path / "x.pt"))
        )


def test_the_recorder_labels_each_candidate_token_against_the_truth(dlm, ars):
    canvas = _canvas(dlm)
    truth = torch.arange(canvas.length) % 7 + 5
    recorder = Recorder(canvas.ids.clone(), canvas.start, canvas.end, dlm.mask_id, truth, 4)
    canvas.observer = recorder
    result = decode("codila", dlm, ars[4], [canvas], CodilaDecodeConfig(scope=4))[0]
    assert len(recorder.rows) == 3  # 4 blocks: steps with 4, 3, 2 candidates (the last has nothing to choose)
    assert [len(features) for _, features, _ in recorder.rows] == [4, 3, 2]
    step, features, correct = recorder.rows[0]
    assert step == 0 and features.shape == (4, 4, len(FEATURES)) and correct.shape == (4, 4)
    assert torch.equal(recorder.ids, result.ids)  # it followed the commits


def _toy_data(n_steps=60, seed=0):
    """Steps of 3 candidate blocks where feature `ar_is_dlm_top1` is the truth label."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n_steps * 3, 4, len(FEATURES), generator=g)
    correct = (torch.rand(n_steps * 3, 4, generator=g) < 0.3).float()
    features[..., FEATURES.index("ar_is_dlm_top1")] = correct
    features[..., FEATURES.index("free")] = 1.0
    span = torch.arange(n_steps).repeat_interleave(3)
    return {
        "features": features,
        "correct": correct,
        "group": span * 1000,
        "span": span,
        "files": {i: f"f{i % 7}" for i in range(n_steps)},
    }


def test_fit_learns_a_rule_better_than_leftmost_and_resumes_exactly(tmp_path):
    data = _toy_data()
    scorer = fit(data, tmp_path / "a", 0, 6, 0.05, 0.0, 64, 0, False, log=lambda _: None)
    metrics = evaluate(scorer, data)
    assert metrics["learned"]["mean"] == pytest.approx(metrics["oracle"]["mean"], abs=0.02)
    assert metrics["learned"]["mean"] > metrics["leftmost"]["mean"] + 0.1
    (tmp_path / "b").mkdir()
    fit(data, tmp_path / "b", 0, 3, 0.05, 0.0, 64, 0, False, log=lambda _: None)
    resumed = fit(data, tmp_path / "b", 0, 6, 0.05, 0.0, 64, 0, True, log=lambda _: None)
    assert torch.allclose(resumed.net.weight, scorer.net.weight)


def test_rule_choices_takes_each_rules_block_per_step():
    data = {"correct": torch.tensor([[1.0, 0], [0, 0], [1, 1]]), "group": torch.tensor([0, 0, 1])}
    out = rule_choices(data, {"mine": torch.tensor([0.0, 1.0, 5.0])})
    assert out == {"mine": [0.0, 1.0], "leftmost": [0.5, 1.0], "random": [0.25, 1.0], "oracle": [0.5, 1.0]}


def test_learned_frontier_grows_the_committed_text_without_islands(dlm, ars, tmp_path):
    """On a completion canvas only the leftmost unfinished block touches committed text: a scorer preferring the farthest
    block decodes right to left with `learned`, left to right with `learned-frontier`."""
    encode = lambda text: dlm.tokenizer(text)["input_ids"]
    canvas = Canvas.completion(encode("import os\n\ndef main():\n"), 16, dlm.mask_id, dlm.max_length)
    far = _scorer(tmp_path, "far.pt", {"rank": 5.0})
    for choice, expected in (("learned", [3, 2, 1, 0]), ("learned-frontier", [0, 1, 2, 3])):
        result = decode("codila", dlm, ars[4], [canvas], CodilaDecodeConfig(scope=8, choice=choice, scorer=far))[0]
        assert result.commit_step[canvas.start : canvas.end].view(-1, 4)[:, 0].tolist() == expected
