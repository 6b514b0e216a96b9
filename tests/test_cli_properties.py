"""A property of the whole CLI: any bad value of any numeric option of any command is refused with exit 2 and one
line on stderr (no traceback), before any work starts. The options are read from the CLI itself, so a new
command or option is covered the day it is added."""

import contextlib
import io
import math
import sys

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from codila.cli import app, main
from codila.validate import MAX_INT, RULES

# the required arguments of each command, pointing nowhere real: a refused option must stop it before they matter
REQUIRED = {
    "train dlm": ["--out", "/nonexistent/run"],
    "train ar": ["--dlm", "/nonexistent/dlm", "--out", "/nonexistent/run"],
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


def test_every_numeric_option_has_a_rule():
    assert len(OPTIONS) >= 40  # generate, infill, eval, demo, bench, report, train dlm/ar, analyze ...
    assert not [f"{command} {option.opts[0]}" for command, option in OPTIONS if option.name not in RULES]


def bad_values(option) -> st.SearchStrategy[str]:
    rule = RULES[option.name]
    words = st.sampled_from(["abc", "", "1,5", "0x", "--", "nan?", "1e", "½"])
    if kind(option) is int:
        low = min(v for v in range(-2, 3) if rule.ok(v))  # the smallest valid small integer
        too_small = st.integers(max_value=low - 1, min_value=-(10**30)).map(str)
        too_big = st.integers(min_value=2**63 if option.name == "seed" else MAX_INT + 1, max_value=10**30).map(str)
        return st.one_of(too_small, too_big, words, st.sampled_from(["1.5", "nan", "inf"]))
    invalid_floats = st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda v: math.isnan(v) or (math.isinf(v) and not rule.infinite_ok) or not rule.ok(v)
    )
    return st.one_of(
        invalid_floats.map(repr), words, st.sampled_from(["nan", "-inf", "NaN", "1e400"] if not rule.infinite_ok else ["nan"])
    )


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
