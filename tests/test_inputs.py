"""Every file the CLI reads is checked: a damaged checkpoint, invalid JSON, non-UTF-8 text or a tokenizer that does
not fit the model give one line naming the file and the fix; a failed evaluation blocks no rerun."""

import json
import shutil

import pytest

from codila.errors import CodilaError
from codila.eval.runner import ROWS_FILE, RUN_FILE, _start
from codila.models.io import SHIPPED, load_model
from test_cli_properties import run_cli


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
