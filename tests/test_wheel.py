"""The package as a user installs it: a wheel built from this checkout, installed into a fresh virtual environment
(whose dependencies come from the running interpreter's site-packages through a .pth file: no network), then run from
an unrelated folder. Nothing may read the checkout or ../shared."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv with codila installed from its wheel."""
    base = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", base / "dist", ROOT],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((base / "dist").glob("codila-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("codila/assets/checkpoints/ar-b4/") for n in names) and "codila/assets/data/README.md" in names
    assert "codila/train/recipes/paper-ar.json" in names
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=300)
    site = Path(
        subprocess.run(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "outer-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch, transformers... of this interpreter
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            venv / "bin" / "python",
            "install",
            "--no-deps",
            "--ignore-installed",
            "-q",
            wheel,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    return venv / "bin"


def _run(bin_dir: Path, cwd: Path, *args) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # only what the venv installed
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=900
    )


def test_the_installed_package_runs_from_an_unrelated_folder(installed, tmp_path):
    where = _run(
        installed,
        tmp_path,
        installed / "python",
        "-c",
        "import codila, sys; print(codila.__file__); "
        "print(sorted(m for m in sys.modules if m.startswith(('torch', 'transformers'))))",
    )
    assert where.returncode == 0, where.stderr
    path, imported = where.stdout.splitlines()
    assert str(installed.parent) in path and imported == "[]"  # the wheel's copy; importing codila loads nothing heavy
    evaluated = _run(
        installed, tmp_path, installed / "codila", "eval", "mbpp", "--limit", 2, "--out", tmp_path / "eval", "--device", "cpu"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert (tmp_path / "eval" / "rows.jsonl").is_file()
    api = _run(
        installed,
        tmp_path,
        installed / "python",
        "-c",
        "from codila import CoDiLA; m = CoDiLA.from_pretrained(device='cpu'); "
        "out = m.generate(['def add(a, b):\\n', 'import os\\n'], length=8); "
        "print(len(out), all(sorted(o.commit_order) == list(range(o.tokens)) and o.steps >= 1 for o in out))",
    )
    assert api.returncode == 0, api.stderr
    assert api.stdout.strip() == "2 True"  # one Completion per prompt; every decoded token in the commit order once


@pytest.mark.slow
def test_the_installed_demo_runs_from_an_unrelated_folder(installed, tmp_path):
    demo = _run(installed, tmp_path, installed / "codila", "demo", "--n", 4)
    assert demo.returncode == 0, demo.stderr
    assert "CoDiLA" in demo.stdout
