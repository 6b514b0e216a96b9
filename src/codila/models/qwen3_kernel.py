"""The local AR's compiled block decoding (qwen3_kernel.c): built once per machine with the system's C
compiler, loaded with ctypes.

Why: at batch 1 a small AR's token costs ~80 tensor ops whose dispatch, not arithmetic, is most of its time on a CPU
(`codila bench` measures the AR's share of a step); one C call per block removes that. The library is built with
`cc -O3 -march=native` into the user's cache folder, keyed by the source and the CPU, so the build (about a second)
happens once. Without a compiler, or with CODILA_KERNEL=0, `load()` returns None and decoding uses the tensor ops
of qwen3_step.py (same math; outputs may differ in the last bits of the logits).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

SOURCE = Path(__file__).with_name("qwen3_kernel.c")
COMPILE_FLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno", "-shared", "-fPIC"]


def _cpu_identity() -> str:
    """What -march=native depends on: the CPU's model and feature flags (a shared home folder may span machines)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({line for line in lines if line.startswith(("model name", "flags"))}))
    except OSError:
        return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codila" / "kernels"


def _build(compiler: str) -> Path:
    """The compiled library for this source, compiler and CPU, built (atomically) if not there yet."""
    key = hashlib.sha256(SOURCE.read_bytes() + compiler.encode() + " ".join(COMPILE_FLAGS).encode()
                         + _cpu_identity().encode()).hexdigest()[:16]
    library = _cache_dir() / f"qwen3_kernel-{key}.so"
    if library.exists():
        return library
    library.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=library.parent) as scratch:
        built = Path(scratch) / library.name
        subprocess.run([compiler, *COMPILE_FLAGS, "-o", str(built), str(SOURCE), "-lm"], check=True, capture_output=True, text=True)
        built.replace(library)  # atomic: another process building the same library at once is harmless
    return library


@lru_cache(maxsize=1)
def load() -> ctypes.CDLL | None:
    """The kernel's library, or None (CODILA_KERNEL=0, no C compiler, or the build failed: a warning says why)."""
    if os.environ.get("CODILA_KERNEL", "1") == "0":
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        warnings.warn("no C compiler found: the local AR decodes with tensor ops (slower at small batches)", stacklevel=2)
        return None
    try:
        library = ctypes.CDLL(str(_build(compiler)))
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        warnings.warn(f"building the local AR's kernel failed, decoding with tensor ops instead: {detail}", stacklevel=2)
        return None
    pointer, number = ctypes.c_void_p, ctypes.c_float
    library.codila_qwen3_decode_block.argtypes = [pointer, number, pointer, pointer, pointer, pointer, pointer, pointer, pointer,
                                                  pointer, number, number, ctypes.c_int, pointer, pointer]
    library.codila_panel_width.argtypes = []
    for function in (library.codila_qwen3_decode_block, library.codila_panel_width):
        function.restype = ctypes.c_int
    return library
