"""The `codila` command as a user runs it: a real subprocess, real tiny checkpoints."""

import subprocess
import sys

import pytest


def codila(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", "from codila.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_infill_and_generate_print_text_and_counts(tiny_checkpoints):
    ck = tiny_checkpoints
    out = codila("infill", "--prefix", "def f(x):\n", "--suffix", "\n    return y\n", "--length", 8,
                 "--dlm", ck / "dlm", "--ar", ck / "ar-b4")
    assert out.returncode == 0, out.stderr
    assert "8 tokens in 2 steps: 4.00 tokens/step, 2 DLM forwards, 8 AR steps" in out.stderr
    out = codila("generate", "import os\n", "--decoder", "dlm", "--k", 2, "--length", 8, "--dlm", ck / "dlm")
    assert out.returncode == 0, out.stderr
    assert "DLM forwards, 0 AR steps" in out.stderr


@pytest.mark.parametrize("args,message", [
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
    (["infill", "--prefix", "x", "--ar", "{ck}/ar-b4", "--choice", "best"], "unknown block choice 'best'"),
    (["demo", "--scope", 0, "--checkpoints", "{ck}"], "--scope must be an integer from 1"),
    (["bench", "--scope", 0, "--checkpoints", "{ck}"], "--scope must be an integer from 1"),
    (["bench", "--only", "B=99", "--checkpoints", "{ck}"], "no bench setting's label contains 'B=99'"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_checkpoints, args, message):
    args = [str(a).replace("{ck}", str(tiny_checkpoints)) for a in args]
    if "--dlm" not in args and args[0] not in ("demo", "bench"):
        args += ["--dlm", str(tiny_checkpoints / "dlm")]
    out = codila(*args)
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_ls_lists_the_registry():
    out = codila("ls")
    assert out.returncode == 0 and out.stdout.split()[0] == "dlm" and "codila" in out.stdout


def test_eval_report_and_analysis_commands(tiny_checkpoints, corpus_dir, tmp_path):
    ck, runs = tiny_checkpoints, tmp_path / "runs"
    out = codila("eval", "code-infill", "--decoder", "dlm", "--k", 2, "--limit", 2, "--checkpoints", ck, "--files", corpus_dir,
                 "--out", runs / "infill", "--json", tmp_path / "rows.jsonl")
    assert out.returncode == 0, out.stderr
    assert (runs / "infill" / "pareto.png").exists() and len((tmp_path / "rows.jsonl").read_text().splitlines()) == 1
    again = codila("eval", "code-infill", "--decoder", "dlm", "--checkpoints", ck, "--out", runs / "infill")
    assert again.returncode == 2 and "--resume" in again.stderr
    out = codila("report", "--runs", runs, "--out", tmp_path / "report.html")
    assert out.returncode == 0 and "(1 runs)" in out.stdout and "<img" in (tmp_path / "report.html").read_text()
    out = codila("analyze", "ar-loss", "--checkpoints", ck, "--ars", "ar-b2,ar-b4", "--files", corpus_dir, "--batches", 1,
                 "--out", runs / "loss")
    assert out.returncode == 0 and "| ar-b4 | 4 | soft | yes |" in out.stdout, out.stderr
    for args, message in ((["eval", "gsm8k"], "unknown task"), (["eval", "mbpp", "--sweep", "huge"], "unknown sweep"),
                          (["bench", "--batch-sizes", "0"], "batch sizes")):
        bad = codila(*args, "--checkpoints", ck)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
