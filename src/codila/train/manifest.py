"""What a checkpoint's manifest records about how it was made."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from codila.models.io import MANIFEST_FILE


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"


def base_manifest(**fields) -> dict:
    return {
        "command": "codila " + shlex.join(sys.argv[1:]),
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **fields,
    }


def read_manifest(checkpoint: str | Path) -> dict:
    """The manifest of a checkpoint directory ({} when it has none)."""
    path = Path(checkpoint) / MANIFEST_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def init_record(init: str | Path) -> dict:
    """What a manifest says about a warm start: the checkpoint it started from and how that was made."""
    previous = read_manifest(init)
    return {"path": str(init), **{key: previous.get(key) for key in ("command", "git_commit", "steps", "tokens_seen")}}
