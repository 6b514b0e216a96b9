import json

import pytest
import torch
from safetensors.torch import load_file

from codila.errors import CodilaError
from codila.models.loading import load_ar
from codila.train.ar import train_ar
from codila.train.dlm import train_dlm
from codila.train.dlm_recipe import DlmRecipe
from codila.train.loop import TrainConfig, learning_rate
from codila.train.manifest import read_manifest
from conftest import WINDOW, tiny_config


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, corpus_dir, monkeypatch):
    kwargs = dict(preset="test", window=WINDOW, vocab_size=400, files=corpus_dir, progress=False)
    config = TrainConfig(steps=6, batch_size=4, lr=3e-3, eval_every=6, eval_batches=1, save_every_seconds=0)
    train_dlm(tmp_path / "straight", config, **kwargs)
    calls = []
    real_loss = DlmRecipe.loss

    def dies_at_step_four(self, windows, generator):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_loss(self, windows, generator)

    monkeypatch.setattr(DlmRecipe, "loss", dies_at_step_four)
    with pytest.raises(KeyboardInterrupt):
        train_dlm(tmp_path / "split", config, **kwargs)
    monkeypatch.setattr(DlmRecipe, "loss", real_loss)
    assert json.loads((tmp_path / "split" / "checkpoint" / "manifest.json").read_text())["steps"] == 3
    train_dlm(tmp_path / "split", config, tokenizer_path=tmp_path / "split" / "checkpoint", resume=True, **kwargs)
    a = load_file(tmp_path / "straight" / "checkpoint" / "model.safetensors")
    b = load_file(tmp_path / "split" / "checkpoint" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(CodilaError, match="--resume"):
        train_dlm(tmp_path / "straight", config, **kwargs)
    with pytest.raises(CodilaError, match="no .* to resume"):
        train_dlm(tmp_path / "none", config, resume=True, **kwargs)


def test_dlm_and_ar_losses_fall_and_manifests_say_how(tiny_checkpoints, tmp_path, corpus_dir):
    summary = train_ar(
        tiny_checkpoints / "dlm",
        tmp_path / "ar",
        2,
        tiny_config(40, 8),
        preset="test",
        files=corpus_dir,
        progress=False,
        gap_fraction=0.5,
    )
    log = [json.loads(line) for line in (tmp_path / "ar" / "log.jsonl").read_text().splitlines()]
    assert sum(r["train_loss"] for r in log[-5:]) < sum(r["train_loss"] for r in log[:5])
    manifest = json.loads((tmp_path / "ar" / "checkpoint" / "manifest.json").read_text())
    assert manifest["block_size"] == 2 and manifest["steps"] == 40 == summary["steps"] and manifest["gap_fraction"] == 0.5
    assert manifest["data"]["split"] == "train" and len(manifest["data"]["split_hash"]) == 16
    assert manifest["command"].startswith("codila")
    dlm_manifest = json.loads((tiny_checkpoints / "dlm" / "manifest.json").read_text())
    assert dlm_manifest["final_validation_loss"] is not None
    assert json.loads((tiny_checkpoints / "ar-b4-top1" / "codila.json").read_text()) == {
        "kind": "ar",
        "block_size": 4,
        "conditioning": "top1",
        "framed": True,
        "residual": False,
    }


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(steps=100, lr=1.0, warmup_fraction=0.1, min_lr_fraction=0.1)
    rates = [learning_rate(s, config) for s in range(100)]
    assert rates[0] < rates[9] == 1.0 and rates[50] < 1.0 and abs(rates[99] - 0.1) < 1e-3
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))


def _train_tiny_ar(dlm_dir, out, block_size, corpus_dir, steps=5, **options) -> None:
    train_ar(dlm_dir, out, block_size, tiny_config(steps, 4), preset="test", files=corpus_dir, progress=False, **options)


