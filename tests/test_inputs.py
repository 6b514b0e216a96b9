"""Every file the CLI reads is checked: a damaged checkpoint, invalid JSON, non-UTF-8 text or a tokenizer that does
not fit the model give one line naming the file and the fix; a failed evaluation blocks no rerun."""

import json
import os
import random
import shutil

import pytest

from codila.errors import CodilaError
from codila.eval.runner import ROWS_FILE, RUN_FILE, _start
from codila.models.io import SHIPPED, load_model
from test_cli_properties import run_cli


def _rewrite_weights(directory, drop=False, value=None):
    from safetensors.torch import load_file, save_file

    weights = load_file(directory / "model.safetensors")
    name = sorted(k for k in weights if "layers.0" in k and k.endswith("weight"))[0]  # one layer's tensor
    if drop:
        del weights[name]
    else:
        weights[name] = weights[name].clone().fill_(value)
    save_file(weights, directory / "model.safetensors", metadata={"format": "pt"})


def _random_weight_bytes(directory):
    """Random bytes in place of the weights (the header, hence the size, intact)."""
    path = directory / "model.safetensors"
    data = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")
    data[start:] = random.Random(0).randbytes(len(data) - start)
    path.write_bytes(bytes(data))


@pytest.fixture
def damaged(tiny_checkpoints, tmp_path):
    copy = tmp_path / "dlm"
    shutil.copytree(tiny_checkpoints / "dlm", copy)
    return copy


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: (d / "model.safetensors").write_bytes(b""), "model.safetensors is empty, truncated"),
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:5000]), "truncated"),
        (lambda d: (d / "model.safetensors").unlink(), "no model.safetensors"),
        (lambda d: (d / "config.json").write_text("{not json"), "config.json is not valid JSON"),
        (lambda d: (d / "codila.json").write_text("[1, 2]"), "codila.json holds a JSON list"),
        (lambda d: (d / "codila.json").write_bytes(b"\xff\xfe{}"), "codila.json is not valid JSON"),
        (lambda d: (d / "tokenizer.json").write_text("{}"), "the tokenizer in"),
        (lambda d: _rewrite_weights(d, drop=True), "lacks 1 of the model's tensors"),
        (lambda d: _rewrite_weights(d, value=float("nan")), "non-finite values"),
        (lambda d: _rewrite_weights(d, value=float("inf")), "non-finite values"),
        (lambda d: _random_weight_bytes(d), "non-finite values"),
        (
            lambda d: [shutil.copy(SHIPPED / "dlm" / name, d / name) for name in ("tokenizer.json", "tokenizer_config.json")],
            "does not belong to this model",
        ),
    ],
)
def test_a_damaged_checkpoint_is_one_line_naming_the_file(damaged, damage, message):
    damage(damaged)
    with pytest.raises(CodilaError, match=message) as error:
        load_model(damaged, "dlm")
    assert str(damaged) in str(error.value) and "\n" not in str(error.value)
    code, out, err = run_cli(["generate", "x", "--decoder", "dlm", "--dlm", str(damaged)])
    assert code == 2 and len(err.strip().splitlines()) == 1 and message.split()[0] in err


def test_text_that_is_not_utf8_is_refused(tmp_path):
    prompt = tmp_path / "prompt.py"
    prompt.write_bytes(b"def f():\n    return '\xe9'\n")
    code, _, err = run_cli(["generate", "--prompt-file", str(prompt), "--decoder", "dlm"])
    assert code == 2 and f"{prompt} is not UTF-8 text" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["generate", "caf\udce9", "--decoder", "dlm"])  # undecodable bytes in argv
    assert code == 2 and "not valid UTF-8" in err


def test_an_evaluation_that_finished_nothing_blocks_no_rerun(tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / RUN_FILE).write_text(json.dumps({"task": "mbpp", "limit": 0}))  # the failed first attempt
    assert _start(out, {"task": "mbpp", "limit": 5}, resume=False) == []
    assert json.loads((out / RUN_FILE).read_text())["limit"] == 5
    (out / ROWS_FILE).write_text(json.dumps({"label": "done"}) + "\n")  # a finished setting is kept safe
    with pytest.raises(CodilaError, match="--resume"):
        _start(out, {"task": "mbpp", "limit": 6}, resume=False)
    with pytest.raises(CodilaError, match="different evaluation"):
        _start(out, {"task": "mbpp", "limit": 6}, resume=True)


def test_every_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, monkeypatch, tiny_checkpoints):
    """Inputs a hostile probe found answered with an internal error, exit 0, a hang or files left behind."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("mine")
    (tmp_path / "in.jsonl").write_text(json.dumps({"prompt": "x"}) + "\n")
    user = tmp_path / "user"
    user.mkdir()
    (user / "log.jsonl").write_text("my log")
    (user / RUN_FILE).write_text('{"my": "run"}')
    (user / "problems.jsonl").write_text("my problems")
    dlm = str(tiny_checkpoints / "dlm")
    cases = {
        "eval mbpp --limit 1 --out FILE": "not a folder",
        "eval mbpp --limit 1 --out user": "not a codila evaluation",
        "train dlm --preset test --steps 1 --out FILE": "not a folder",
        "train dlm --preset test --steps 1 --out user": "not a codila training run",
        f"train ar --dlm {dlm} --block-size 1000 --steps 1 --out o1": "does not fit",
        f"train ar-pretrain --dlm {dlm} --window -5 --steps 1 --out o2": "--window",
        "bench --batch-sizes a,b": "--batch-sizes",
        f"generate --input in.jsonl --dlm {dlm} --decoder dlm --output {tmp_path}": "is a folder",
        f"generate --input in.jsonl --dlm {dlm} --decoder dlm --output missing/x": "does not exist",
        f"generate x --dlm {dlm} --decoder dlm --temperature 1e308": "--temperature",
        f"generate x --dlm {dlm} --ar {tiny_checkpoints / 'ar-b4'} --decoder codila --conditioning topk:abc": "unknown conditioning",
        "eval mbpp --oracle canonical --workers 2147483647": "--workers",
        "export /nonexistent o3": "does not exist: fix the path",
    }
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    for args, message in cases.items():
        code, _, err = run_cli(args.split())
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, (args, code, err)
        assert "None" not in err and "internal error" not in err and "residual" not in err, (args, err)
        assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before, args
    assert (user / "log.jsonl").read_text() == "my log" and (user / RUN_FILE).read_text() == '{"my": "run"}'


def test_serve_reports_a_port_in_use_in_one_line_before_serving():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, out, err = run_cli(["serve", "--port", str(taken.getsockname()[1])])
    assert code == 2 and err.strip().splitlines() == [err.strip()] and "Address already in use" in err
    assert "serving" not in err + out
    assert os.environ.get("CODILA_TRACEBACK") is None
