"""The `codila` command as a user runs it: a real subprocess, real tiny checkpoints."""

import json
import subprocess
import sys

import pytest


def codila(*args, cwd=None, timeout=300):
    """`codila ARGS` as a user runs it, in a subprocess (arguments turned into strings)."""
    return subprocess.run(
        [sys.executable, "-c", "from codila.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def test_infill_and_generate_print_text_and_counts(tiny_checkpoints):
    ck = tiny_checkpoints
    out = codila(
        "infill",
        "--prefix",
        "def f(x):\n",
        "--suffix",
        "\n    return y\n",
        "--length",
        8,
        "--dlm",
        ck / "dlm",
        "--ar",
        ck / "ar-b4",
    )
    assert out.returncode == 0, out.stderr
    assert "8 tokens in 2 steps: 4.00 tokens/step, 2 DLM forwards, 8 AR steps" in out.stderr
    out = codila("generate", "import os\n", "--decoder", "dlm", "--k", 2, "--length", 8, "--dlm", ck / "dlm")
    assert out.returncode == 0, out.stderr
    assert "DLM forwards, 0 AR steps" in out.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["infill", "--prefix", "x", "--length", 6, "--ar", "{ck}/ar-b4"], "not a multiple of the block size 4"),
        (["infill", "--prefix", "x", "--length", 8, "--ar", "{ck}/nothing"], "does not exist"),
        (["generate", "", "--decoder", "dlm"], "prompt is empty"),
        (["generate", "x" * 400, "--decoder", "dlm"], "exceeds"),
        (["generate", "x", "--decoder", "beam"], "unknown decoder"),
        (["generate", "x", "--decoder", "dlm", "--mode", "static"], "takes no option --mode"),
        (["generate", "x", "--ar", "{ck}/dlm"], "'ar' checkpoint is needed"),
        (["generate", "x", "--dlm", "{ck}/missing", "--decoder", "dlm"], "does not exist"),
        (["infill", "--prefix-file", "{ck}/none.py", "--decoder", "dlm"], "no such file"),
        (["generate", "x", "--foo", "1"], "No such option: --foo"),
        (["infill", "--prefix", "x", "--ar", "{ck}/ar-b4", "--conditioning", "top9"], "unknown conditioning"),
        (["train", "ar", "--out", "{ck}/never", "--gap-fraction", "1.5"], "--gap-fraction must be in [0, 1]"),
        (
            ["infill", "--prefix", "x", "--ar", "{ck}/ar-b4", "--choice", "best"],
            "--choice must be one of ar-entropy, dlm-confidence, learned, learned-frontier, got 'best'",
        ),
        (["demo", "--scope", 0, "--checkpoints", "{ck}"], "--scope must be an integer from 1"),
        (["bench", "--scope", 0, "--checkpoints", "{ck}"], "--scope must be an integer from 1"),
        (["bench", "--only", "B=99", "--checkpoints", "{ck}"], "no bench setting's label contains 'B=99'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_checkpoints, args, message):
    args = [str(a).replace("{ck}", str(tiny_checkpoints)) for a in args]
    if "--dlm" not in args and args[0] not in ("demo", "bench"):
        args += ["--dlm", str(tiny_checkpoints / "dlm")]
    out = codila(*args)
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_dlm_and_an_ar_with_different_tokenizers_are_refused(tiny_checkpoints):
    """The shipped DLM (a 4096-token vocabulary) and the tiny test AR (400 tokens): two real checkpoints."""
    from codila.assets import SHIPPED

    out = codila("infill", "--prefix", "x = ", "--length", 8, "--dlm", SHIPPED / "dlm", "--ar", tiny_checkpoints / "ar-b4")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "tokenizers disagree" in out.stderr


def test_ls_lists_the_registry():
    out = codila("ls")
    assert out.returncode == 0 and out.stdout.split()[0] == "dlm" and "codila" in out.stdout


def test_eval_report_and_analysis_commands(tiny_checkpoints, corpus_dir, tmp_path):
    ck, runs = tiny_checkpoints, tmp_path / "runs"
    out = codila(
        "eval",
        "code-infill",
        "--decoder",
        "dlm",
        "--k",
        2,
        "--limit",
        2,
        "--checkpoints",
        ck,
        "--files",
        corpus_dir,
        "--out",
        runs / "infill",
        "--json",
        tmp_path / "rows.jsonl",
    )
    assert out.returncode == 0, out.stderr
    labels = [json.loads(line)["label"] for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert labels == ["floor: empty", "floor: newlines", "DLM K=2"] and (runs / "infill" / "table.md").exists()
    again = codila("eval", "code-infill", "--decoder", "dlm", "--checkpoints", ck, "--out", runs / "infill")
    assert again.returncode == 2 and "--resume" in again.stderr
    out = codila("report", "--runs", runs, "--out", tmp_path / "report.html")
    assert out.returncode == 0 and "(1 runs)" in out.stdout and "DLM K=2" in (tmp_path / "report.html").read_text()
    out = codila(
        "analyze",
        "ar-loss",
        "--checkpoints",
        ck,
        "--ars",
        "ar-b2,ar-b4",
        "--files",
        corpus_dir,
        "--batches",
        1,
        "--out",
        runs / "loss",
    )
    assert out.returncode == 0 and "| ar-b4 | 4 | soft | yes |" in out.stdout, out.stderr
    for args, message in (
        (["eval", "gsm8k"], "unknown task"),
        (["eval", "mbpp", "--sweep", "huge"], "unknown sweep"),
        (["bench", "--batch-sizes", "0"], "batch sizes"),
    ):
        bad = codila(*args, "--checkpoints", ck)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_the_cli_loads_without_torch_so_help_answers_fast():
    """`codila --help` must not pay torch's and transformers' import time (seconds): the decoders' configs, which the
    options are generated from, load them lazily."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, codila.cli; print('torch._C' in sys.modules, 'transformers' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_version_stdin_jsonl_and_help_defaults(tiny_checkpoints, tmp_path):
    assert codila("--version").stdout.startswith("codila ")
    help_text = " ".join(codila("generate", "--help").stdout.replace("│", " ").split())  # rich wraps and boxes the help
    assert "(default: codila 1)" in help_text  # the decoder's validated scope, shown
    dlm = tiny_checkpoints / "dlm"
    piped = subprocess.run(
        [
            sys.executable,
            "-c",
            "from codila.cli import main; main()",
            "generate",
            "-",
            "--decoder",
            "dlm",
            "--temperature",
            "1.0",
            "--length",
            "8",
            "--dlm",
            str(dlm),
            "--seed",
            "1",
        ],
        input="import os\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0, piped.stderr
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "def f():\\n", "id": "a"}\n{"prompt": "import os\\n", "id": "b"}\n')
    out = codila(
        "generate",
        "--input",
        prompts,
        "--output",
        tmp_path / "out.jsonl",
        "--decoder",
        "dlm",
        "--temperature",
        1.0,
        "--length",
        8,
        "--dlm",
        dlm,
        "--batch-size",
        2,
    )
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in results] == ["a", "b"] and all(r["steps"] == 8 for r in results)
    assert results[1]["text"] == piped.stdout.rstrip("\n")  # input i decodes with seed + i, in a batch as alone
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x"}\n')
    out = codila("generate", "--input", bad, "--decoder", "dlm", "--dlm", dlm)
    assert out.returncode == 2 and 'bad.jsonl:1: expected an object with a "prompt" string' in out.stderr
