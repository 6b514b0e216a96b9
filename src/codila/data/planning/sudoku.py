"""Sudoku n x n (n = 4 or 9) with a given number of blanks.

    prompt  "1034...": the grid row by row, 0 = blank
    answer  "1234...": the full grid row by row

A solved grid is a shuffled base pattern (digits relabelled, rows within bands, bands, columns within stacks and
stacks permuted, maybe transposed); `blanks` random cells are then cleared. Any answer that fills the grid
validly and keeps the givens is right (a puzzle may have several solutions)."""

from __future__ import annotations

import math
import random
from functools import partial

from codila.data.planning.base import Example, PlanningSpec, round_up


def _shuffled(groups: int, size: int, rng: random.Random) -> list[int]:
    """Indices 0..groups*size-1 permuted within each group, the groups permuted too."""
    return [g * size + i for g in rng.sample(range(groups), groups) for i in rng.sample(range(size), size)]


def solved_grid(n: int, rng: random.Random) -> list[list[int]]:
    box = math.isqrt(n)
    digits = rng.sample(range(1, n + 1), n)
    rows, cols = _shuffled(box, box, rng), _shuffled(box, box, rng)
    grid = [[digits[(box * (r % box) + r // box + c) % n] for c in cols] for r in rows]
    return [list(row) for row in zip(*grid)] if rng.random() < 0.5 else grid


def sudoku(n: int, blanks: int, rng: random.Random) -> Example:
    grid = solved_grid(n, rng)
    cells = "".join(str(d) for row in grid for d in row)
    cleared = set(rng.sample(range(n * n), blanks))
    return Example("".join("0" if i in cleared else d for i, d in enumerate(cells)), cells)


def verify(prompt: str, answer: str) -> bool:
    """True when `answer` is a valid full grid that keeps every given digit of `prompt`."""
    n = math.isqrt(len(prompt))
    box = math.isqrt(n)
    if n * n != len(prompt) or box * box != n or len(answer) != len(prompt):
        return False
    if any(given != "0" and given != cell for given, cell in zip(prompt, answer)):
        return False
    digits = set("123456789"[:n])
    rows = [answer[r * n : (r + 1) * n] for r in range(n)]
    units = rows + ["".join(row[c] for row in rows) for c in range(n)]
    units += [
        "".join(rows[r][c] for r in range(br, br + box) for c in range(bc, bc + box))
        for br in range(0, n, box)
        for bc in range(0, n, box)
    ]
    return all(set(unit) == digits for unit in units)


def sudoku_spec(n: int, blanks: int) -> PlanningSpec:
    return PlanningSpec(
        f"sudoku{n}-b{blanks}",
        "sudoku",
        partial(sudoku, n, blanks),
        verify,
        prompt_length=n * n,
        answer_length=round_up(n * n),
        description=f"{n}x{n} Sudoku with {blanks} blanks",
        settings={"size": n, "blanks": blanks},
    )
