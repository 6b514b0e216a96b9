"""A new decoder and a new task are one definition + one registry line each (tests/toy_plugins.py, docs/extending.md):
once registered, the contract tests, the CLI's options, `codila ls` and `codila eval` take them with no other change."""

import json
import subprocess
import sys
from pathlib import Path

import toy_plugins  # noqa: F401  (registers the toy decoder and the toy task)
from codila.decoding.registry import DECODERS, decode_options, get_decoder
from test_decoders import assert_decoder_contract, canvases

TESTS = Path(__file__).parent


def codila_with_toys(*args):
    code = "import sys; sys.path.insert(0, sys.argv.pop(1)); import toy_plugins; from codila.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, str(TESTS), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_the_toy_decoder_keeps_every_decoder_contract(dlm):
    spec = get_decoder("left-to-right")
    assert list(DECODERS)[-1] == "left-to-right" and any(option.name == "leftmost" for option in decode_options())
    for config in spec.config_class.examples():
        for canvas in canvases(dlm):
            result = assert_decoder_contract(spec, dlm, None, config, canvas)
            order = result.commit_step[canvas.start : canvas.end].tolist()
            assert order == sorted(order)  # left to right


def test_the_cli_takes_the_toy_decoder_and_task(tiny_checkpoints, tmp_path):
    help_text = codila_with_toys("generate", "--help").stdout
    assert "--leftmost" in help_text and "left-to-right 1" in help_text  # its option, with its default
    out = codila_with_toys(
        "generate", "def f():\n", "--decoder", "left-to-right", "--leftmost", 4, "--length", 8, "--dlm", tiny_checkpoints / "dlm"
    )
    assert out.returncode == 0, out.stderr
    assert "in 2 steps" in out.stderr  # 8 tokens, 4 per step
    listed = codila_with_toys("ls").stdout
    assert "left-to-right" in listed and "toy-task" in listed
    out = codila_with_toys(
        "eval",
        "toy-task",
        "--decoder",
        "left-to-right",
        "--checkpoints",
        tiny_checkpoints,
        "--completion-length",
        8,
        "--out",
        tmp_path / "run",
        "--json",
        tmp_path / "rows.jsonl",
    )
    assert out.returncode == 0, out.stderr
    row = json.loads((tmp_path / "rows.jsonl").read_text())
    assert row["label"] == "left-to-right 1" and row["n"] == 2 and row["task"] == "toy-task"


def test_the_api_and_the_server_take_the_toy_decoder(tiny_checkpoints):
    """The library call and an HTTP request reach the toy decoder and its option with no edit of either: the server's
    request schema is generated from the registry when the app is built."""
    import httpx

    from codila.api import CoDiLA
    from codila.models.loading import load_dlm
    from codila.serve.schemas import ServeLimits
    from codila.serve.server import running_server

    model = CoDiLA(load_dlm(tiny_checkpoints / "dlm"))
    done = model.generate("def f():\n", length=8, decoder="left-to-right", leftmost=4)
    assert done.steps == 2 and done.commit_order == sorted(done.commit_order)
    with running_server(tiny_checkpoints, ServeLimits(max_tokens=16)) as url:
        body = {"model": "codila", "prompt": "def f():\n", "max_tokens": 8, "decoder": "left-to-right", "leftmost": 4}
        answer = httpx.post(f"{url}/completions", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        assert answer.json()["usage"]["steps"] == 2
        refused = httpx.post(f"{url}/completions", json={**body, "leftmost": "many"}, timeout=120)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "leftmost"
        listed = httpx.get(f"{url}/models", timeout=30).json()["data"][0]["decoders"]
        assert "left-to-right" in listed
