"""The local AR's causal-LM pretraining: targets, a falling loss on a tiny corpus, the warm start into `train ar`."""

import json

import torch

from codila.models.io import load_model
from codila.train.ar import _warm_start, train_ar
from codila.train.ar_pretrain import pretrain_ar
from codila.train.ar_pretrain_recipe import PRETRAINED_AR_KIND, causal_lm_targets
from codila.train.loop import TrainConfig


def test_targets_are_next_tokens_up_to_the_first_eos():
    eos = 9
    windows = torch.tensor([[5, 6, eos, eos, eos], [1, 2, 3, 4, 5]])
    assert causal_lm_targets(windows, eos).tolist() == [[6, eos, -100, -100], [2, 3, 4, 5]]


def test_pretraining_loss_falls_and_an_ar_warm_starts_from_it(tiny_checkpoints, corpus_dir, tmp_path, dlm):
    config = TrainConfig(steps=40, batch_size=8, lr=3e-3, eval_every=10, eval_batches=1, save_every_seconds=1e9)
    pretrain_ar(tiny_checkpoints / "dlm", tmp_path / "lm", config, preset="test", window=16, files=corpus_dir, progress=False)
    log = [json.loads(line) for line in (tmp_path / "lm" / "log.jsonl").read_text().splitlines()]
    losses = [record["train_loss"] for record in log]
    assert sum(losses[-5:]) / 5 < losses[0] - 0.5  # from ~ln(vocabulary) = 6.0 down (seeded: 5.2)
    evals = {record["step"]: record["validation_loss"] for record in log if "validation_loss" in record}
    best = json.loads((tmp_path / "lm" / "best" / "manifest.json").read_text())
    assert best["kind"] == PRETRAINED_AR_KIND and best["best_step"] == min(evals, key=evals.get)
    lm, _, meta = load_model(tmp_path / "lm" / "best", PRETRAINED_AR_KIND)
    ar = _warm_start(tmp_path / "lm" / "best", dlm, 4, "soft", True)
    assert (ar.block_size, ar.conditioning, ar.framed) == (4, "soft", True)
    assert torch.equal(ar.embedding_matrix, lm.get_input_embeddings().weight)
    tuned = train_ar(
        tiny_checkpoints / "dlm",
        tmp_path / "ar",
        4,
        TrainConfig(steps=2, batch_size=4, eval_every=2, eval_batches=1),
        init=tmp_path / "lm" / "best",
        files=corpus_dir,
        progress=False,
    )
    manifest = json.loads((tmp_path / "ar" / "checkpoint" / "manifest.json").read_text())
    assert tuned["steps"] == 2 and manifest["preset"] == "test" and manifest["init_from"]["path"] == str(tmp_path / "lm" / "best")
