"""Whether a text is syntactically valid Python: `ast.parse` succeeds (the corpus filter and the syntax-valid score)."""

from __future__ import annotations

import ast
import gc
import warnings


def parses(code: str) -> bool:
    """True when `code` is syntactically valid Python (ast.parse succeeds).

    The garbage collector is paused while parsing: the tree's many new objects would trigger collections that
    find nothing to free (a sixth of a large file's parse time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are warnings, not errors
            ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    finally:
        if collecting:
            gc.enable()
    return True
