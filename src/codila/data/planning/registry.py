"""The only list of planning settings (`codila train planning --setting NAME`, `codila eval graph --setting NAME`)."""

from __future__ import annotations

from codila.data.planning import countdown, graph, sudoku
from codila.data.planning.base import PlanningSpec
from codila.errors import CodilaError

SETTINGS: dict[str, PlanningSpec] = {
    spec.name: spec
    for spec in (
        graph.path_star_spec(2, 2),  # the easiest: one lookup (grow the task from here with --init)
        graph.path_star_spec(2, 4),
        graph.path_star_spec(2, 7),  # MGDM's minimal task
        graph.path_star_spec(2, 4, "chars"),  # two tokens per label: the AR baseline learns its lookups sooner
        graph.path_star_spec(2, 7, "chars"),
        graph.path_star_spec(3, 5),
        graph.random_graph_spec(10, 15, 4),
        countdown.countdown_spec(3),
        countdown.countdown_spec(4),
        sudoku.sudoku_spec(4, 10),
        sudoku.sudoku_spec(9, 40),
    )
}

# per eval task: the setting its shipped models were trained on
DEFAULT_SETTING = {"graph": "pathstar-d2-l4", "countdown": "cd3", "sudoku": "sudoku4-b10"}


def get_setting(name: str) -> PlanningSpec:
    if name not in SETTINGS:
        raise CodilaError(f"unknown planning setting {name!r}; choose one of {', '.join(SETTINGS)}")
    return SETTINGS[name]
