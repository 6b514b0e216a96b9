"""The code corpus: Python source files, split deterministically into train/validation/test by path hash.

Default source: the standard library of the interpreter running codila (test folders and site-packages
excluded, only files that parse). `--files DIR` replaces it with any directory of .py files.
"""

from __future__ import annotations

import ast
import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from codila.errors import CodilaError

SPLITS = ("train", "validation", "test")
SPLIT_PERCENT = {"train": range(0, 90), "validation": range(90, 95), "test": range(95, 100)}
_EXCLUDED_DIRS = {"site-packages", "__pycache__", "idle_test"}


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _excluded(rel: Path) -> bool:
    return any(part in _EXCLUDED_DIRS or part.startswith("test") for part in rel.parts[:-1])


def split_of(relative_path: str) -> str:
    """The split a file belongs to: a stable hash of its path relative to the corpus root."""
    bucket = int(hashlib.sha256(relative_path.encode()).hexdigest(), 16) % 100
    return next(name for name, percent in SPLIT_PERCENT.items() if bucket in percent)


@dataclass(frozen=True)
class SourceFile:
    relative_path: str
    text: str


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def load_files(root: str | Path | None = None, split: str = "train") -> list[SourceFile]:
    """The parseable .py files of `root` (default: the stdlib) in `split` ("all" for every file), sorted."""
    if split not in SPLITS + ("all",):
        raise CodilaError(f"unknown split {split!r}; choose one of {', '.join(SPLITS + ('all',))}")
    root = Path(root) if root is not None else stdlib_dir()
    if not root.is_dir():
        raise CodilaError(f"--files {root}: not a directory of .py files")
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if _excluded(rel) or (split != "all" and split_of(rel.as_posix()) != split):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if _parses(text):
            files.append(SourceFile(rel.as_posix(), text))
    if not files:
        raise CodilaError(f"no parseable .py files in {root} for split {split!r}")
    return files


def split_hash(files: list[SourceFile]) -> str:
    """A short fingerprint of which files (by path) and contents a run saw, for manifests."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_path.encode() + b"\0" + hashlib.sha256(f.text.encode()).digest())
    return digest.hexdigest()[:16]
