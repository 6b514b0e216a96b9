"""What the package ships beside its code, found through `importlib.resources` (never a path outside the package):
the tiny trained models (`checkpoints/`) and the evaluation data with its licenses (`data/`)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from codila.errors import CodilaError

SHIPPED = Path(str(files(__name__) / "checkpoints"))  # the shipped tiny models, one directory each
DATA = Path(str(files(__name__) / "data"))  # evaluation data (HumanEval-Infilling, MBPP, Countdown), each with its LICENSE


def data_file(*parts: str) -> Path:
    """A shipped evaluation file, e.g. data_file("mbpp", "sanitized-mbpp.json")."""
    path = DATA.joinpath(*parts)
    if not path.is_file():
        raise CodilaError(f"evaluation data {path} is missing from the installed package: reinstall codila")
    return path
