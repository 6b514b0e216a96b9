"""Nothing lost: saves never delete what they did not write, a complete checkpoint is in place at every instant of a
training save, and a run killed (or out of disk) at any step of a save resumes to exactly the weights of a run that
was never interrupted."""

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from codila.errors import CodilaError
from codila.models import swap
from codila.models.io import export_checkpoint, load_model, read_meta
from codila.train.dlm import train_dlm
from codila.train.loop import TrainConfig
from conftest import WINDOW


class Killed(BaseException):
    """The process dies here: nothing after this point of the save runs (no `except Exception` catches it)."""


def test_export_refuses_what_it_did_not_write(tiny_checkpoints, tmp_path):
    source = tiny_checkpoints / "ar-b4"
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    (home / "notes" / "thesis.tex").write_text("years of work")
    with pytest.raises(CodilaError, match="not a codila checkpoint"):
        export_checkpoint(source, home)
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    with pytest.raises(CodilaError, match="not a folder"):
        export_checkpoint(source, a_file)
    shelf = tmp_path / "shelf"
    shutil.copytree(tiny_checkpoints, shelf)  # a folder of checkpoints is not itself one
    with pytest.raises(CodilaError, match="not a codila checkpoint"):
        export_checkpoint(source, shelf)
    with pytest.raises(CodilaError, match="--force"):
        export_checkpoint(source, shelf / "dlm")
    assert (home / "notes" / "thesis.tex").read_text() == "years of work" and a_file.read_text() == "keep"
    assert read_meta(shelf / "dlm", None)["kind"] == "dlm" and sorted(p.name for p in shelf.iterdir()) == sorted(
        p.name for p in tiny_checkpoints.iterdir()
    )
    export_checkpoint(source, shelf / "dlm", replace=True)  # replacing a checkpoint is what --force is for
    assert read_meta(shelf / "dlm", None)["kind"] == "ar"
    export_checkpoint(source, tmp_path / "new" / "ar", "float32")
    assert read_meta(tmp_path / "new" / "ar", "ar")["block_size"] == 4
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["ar"]  # no .tmp / .old left behind


def _ops(monkeypatch, on_call):
    """Route every filesystem operation of a training save through `on_call(name)` before it runs."""
    targets = [
        (os, "replace"),
        (shutil, "rmtree"),
        (torch, "save"),
        (Path, "write_text"),
        (swap, "exchange"),
        (PreTrainedModel, "save_pretrained"),
        (PreTrainedTokenizerBase, "save_pretrained"),
    ]
    for owner, name in targets:
        real = getattr(owner, name)

        def wrapped(*args, _real=real, _name=f"{getattr(owner, '__name__', owner)}.{name}", **kwargs):
            on_call(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapped)


def _weights(run: Path) -> dict:
    return load_file(run / "checkpoint" / "model.safetensors")


@pytest.mark.parametrize("fault", ["kill", "disk full", pytest.param("kill, no atomic exchange", marks=pytest.mark.slow)])
def test_a_save_interrupted_at_any_step_resumes_to_the_same_weights(tmp_path, corpus_dir, tiny_checkpoints, monkeypatch, fault):
    kwargs = dict(preset="test", window=WINDOW, files=corpus_dir, progress=False, tokenizer_path=tiny_checkpoints / "dlm")
    # one step, saved after it and at the end: a first save (no checkpoint yet) and a replacing one
    config = TrainConfig(steps=1, batch_size=2, lr=3e-3, eval_every=1, eval_batches=1, save_every_seconds=0)
    train_dlm(tmp_path / "straight", config, **kwargs)
    expected = _weights(tmp_path / "straight")
    if fault == "kill, no atomic exchange":
        monkeypatch.setattr(swap, "exchange", lambda a, b: False)
    calls = []
    first_complete = []  # the call count at which a checkpoint first was complete
    runs = 0
    for fail_at in range(1, 200):
        run = tmp_path / f"run{fail_at}"
        calls.clear()
        first_complete.clear()

        def on_call(name):
            calls.append(name)
            if swap.complete(run / "checkpoint") and not first_complete:
                first_complete.append(len(calls))
            if first_complete and fault == "kill":  # once there, a checkpoint stays in place at every instant
                assert read_meta(run / "checkpoint", "dlm")["kind"] == "dlm", (fail_at, calls)
            if len(calls) == fail_at:
                raise Killed() if fault.startswith("kill") else OSError(errno.ENOSPC, "No space left on device")

        with monkeypatch.context() as patch:
            _ops(patch, on_call)
            try:
                train_dlm(run, config, **kwargs)
                finished = True
            except (Killed, OSError, CodilaError):
                finished = False
        if finished:
            break
        runs += 1
        resume = (run / "state.pt").exists()
        train_dlm(run, config, resume=resume, **kwargs)  # no "already holds a run", no "no tokenizer.json"
        got = _weights(run)
        assert all(torch.equal(expected[k], got[k]) for k in expected), (fail_at, calls[-1])
        assert json.loads((run / "checkpoint" / "manifest.json").read_text())["steps"] == 1
        assert sorted(p.name for p in run.iterdir()) == ["best", "checkpoint", "codila-run.json", "log.jsonl", "state.pt"], (
            sorted(run.iterdir())
        )
        load_model(run / "checkpoint", "dlm")
        load_model(run / "best", "dlm")  # the best-validation export survives the cut too
        shutil.rmtree(run)
    print(f"{fault}: {runs} interrupted saves resumed")
    assert runs >= 10 and "torch.save" in calls  # every operation of both saves was cut once


