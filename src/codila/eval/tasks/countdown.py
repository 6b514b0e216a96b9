"""Countdown (codila.data.planning.countdown; `--data` reads the shipped cd3/cd4 JSONL files): exact verification."""

from codila.eval.tasks.planning import PlanningTask

TASK = PlanningTask("countdown", "Countdown: equations reaching the target, each number once, verified exactly")
