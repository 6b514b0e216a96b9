"""Sudoku 4x4 and 9x9 (codila.data.planning.sudoku): exact verification of the filled grid."""

from codila.eval.tasks.base import planning_task

TASK = planning_task("sudoku", "Sudoku: a valid full grid keeping the givens, verified exactly")
