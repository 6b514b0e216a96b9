"""A property of the whole CLI: any bad value of any numeric option of any command is refused with exit 2 and one
line on stderr (no traceback), before any work starts. The options are read from the CLI itself, so a new
command or option is covered the day it is added; its bad values come from `BAD` below, written from what each option
means, independently of `codila.validate.RULES` (so a wrong rule is caught, not mirrored)."""

import contextlib
import io
import sys

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from codila.cli import app, main
from codila.validate import RULES

# the required arguments of each command, pointing nowhere real: a refused option must stop it before they matter
REQUIRED = {
    "train dlm": ["--out", "/nonexistent/run"],
    "train ar": ["--dlm", "/nonexistent/dlm", "--out", "/nonexistent/run"],
    "train block-scorer": ["--out", "/nonexistent/run"],
    "generate": ["x"],
    "infill": ["--prefix", "x"],
    "eval": ["code-infill"],
    "export": ["/nonexistent/a", "/nonexistent/b"],
}


def kind(option) -> type | None:
    """int or float for a numeric option (typer's own parameter classes), else None."""
    descriptor = getattr(option, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    return annotation if annotation in (int, float) and option.opts[0].startswith("--") else None


def numeric_options() -> list:
    found = []

    def walk(command, path: str) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}".strip())
            return
        found.extend((path, p) for p in command.params if kind(p) is not None)

    walk(typer.main.get_command(app), "")
    return found


OPTIONS = numeric_options()


def run_cli(args: list[str]) -> tuple[int, str, str]:
    err, out = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["codila", *args]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                main()
                code = 0
            except SystemExit as stop:
                code = stop.code
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


# What each numeric option must refuse, by meaning. Counts of things are >= 1; "0 = none/off" options >= 0; all below
# 2**31 (typos); probabilities in [0, 1]; top-p in (0, 1]; rates, thresholds, seconds finite and >= 0; lr > 0.
_TOO_BIG = str(2**31)
COUNT = ["0", "-1", _TOO_BIG, "1.5", "nan"]
COUNT_OR_ZERO = ["-1", _TOO_BIG, "0.5", "inf"]
PROBABILITY = ["-0.01", "1.01", "nan", "inf", "-inf"]
NON_NEGATIVE = ["-0.001", "nan", "inf", "-inf", "1e400"]
BAD: dict[str, list[str]] = {
    **{
        name: COUNT
        for name in (
            "accumulate",
            "batch_size",
            "batches",
            "block_size",
            "completion_length",
            "eval_every",
            "length",
            "limit",
            "mask_unit",
            "max_batch",
            "max_prompt_tokens",
            "max_tokens",
            "n",
            "repeats",
            "requests",
            "samples",
            "scope",
            "steps",
            "epochs",
            "threads",
            "tokens_per_step",
            "vocab_size",
        )
    },
    **{name: COUNT_OR_ZERO for name in ("harder", "hidden", "max_queued", "max_span", "semi_ar_block")},
    **{name: PROBABILITY for name in ("extra_share", "gap_fraction", "q", "threshold")},
    **{
        name: NON_NEGATIVE
        for name in (
            "idle_timeout",
            "max_wait",
            "read_timeout",
            "tau",
            "timeout",
            "verify_penalty",
            "weight_decay",
            "write_timeout",
        )
    },
    "temperature": [*NON_NEGATIVE, "100.5"],  # past 100 a draw is uniform noise
    "workers": ["0", "65", "-1", "2.5"],  # each concurrent program has its own uid, 64 per evaluation
    "top_p": ["0", "-0.5", "1.01", "nan"],
    "lr": ["0", "-1e-3", "nan", "inf"],
    "save_every": ["-1", "nan", "-inf"],  # inf: never save by time
    "seed": ["-1", str(2**63), "0.5"],
    "window": ["1", "0", "-5", _TOO_BIG],  # a window holds at least two tokens
    "port": ["0", "65536", "-80"],
    "eps": ["0", "1", "-0.1", "nan"],  # a timestep strictly inside (0, 1)
    "scale": ["0", "1.5", "-1", "nan"],  # a share of the paper's widths and layers
}


def test_every_numeric_option_has_a_rule_and_a_list_of_bad_values():
    assert len(OPTIONS) >= 40  # generate, infill, eval, demo, bench, report, train dlm/ar, analyze ...
    assert not [f"{command} {option.opts[0]}" for command, option in OPTIONS if option.name not in RULES]
    assert not [f"{command} {option.opts[0]}" for command, option in OPTIONS if option.name not in BAD]


def bad_values(option) -> st.SearchStrategy[str]:
    words = st.sampled_from(["abc", "", "1,5", "0x", "--", "nan?", "1e", "½"])
    return st.one_of(st.sampled_from(BAD[option.name]), words)


@st.composite
def bad_invocation(draw):
    command, option = draw(st.sampled_from(OPTIONS))
    value = draw(bad_values(option))
    return [*command.split(), *REQUIRED.get(command, []), f"{option.opts[0]}={value}"]


@settings(max_examples=300, deadline=None)
@given(bad_invocation())
def test_bad_values_of_every_option_exit_2_with_one_line(args):
    code, out, err = run_cli(args)
    assert code == 2, (args, code, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), (args, err)
    assert "Traceback" not in err + out and out == "", (args, out)


@pytest.mark.parametrize(
    "args",
    [
        ["train", "dlm", "--out", "/nonexistent/run", "--steps", "0"],
        ["generate", "x", "--temperature", "nan"],
        ["generate", "x", "--top-p", "0"],
        ["generate", "x", "--tau", "-1"],
        ["eval", "mbpp", "--limit", "0"],
        ["train", "ar", "--dlm", "/x", "--out", "/y", "--block-size", "0"],
    ],
)
def test_the_reported_cases_name_the_option(args):
    code, _, err = run_cli(args)
    assert code == 2 and err.startswith(f"error: {args[-2]} must be ")


def test_every_option_of_every_command_says_what_it_does():
    missing = []

    def walk(command, path: str) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}".strip())
            return
        missing.extend(
            f"{path} {p.opts[0]}" for p in command.params if p.param_type_name == "option" and not (p.help or "").strip()
        )

    walk(typer.main.get_command(app), "")
    assert missing == []
