"""Replace a checkpoint folder so that a complete checkpoint sits at its path at every instant, and find the last
complete one wherever an interrupted swap left it.

A checkpoint is complete when it holds codila.json (`save_checkpoint` writes it last). The new checkpoint is written
to `<name>.tmp`, then exchanged with `<name>` in one atomic step (Linux renameat2 RENAME_EXCHANGE), after which
`<name>.tmp` holds the old one and is removed. Where the exchange is not supported the swap takes two renames
(`<name>` -> `<name>.old`, `<name>.tmp` -> `<name>`); `recover_checkpoint` repairs a swap cut between them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

COMPLETE_MARK = "codila.json"
AT_FDCWD, RENAME_EXCHANGE = -100, 2


def complete(directory: Path) -> bool:
    return directory.is_dir() and (directory / COMPLETE_MARK).is_file()


def siblings(directory: Path) -> tuple[Path, Path]:
    """(the new checkpoint being written, the old one during a two-rename swap)."""
    return directory.with_name(directory.name + ".tmp"), directory.with_name(directory.name + ".old")


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


def swap_in(new: Path, directory: Path) -> None:
    """Put the complete checkpoint `new` at `directory`, removing the one it replaces."""
    if directory.exists() and exchange(new, directory):
        shutil.rmtree(new)  # now the old checkpoint
        return
    old = siblings(directory)[1]
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(new, directory)
    shutil.rmtree(old, ignore_errors=True)


def recover_checkpoint(directory: Path) -> None:
    """After an interrupted save: make `directory` the newest complete checkpoint among it, `.tmp` and `.old`,
    and remove the leftovers. Only for the process that writes `directory` (a reader must not race a writer)."""
    directory = Path(directory)
    new, old = siblings(directory)
    if not directory.exists():
        for candidate in (new, old):
            if complete(candidate):
                os.replace(candidate, directory)
                break
    if complete(directory):
        for leftover in (new, old):
            shutil.rmtree(leftover, ignore_errors=True)
