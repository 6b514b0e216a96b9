"""The code corpus: Python source files, split deterministically into train/validation/test by path hash.

Default source: the standard library of the interpreter running codila (test folders and site-packages
excluded, only files that parse). `--files DIR` replaces it with any directory of .py files. Trainers may add
the source of installed packages (`--extra-packages`): more real code for the training split only, never
evaluated, with every file that shares most of its lines with a held-out file left out.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from codila.data.syntax import parses
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
        if parses(text):
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


def package_dir(name: str) -> Path:
    """The source directory of an installed package (e.g. "scipy"): a local path, nothing is fetched."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise CodilaError(f"--extra-packages: {name!r} is not an installed package here")
    return Path(list(spec.submodule_search_locations)[0])


def long_lines(text: str, min_length: int = 24) -> set[str]:
    return {line.strip() for line in text.splitlines() if len(line.strip()) >= min_length}


def extra_training_files(packages: list[str], held_out: list[SourceFile], max_overlap: float = 0.5) -> list[SourceFile]:
    """Every parseable file of the installed `packages` (paths prefixed by the package name), except files that
    share more than `max_overlap` of their long lines with a `held_out` file (vendored or copied code, which
    would leak evaluation data into training)."""
    held_out_lines = set().union(*(long_lines(f.text) for f in held_out)) if held_out else set()
    files = []
    for name in packages:
        for f in load_files(package_dir(name), "all"):
            lines = long_lines(f.text)
            if lines and len(lines & held_out_lines) > max_overlap * len(lines):
                continue
            files.append(SourceFile(f"{name}/{f.relative_path}", f.text))
    return files


def package_versions(packages: list[str]) -> dict[str, str]:
    """Installed versions of `packages`, for manifests (the code a model saw depends on them)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def training_corpus(
    root: str | Path | None, extra_packages: list[str] | None
) -> tuple[list[SourceFile], list[SourceFile], list[SourceFile], dict]:
    """(train files, extra files, validation files, the manifest's data record) of a training run: the train split
    of `root` (default: the stdlib), every file of `extra_packages`; validation is always `root`'s own split."""
    train, validation, extra = load_files(root, "train"), load_files(root, "validation"), []
    data = {"source": str(root or "python stdlib"), "split": "train", "files": len(train), "split_hash": split_hash(train)}
    if extra_packages:
        extra = extra_training_files(extra_packages, validation + load_files(root, "test"))
        data["extra_packages"] = {"versions": package_versions(extra_packages), "files": len(extra), "hash": split_hash(extra)}
    return train, extra, validation, data
