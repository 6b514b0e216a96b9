"""Sudoku 4x4 and 9x9 (codila.data.planning.sudoku): exact verification of the filled grid."""

from codila.eval.tasks.planning import PlanningTask

TASK = PlanningTask("sudoku", "Sudoku: a valid full grid keeping the givens, verified exactly")
