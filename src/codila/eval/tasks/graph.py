"""Graph traversal (path-star and random-graph shortest paths, codila.data.planning.graph): exact verification."""

from codila.eval.tasks.base import planning_task

TASK = planning_task("graph", "graph traversal: a shortest path from start to goal, verified exactly")