def test_resume_refuses_different_model_or_data_options(tmp_path, corpus_dir, tiny_checkpoints):
    kwargs = dict(preset="test", window=WINDOW, files=corpus_dir, progress=False, tokenizer_path=tiny_checkpoints / "dlm")
    config = TrainConfig(steps=1, batch_size=2, lr=3e-3, eval_every=1, eval_batches=1)
    train_dlm(tmp_path / "run", config, **kwargs)
    other = tmp_path / "other"
    shutil.copytree(corpus_dir, other)
    sorted(other.glob("*.py"))[0].unlink()  # one file less: other training data
    for change, option in (
        ({"window": WINDOW // 2}, "--window"),
        ({"preset": "dlm-small"}, "--preset"),
        ({"gap_fraction": 0.5}, "--gap-fraction"),
        ({"files": other}, "training data"),
        ({"tokenizer_path": tiny_checkpoints / "nothing"}, "no tokenizer.json"),
    ):
        with pytest.raises(CodilaError, match=option):
            train_dlm(tmp_path / "run", config, resume=True, **{**kwargs, **change})
    train_dlm(tmp_path / "run", TrainConfig(steps=2, batch_size=2, lr=3e-3, eval_every=1, eval_batches=1), resume=True, **kwargs)


def _plant(folder: Path, names: dict[str, str]) -> dict[Path, str]:
    """Files (name -> text) a user left in `folder`, under names codila's saves once used for themselves."""
    planted = {}
    for name, text in names.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        planted[path] = text
    return planted


def _untouched(planted: dict[Path, str]) -> bool:
    return all(path.is_file() and path.read_text() == text for path, text in planted.items())


def test_no_save_removes_or_promotes_what_it_did_not_write(tiny_checkpoints, corpus_dir, tmp_path):
    from codila.eval.report import render_report
    from codila.eval.runner import PROBLEMS_FILE, RUN_FILE, _start
    from codila.train.loop import RUN_MARK

    # export (every checkpoint save): DEST.tmp, DEST.old beside it; DEST.old even holds a complete checkpoint
    shelf = tmp_path / "t"
    shutil.copytree(tiny_checkpoints / "dlm", shelf / "m.old")
    planted = _plant(shelf, {"m.tmp/b": "b", "m.old/b": "b", "m.new/b": "b", ".m.codila-new-x/b": "b"})
    export_checkpoint(tiny_checkpoints / "ar-b4", shelf / "m")
    export_checkpoint(tiny_checkpoints / "ar-b4", shelf / "m", "float32", replace=True)
    assert _untouched(planted) and read_meta(shelf / "m.old", None)["kind"] == "dlm"  # not promoted, not replaced
    assert read_meta(shelf / "m", None)["kind"] == "ar"
    assert sorted(p.name for p in shelf.iterdir()) == [".m.codila-new-x", "m", "m.new", "m.old", "m.tmp"]

    # training: a run's own folder, then the names its saves once used, then a resumed run (every save kind again)
    kwargs = dict(preset="test", window=WINDOW, files=corpus_dir, progress=False, tokenizer_path=tiny_checkpoints / "dlm")
    run = tmp_path / "run"
    train_dlm(run, TrainConfig(steps=1, batch_size=2, eval_every=1, eval_batches=1, save_every_seconds=0), **kwargs)
    names = ("checkpoint.tmp/b", "checkpoint.old/b", "best.tmp/b", "best.old/b", "state.tmp", "state.pt.tmp", "log.tmp")
    planted = _plant(run, {name: name for name in names})
    train_dlm(run, TrainConfig(steps=3, batch_size=2, eval_every=1, eval_batches=1, save_every_seconds=0), resume=True, **kwargs)
    assert _untouched(planted) and json.loads((run / "checkpoint" / "manifest.json").read_text())["steps"] == 3

    # a folder that is not a codila run of the kind is refused before anything is written
    user = tmp_path / "user"
    planted = _plant(user, {"log.jsonl": "my log", "notes.txt": "notes"})
    with pytest.raises(CodilaError, match="not a codila training run"):
        train_dlm(user, TrainConfig(steps=1, batch_size=2), **kwargs)
    (user / RUN_MARK).write_text(json.dumps({"kind": "train", "model": "ar"}))
    with pytest.raises(CodilaError, match="'ar' model"):
        train_dlm(user, TrainConfig(steps=1, batch_size=2), **kwargs)
    assert _untouched(planted)
    with pytest.raises(CodilaError, match="not a folder"):
        train_dlm(user / "notes.txt", TrainConfig(steps=1, batch_size=2), **kwargs)
    planted = _plant(user, {RUN_FILE: '{"mine": 1}', PROBLEMS_FILE: "not json"})
    with pytest.raises(CodilaError, match="not a codila evaluation"):
        _start(user, {"task": "mbpp"}, resume=False)
    with pytest.raises(CodilaError, match="not a folder"):
        _start(user / "notes.txt", {"task": "mbpp"}, resume=False)
    assert _untouched(planted)

    # evaluation run.json and the HTML report: written atomically, a user's X.tmp beside them survives
    evaluation = tmp_path / "eval"
    assert _start(evaluation, {"task": "mbpp"}, resume=False) == []
    planted = _plant(tmp_path, {"eval/run.tmp": "mine", "eval/run.json.tmp": "mine", "report.tmp": "mine"})
    assert _start(evaluation, {"task": "mbpp", "limit": 3}, resume=False) == []  # finished nothing: started afresh
    assert json.loads((evaluation / RUN_FILE).read_text())["limit"] == 3
    render_report(tmp_path / "nothing", tmp_path / "report.html")
    assert _untouched(planted) and (tmp_path / "report.html").is_file()


def test_ctrl_c_in_training_finishes_the_step_saves_and_resumes_to_the_same_weights(
    tmp_path, corpus_dir, tiny_checkpoints, monkeypatch
):
    import signal

    from codila.train import loop

    kwargs = dict(preset="test", window=WINDOW, files=corpus_dir, progress=False, tokenizer_path=tiny_checkpoints / "dlm")
    config = TrainConfig(steps=3, batch_size=2, lr=3e-3, eval_every=1, eval_batches=1)  # save_every: 300 s, never here
    train_dlm(tmp_path / "straight", config, **kwargs)
    real = loop.learning_rate

    def interrupt_in_step_two(step, config):  # SIGINT to this process while step 2 runs, as Ctrl-C would
        if step == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real(step, config)

    monkeypatch.setattr(loop, "learning_rate", interrupt_in_step_two)
    monkeypatch.setattr(loop.sys, "argv", ["codila", "train", "dlm", "--out", str(tmp_path / "cut")])
    with pytest.raises(CodilaError, match=r"interrupted at step 2 of 3.*codila train dlm --out .* --resume"):
        train_dlm(tmp_path / "cut", config, **kwargs)
    assert torch.load(tmp_path / "cut" / "state.pt", weights_only=False)["step"] == 2
    monkeypatch.setattr(loop, "learning_rate", real)
    train_dlm(tmp_path / "cut", config, resume=True, **kwargs)
    expected, got = _weights(tmp_path / "straight"), _weights(tmp_path / "cut")
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


@pytest.mark.parametrize(
    "error",
    [
        lambda: __import__("safetensors").SafetensorError("Error while serializing: IoError(No space left on device)"),
        lambda: RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
        lambda: OSError(errno.ENOSPC, "No space left on device"),
    ],
)
def test_a_full_disk_during_an_export_is_one_line_and_keeps_the_previous_checkpoint(
    tiny_checkpoints, tmp_path, monkeypatch, error
):
    export_checkpoint(tiny_checkpoints / "ar-b4", tmp_path / "m")
    before = sorted(p.name for p in tmp_path.rglob("*"))

    def full(*args, **kwargs):
        Path(args[1] if len(args) > 1 else kwargs["save_directory"]).mkdir(parents=True, exist_ok=True)
        (Path(args[1] if len(args) > 1 else kwargs["save_directory"]) / "model.safetensors").write_bytes(b"partial")
        raise error()

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", full)
    with pytest.raises(CodilaError, match="could not write the checkpoint") as raised:
        export_checkpoint(tiny_checkpoints / "dlm", tmp_path / "m", replace=True)
    assert "\n" not in str(raised.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before and read_meta(tmp_path / "m", None)["kind"] == "ar"