def test_an_unframed_ar_trains_saves_and_decodes(tiny_checkpoints, tmp_path, corpus_dir, dlm):
    _train_tiny_ar(tiny_checkpoints / "dlm", tmp_path / "ar", 4, corpus_dir, framed=False)
    ar = load_ar(tmp_path / "ar" / "checkpoint", dlm)
    marginals = torch.softmax(torch.randn(3, 4, len(dlm.tokenizer), generator=torch.Generator().manual_seed(0)), -1)
    assert not ar.framed and ar.frame(ar.condition(marginals)).shape[1] == 4  # no <think> / </think> around the block
    tokens, entropies = ar.decode(marginals, torch.Generator().manual_seed(0), 0.1, 0.8)
    assert tokens.shape == entropies.shape == (3, 4)


def test_a_dlm_warm_starts_from_a_checkpoint(tiny_checkpoints, tmp_path, corpus_dir):
    scratch = train_dlm(
        tmp_path / "scratch", tiny_config(2), preset="test", window=WINDOW, vocab_size=400, files=corpus_dir, progress=False
    )
    warm = train_dlm(
        tmp_path / "warm", tiny_config(2), preset="test", files=corpus_dir, progress=False, init=tiny_checkpoints / "dlm"
    )
    first_loss = lambda run: json.loads((tmp_path / run / "log.jsonl").read_text().splitlines()[0])["train_loss"]
    assert first_loss("warm") < first_loss("scratch")  # it starts where the trained tiny DLM ended
    manifest = json.loads((tmp_path / "warm" / "checkpoint" / "manifest.json").read_text())
    assert manifest["init_from"]["steps"] == 30 and manifest["window"] == WINDOW and scratch["steps"] == warm["steps"] == 2
    assert (tmp_path / "warm" / "checkpoint" / "tokenizer.json").read_text() == (
        tiny_checkpoints / "dlm" / "tokenizer.json"
    ).read_text()


def test_an_ar_warm_starts_from_a_matching_checkpoint(tiny_checkpoints, tmp_path, corpus_dir):
    scratch = train_ar(
        tiny_checkpoints / "dlm", tmp_path / "scratch", 4, tiny_config(2, 4), preset="test", files=corpus_dir, progress=False
    )
    warm = train_ar(
        tiny_checkpoints / "dlm",
        tmp_path / "warm",
        4,
        tiny_config(2, 4),
        files=corpus_dir,
        progress=False,
        init=tiny_checkpoints / "ar-b4",
    )
    first_loss = lambda run: json.loads((tmp_path / run / "log.jsonl").read_text().splitlines()[0])["train_loss"]
    assert first_loss("warm") < first_loss("scratch")  # it starts where the trained tiny AR ended
    manifest = json.loads((tmp_path / "warm" / "checkpoint" / "manifest.json").read_text())
    assert manifest["init_from"]["path"] == str(tiny_checkpoints / "ar-b4") and manifest["preset"] == "test"
    assert scratch["steps"] == warm["steps"] == 2
    with pytest.raises(CodilaError, match="block size, conditioning, frame"):
        train_ar(
            tiny_checkpoints / "dlm",
            tmp_path / "mismatch",
            4,
            tiny_config(2, 4),
            conditioning="top1",
            files=corpus_dir,
            progress=False,
            init=tiny_checkpoints / "ar-b4",
        )


def test_a_residual_ar_saves_and_loads_with_its_path_and_mask_unit(tiny_checkpoints, tmp_path, dlm, corpus_dir):
    _train_tiny_ar(tiny_checkpoints / "dlm", tmp_path / "run", 2, corpus_dir, steps=3, residual=True, mask_unit=8)
    loaded = load_ar(tmp_path / "run" / "checkpoint", dlm)
    assert loaded.residual and loaded.block_size == 2
    assert read_manifest(tmp_path / "run" / "checkpoint")["mask_unit"] == 8
    assert not load_ar(tiny_checkpoints / "ar-b2", dlm).residual
    with pytest.raises(CodilaError, match="not a multiple of the block size"):
        _train_tiny_ar(tiny_checkpoints / "dlm", tmp_path / "odd", 2, corpus_dir, mask_unit=3)
    with pytest.raises(CodilaError, match="soft conditioning"):
        _train_tiny_ar(tiny_checkpoints / "dlm", tmp_path / "top1", 2, corpus_dir, conditioning="top1", residual=True)
