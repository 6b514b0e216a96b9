"""Replace a checkpoint folder (or a file) so that a complete one sits at its path at every instant, find the last
complete checkpoint wherever an interrupted swap left it, and never touch a path codila did not create.

A checkpoint is complete when it holds codila.json (`save_checkpoint` writes it last). The new checkpoint is written
into a folder this save creates itself (`mkdtemp`: a fresh name no one else holds) beside `<name>`:
`.<name>.codila-new-XXXXXXXX/`, holding an ownership file `codila-owned.json` naming `<name>` and the checkpoint in
`checkpoint/`. That is then exchanged with `<name>` in one atomic step (Linux renameat2 RENAME_EXCHANGE), after
which the owned folder holds the old checkpoint and is removed. Where the exchange is not supported the swap takes
two renames (`<name>` into a second owned folder `.<name>.codila-old-XXXXXXXX/checkpoint`, then the new one to
`<name>`); `recover_checkpoint` repairs a swap cut between them. Only folders with the ownership file naming
`<name>` are ever promoted or removed: a user's `<name>.tmp` or `<name>.old` is nobody's business here.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

COMPLETE_MARK = "codila.json"
OWNED_MARK = "codila-owned.json"
AT_FDCWD, RENAME_EXCHANGE = -100, 2


def complete(directory: Path) -> bool:
    return directory.is_dir() and (directory / COMPLETE_MARK).is_file()


def reserve(directory: Path, kind: str) -> Path:
    """A fresh folder beside `directory` that this save owns ("new" or "old"); its `checkpoint` is the payload."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{directory.name}.codila-{kind}-", dir=directory.parent))
    try:
        (folder / OWNED_MARK).write_text(json.dumps({"for": directory.name, "kind": kind}) + "\n")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def owned(directory: Path, kind: str) -> list[Path]:
    """The folders beside `directory` that a save of `directory` reserved (with its ownership file), oldest first."""
    found = []
    if not directory.parent.is_dir():
        return found
    for path in directory.parent.glob(f".{glob_escape(directory.name)}.codila-{kind}-*"):
        try:
            mark = json.loads((path / OWNED_MARK).read_text())
        except (OSError, ValueError):
            continue
        if not path.is_symlink() and isinstance(mark, dict) and mark.get("for") == directory.name and mark.get("kind") == kind:
            found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths; False where the system cannot (then nothing happened)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_in(reserved: Path, directory: Path) -> None:
    """Put the complete checkpoint `reserved/checkpoint` (`reserved` from `reserve(directory, "new")`) at
    `directory`, removing the one it replaces and `reserved`."""
    new = reserved / "checkpoint"
    if directory.exists() and exchange(new, directory):
        shutil.rmtree(reserved)  # now holds the old checkpoint
        return
    old = None
    if directory.exists():
        old = reserve(directory, "old")
        os.replace(directory, old / "checkpoint")
    os.replace(new, directory)
    shutil.rmtree(reserved)
    if old is not None:
        shutil.rmtree(old)


def recover_checkpoint(directory: Path) -> None:
    """After an interrupted save: make `directory` the newest complete checkpoint among it and the folders its
    saves reserved, and remove those (and any unfinished one). Only for the process that writes `directory` (a reader must not race a
    writer). Nothing else beside `directory` is looked at."""
    directory = Path(directory)
    new, old = owned(directory, "new"), owned(directory, "old")
    if not directory.exists():
        for candidate in [*reversed(new), *reversed(old)]:
            if complete(candidate / "checkpoint"):
                os.replace(candidate / "checkpoint", directory)
                break
    for leftover in (*new, *old):  # those a complete checkpoint made obsolete, and unfinished ones
        if leftover.exists() and (complete(directory) or not complete(leftover / "checkpoint")):
            shutil.rmtree(leftover, ignore_errors=True)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(temporary)` into a file this call creates beside `path` (`.<name>.codila-tmp-XXXXXXXX`), then rename it
    over `path`; on any failure the temporary file is removed and `path` is untouched."""
    path = Path(path)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.codila-tmp-", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_file_leftovers(path: Path) -> None:
    """Temporary files `write_atomically(path, ...)` left behind when its process was killed."""
    for leftover in Path(path).parent.glob(f".{glob_escape(Path(path).name)}.codila-tmp-*"):
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink(missing_ok=True)
